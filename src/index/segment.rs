//! A segment: entries sorted by id, an R-tree over their projected positions, and per-ward lists.

use super::Vocabulary;
use crate::model::Status;
use crate::projection::LocalProjection;
use crate::store::ReportSummary;
use crate::wards::{WardIx, WardSet};
use rstar::RTree;
use rstar::primitives::GeomWithData;

/// Marks "no value" in the compact integer fields of an [`Entry`].
pub const NONE_U16: u16 = u16::MAX;
/// Marks "no time" in the seconds fields of an [`Entry`].
pub const NO_TIME: i64 = i64::MAX;

/// What the index keeps of one report: 64 bytes, so a million reports fit in ~64 MB.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Entry {
    pub id: i64,
    pub lon: f64,
    pub lat: f64,
    /// Unix seconds, UTC.
    pub created_s: i64,
    pub due_s: i64,
    pub resolved_s: i64,
    pub ward: WardIx,
    pub category: u16,
    pub agency: u16,
    pub status: Status,
    /// Imported with a point outside the city's bounds (fits in the padding: still 64 bytes).
    pub outside_bounds: bool,
}

impl Entry {
    pub(super) fn from_summary(
        s: &ReportSummary,
        wards: &WardSet,
        categories: &mut Vocabulary,
        agencies: &mut Vocabulary,
    ) -> Self {
        Self {
            id: s.id,
            lon: s.lon,
            lat: s.lat,
            created_s: s.created_at.timestamp(),
            due_s: s.due_at.map_or(NO_TIME, |t| t.timestamp()),
            resolved_s: s.resolved_at.map_or(NO_TIME, |t| t.timestamp()),
            ward: s
                .ward
                .as_deref()
                .and_then(|c| wards.index_of(c))
                .unwrap_or(NONE_U16),
            category: categories.intern(&s.category),
            agency: s.agency.as_deref().map_or(NONE_U16, |a| agencies.intern(a)),
            status: s.status,
            outside_bounds: s.outside_bounds,
        }
    }

    pub fn ward(&self) -> Option<WardIx> {
        (self.ward != NONE_U16).then_some(self.ward)
    }

    /// Open and past its due time at `now_s` (Unix seconds).
    pub fn is_overdue_at(&self, now_s: i64) -> bool {
        self.status.is_open() && self.due_s != NO_TIME && self.due_s < now_s
    }
}

pub(super) type Point = GeomWithData<[f64; 2], u32>;

#[derive(Debug)]
pub(super) struct Segment {
    pub entries: Vec<Entry>,
    /// Positions in `entries`, keyed by projected metres.
    pub tree: RTree<Point>,
    /// `by_ward[w]` = positions of ward `w`'s entries, ascending; the last list holds "no ward".
    pub by_ward: Vec<Vec<u32>>,
}

impl Segment {
    pub fn new(mut entries: Vec<Entry>, projection: &LocalProjection, ward_count: usize) -> Self {
        entries.sort_unstable_by_key(|e| e.id);
        let points = entries
            .iter()
            .enumerate()
            .map(|(i, e)| GeomWithData::new(projection.to_metres(e.lon, e.lat), i as u32))
            .collect();
        let mut by_ward = vec![Vec::new(); ward_count + 1];
        for (i, e) in entries.iter().enumerate() {
            let slot = e.ward().map_or(ward_count, usize::from).min(ward_count);
            by_ward[slot].push(i as u32);
        }
        Self {
            entries,
            tree: RTree::bulk_load(points),
            by_ward,
        }
    }

    pub fn find(&self, id: i64) -> Option<&Entry> {
        self.entries
            .binary_search_by_key(&id, |e| e.id)
            .ok()
            .map(|i| &self.entries[i])
    }
}
