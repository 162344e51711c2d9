//! Reading a snapshot: filtered pages, nearest reports, counts per ward.

use super::segment::{Entry, NONE_U16, Segment};
use super::{Snapshot, contains};
use crate::model::{Bbox4326, Status};
use crate::wards::WardIx;
use rstar::AABB;
use std::cmp::Reverse;

/// Which reports a listing wants. `None` fields do not filter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportFilter {
    pub bbox: Option<Bbox4326>,
    /// `Some(None)` asks for reports outside every ward.
    pub ward: Option<Option<WardIx>>,
    pub category: Option<u16>,
    pub status: Option<Status>,
    /// Created at or after, Unix seconds.
    pub from_s: Option<i64>,
    /// Created before, Unix seconds.
    pub to_s: Option<i64>,
    /// Only reports flagged (or not) as outside the city's bounds.
    pub outside_bounds: Option<bool>,
}

impl ReportFilter {
    fn accepts(&self, e: &Entry) -> bool {
        self.category.is_none_or(|c| e.category == c)
            && self.status.is_none_or(|s| e.status == s)
            && self.from_s.is_none_or(|t| e.created_s >= t)
            && self.to_s.is_none_or(|t| e.created_s < t)
            && self.ward.is_none_or(|w| e.ward() == w)
            && self.bbox.is_none_or(|b| b.contains(e.lon, e.lat))
            && self.outside_bounds.is_none_or(|f| e.outside_bounds == f)
    }
}

/// Report counts of one ward.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WardCounts {
    pub total: u64,
    pub open: u64,
    pub overdue: u64,
}

impl Segment {
    /// Matching entries with id < `before`, newest id first.
    fn matching_desc<'a>(
        &'a self,
        snapshot: &'a Snapshot,
        filter: &'a ReportFilter,
        before: i64,
    ) -> Box<dyn Iterator<Item = &'a Entry> + 'a> {
        let end = self.entries.partition_point(|e| e.id < before);
        if let Some(ward) = filter.ward {
            let list = &self.by_ward[ward
                .map_or(self.by_ward.len() - 1, usize::from)
                .min(self.by_ward.len() - 1)];
            let cut = list.partition_point(|&p| (p as usize) < end);
            Box::new(
                list[..cut]
                    .iter()
                    .rev()
                    .map(|&p| &self.entries[p as usize])
                    .filter(|e| filter.accepts(e)),
            )
        } else if let Some(b) = filter.bbox {
            let lo = snapshot.projection.to_metres(b.min_lon, b.min_lat);
            let hi = snapshot.projection.to_metres(b.max_lon, b.max_lat);
            let mut hits: Vec<u32> = self
                .tree
                .locate_in_envelope(&AABB::from_corners(lo, hi))
                .map(|p| p.data)
                .filter(|&p| (p as usize) < end)
                .collect();
            hits.sort_unstable_by_key(|&p| Reverse(p));
            Box::new(
                hits.into_iter()
                    .map(|p| &self.entries[p as usize])
                    .filter(|e| filter.accepts(e)),
            )
        } else {
            Box::new(
                self.entries[..end]
                    .iter()
                    .rev()
                    .filter(|e| filter.accepts(e)),
            )
        }
    }
}

impl Snapshot {
    /// Up to `limit` matching report ids, newest id first, all below `before` (a cursor: the last
    /// id of the previous page). Also returns the cursor for the next page, if there may be one.
    pub fn page(
        &self,
        filter: &ReportFilter,
        before: Option<i64>,
        limit: usize,
    ) -> (Vec<i64>, Option<i64>) {
        let before = before.unwrap_or(i64::MAX);
        let recent = &self.recent.entries;
        let mut a = self.recent.matching_desc(self, filter, before).peekable();
        let mut b = self
            .base
            .matching_desc(self, filter, before)
            .filter(|e| !contains(recent, e.id))
            .peekable();
        let mut ids = Vec::with_capacity(limit.min(10_000));
        while ids.len() < limit {
            let next = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) if x.id > y.id => a.next(),
                (Some(_), None) => a.next(),
                (_, Some(_)) => b.next(),
                (None, None) => None,
            };
            match next {
                Some(e) => ids.push(e.id),
                None => break,
            }
        }
        let more = a.peek().is_some() || b.peek().is_some();
        let cursor = if more { ids.last().copied() } else { None };
        (ids, cursor)
    }

    /// Reports within `radius_m` metres of the point, nearest first, with their distance in metres
    /// (in the city's local projection). `category` narrows the search.
    pub fn nearby(
        &self,
        lon: f64,
        lat: f64,
        radius_m: f64,
        category: Option<u16>,
        limit: usize,
    ) -> Vec<(i64, f64)> {
        let centre = self.projection.to_metres(lon, lat);
        let recent = &self.recent.entries;
        let mut found: Vec<(i64, f64)> = Vec::new();
        for (segment, is_base) in [(&self.recent, false), (&self.base, true)] {
            let near = segment
                .tree
                .nearest_neighbor_iter_with_distance_2(&centre)
                .take_while(|(_, d2)| *d2 <= radius_m * radius_m)
                .map(|(p, d2)| (&segment.entries[p.data as usize], d2.sqrt()))
                .filter(|(e, _)| category.is_none_or(|c| e.category == c))
                .filter(|(e, _)| !is_base || !contains(recent, e.id))
                .take(limit)
                .map(|(e, d)| (e.id, d));
            found.extend(near);
        }
        found.sort_by(|x, y| x.1.total_cmp(&y.1).then(x.0.cmp(&y.0)));
        found.truncate(limit);
        found
    }

    /// Counts per ward (index = ward index), plus a last slot for reports outside every ward.
    pub fn ward_counts(&self, now_s: i64) -> Vec<WardCounts> {
        let slots = self.wards.len() + 1;
        let mut counts = vec![WardCounts::default(); slots];
        for e in self.entries() {
            let slot = if e.ward == NONE_U16 {
                slots - 1
            } else {
                (e.ward as usize).min(slots - 1)
            };
            let c = &mut counts[slot];
            c.total += 1;
            c.open += u64::from(e.status.is_open());
            c.overdue += u64::from(e.is_overdue_at(now_s));
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::projection::LocalProjection;
    use crate::store::ReportSummary;
    use crate::wards::WardSet;
    use chrono::{TimeZone, Utc};
    use std::sync::Arc;

    fn summary(id: i64, lon: f64, category: &str) -> ReportSummary {
        ReportSummary {
            id,
            lon,
            lat: 16.46,
            ward: None,
            category: category.into(),
            agency: None,
            status: Status::Received,
            created_at: Utc
                .timestamp_opt(1_700_000_000 + id, 0)
                .single()
                .expect("valid"),
            due_at: None,
            resolved_at: None,
            outside_bounds: false,
        }
    }

    fn snapshot(n: i64) -> Snapshot {
        let rows = (1..=n)
            .map(|i| {
                summary(
                    i,
                    107.5 + i as f64 * 1e-4,
                    if i % 2 == 0 { "a" } else { "b" },
                )
            })
            .collect();
        Snapshot::build(
            Arc::new(WardSet::empty()),
            LocalProjection::new(107.55, 16.46),
            rows,
        )
    }

    #[test]
    fn pages_walk_every_match_once_newest_first() {
        let mut s = snapshot(50);
        // Updates land in the recent segment and hide their base copy.
        let mut moved = summary(10, 107.6, "a");
        moved.status = Status::Resolved;
        s = s.with(&[moved, summary(51, 107.5, "a")]);
        let filter = ReportFilter {
            category: s.category_code("a"),
            ..Default::default()
        };
        let (mut seen, mut cursor) = (Vec::new(), None);
        loop {
            let (ids, next) = s.page(&filter, cursor, 7);
            seen.extend(ids);
            if next.is_none() {
                break;
            }
            cursor = next;
        }
        let expected: Vec<i64> = (1..=51).rev().filter(|i| i % 2 == 0 || *i == 51).collect();
        assert_eq!(seen, expected);
        assert_eq!(s.len(), 51);
        assert_eq!(s.get(10).map(|e| e.status), Some(Status::Resolved));
    }

    #[test]
    fn nearby_is_ordered_by_distance_within_radius() {
        let s = snapshot(20);
        let found = s.nearby(107.5 + 5.0 * 1e-4, 16.46, 25.0, None, 10);
        let ids: Vec<i64> = found.iter().map(|f| f.0).collect();
        // Neighbours are ~10.7 m apart along the parallel.
        assert_eq!(ids[0], 5);
        assert_eq!(ids.len(), 5);
        assert!(found.windows(2).all(|w| w[0].1 <= w[1].1));
        assert!((found[1].1 - 10.67).abs() < 0.05, "{}", found[1].1);
    }
}
