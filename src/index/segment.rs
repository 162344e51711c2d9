//! A segment: entries in list order (newest last), an R-tree over their projected positions,
//! per-ward lists, and an id look-up.

use super::Vocabulary;
use crate::model::{ReportSummary, Status, open_overdue_at, overdue_at};
use crate::projection::LocalProjection;
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
    /// Unix milliseconds, UTC: lists are ordered by it, and same-second reports keep their order.
    pub created_ms: i64,
    /// Unix seconds, UTC, or [`NO_TIME`].
    pub due_s: i64,
    /// Unix seconds, UTC, or [`NO_TIME`].
    pub resolved_s: i64,
    pub ward: WardIx,
    pub category: u16,
    pub agency: u16,
    pub status: Status,
    /// Imported with a point outside the city's bounds (fits in the padding: still 64 bytes).
    pub outside_bounds: bool,
}

/// Where an entry stands in list order: `created_at`, then id. Lists run from the greatest key
/// down ("newest first").
pub type OrderKey = (i64, i64);

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
            created_ms: s.created_at.timestamp_millis(),
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

    pub fn key(&self) -> OrderKey {
        (self.created_ms, self.id)
    }

    fn time(s: i64) -> Option<i64> {
        (s != NO_TIME).then_some(s)
    }

    /// Overdue at `now_s` (Unix seconds), by the model's one definition.
    pub fn is_overdue_at(&self, now_s: i64) -> bool {
        overdue_at(
            self.status,
            Self::time(self.due_s),
            Self::time(self.resolved_s),
            now_s,
        )
    }

    /// Overdue and still open at `now_s`.
    pub fn is_open_overdue_at(&self, now_s: i64) -> bool {
        open_overdue_at(self.status, Self::time(self.due_s), now_s)
    }
}

pub(super) type Point = GeomWithData<[f64; 2], u32>;

#[derive(Debug)]
pub(super) struct Segment {
    /// Sorted by [`Entry::key`], ascending; pages walk it backwards.
    pub entries: Vec<Entry>,
    /// Positions in `entries`, keyed by projected metres.
    pub tree: RTree<Point>,
    /// `by_ward[w]` = positions of ward `w`'s entries, ascending; the last list holds "no ward".
    pub by_ward: Vec<Vec<u32>>,
    /// Positions in `entries`, sorted by id, for look-ups by id.
    by_id: Vec<u32>,
}

impl Segment {
    pub fn new(mut entries: Vec<Entry>, projection: &LocalProjection, ward_count: usize) -> Self {
        entries.sort_unstable_by_key(Entry::key);
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
        // Sorting (id, position) pairs keeps the sort in one contiguous array; sorting positions
        // by an id looked up in `entries` would jump around memory for every comparison.
        let mut pairs: Vec<(i64, u32)> = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.id, i as u32))
            .collect();
        pairs.sort_unstable();
        let by_id = pairs.into_iter().map(|(_, p)| p).collect();
        Self {
            entries,
            tree: RTree::bulk_load(points),
            by_ward,
            by_id,
        }
    }

    pub fn find(&self, id: i64) -> Option<&Entry> {
        self.by_id
            .binary_search_by_key(&id, |&p| self.entries[p as usize].id)
            .ok()
            .map(|i| &self.entries[self.by_id[i] as usize])
    }

    pub fn contains(&self, id: i64) -> bool {
        self.find(id).is_some()
    }
}
