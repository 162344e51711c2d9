//! Reading a snapshot: filtered pages, nearest reports, counts per ward.

use super::Snapshot;
use super::segment::{Entry, NONE_U16, OrderKey, Segment};
use crate::model::{Bbox4326, InvalidValue, Status};
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
            && self
                .from_s
                .is_none_or(|t| e.created_ms >= t.saturating_mul(1000))
            && self
                .to_s
                .is_none_or(|t| e.created_ms < t.saturating_mul(1000))
            && self.ward.is_none_or(|w| e.ward() == w)
            && self.bbox.is_none_or(|b| b.contains(e.lon, e.lat))
            && self.outside_bounds.is_none_or(|f| e.outside_bounds == f)
    }
}

/// Report counts of one ward. `overdue` counts every overdue report (open or resolved late),
/// `open_overdue` the overdue ones still open; both by [`crate::model::overdue_at`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WardCounts {
    pub total: u64,
    pub open: u64,
    pub overdue: u64,
    pub open_overdue: u64,
}

/// Where the next page of a list starts: just after the last report of the previous page in list
/// order (`created_at` descending, then id descending), so pages stay right while reports are
/// added. Clients see it as an opaque token ([`Cursor::token`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    created_ms: i64,
    id: i64,
}

impl Cursor {
    /// 32 hex digits: the creation time (Unix ms) and the id, each as 64 bits.
    pub fn token(&self) -> String {
        format!("{:016x}{:016x}", self.created_ms as u64, self.id as u64)
    }

    /// Reads a token made by [`Cursor::token`]; anything else is refused, naming `cursor`.
    pub fn parse(token: &str) -> Result<Self, InvalidValue> {
        let half = |s: &str| u64::from_str_radix(s, 16).ok().map(|v| v as i64);
        let parsed = (token.len() == 32 && token.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| half(&token[..16]).zip(half(&token[16..])))
            .flatten()
            .filter(|&(_, id)| id > 0);
        parsed
            .map(|(created_ms, id)| Self { created_ms, id })
            .ok_or_else(|| {
                InvalidValue::new(
                    "cursor",
                    format!(
                        "{token:?} is not a cursor this service handed out; use the `next_cursor` \
                         of the previous page, or leave it out for the first page"
                    ),
                )
            })
    }

    fn key(self) -> OrderKey {
        (self.created_ms, self.id)
    }
}

impl Segment {
    /// Matching entries whose key is below `before`, in list order (greatest key first).
    fn matching_desc<'a>(
        &'a self,
        snapshot: &'a Snapshot,
        filter: &'a ReportFilter,
        before: OrderKey,
    ) -> Box<dyn Iterator<Item = &'a Entry> + 'a> {
        let end = self.entries.partition_point(|e| e.key() < before);
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
    /// Up to `limit` matching report ids in list order — newest `created_at` first, then highest
    /// id — all after `after` (the cursor of the previous page). Also returns the cursor for the
    /// next page, if there may be one.
    pub fn page(
        &self,
        filter: &ReportFilter,
        after: Option<Cursor>,
        limit: usize,
    ) -> (Vec<i64>, Option<Cursor>) {
        let before = after.map_or((i64::MAX, i64::MAX), Cursor::key);
        let mut a = self.recent.matching_desc(self, filter, before).peekable();
        let mut b = self
            .base
            .matching_desc(self, filter, before)
            .filter(|e| !self.recent.contains(e.id))
            .peekable();
        let mut page: Vec<&Entry> = Vec::with_capacity(limit.min(10_000));
        while page.len() < limit {
            let next = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) if x.key() > y.key() => a.next(),
                (Some(_), None) => a.next(),
                (_, Some(_)) => b.next(),
                (None, None) => None,
            };
            match next {
                Some(e) => page.push(e),
                None => break,
            }
        }
        let more = a.peek().is_some() || b.peek().is_some();
        let cursor = page.last().filter(|_| more).map(|e| Cursor {
            created_ms: e.created_ms,
            id: e.id,
        });
        (page.iter().map(|e| e.id).collect(), cursor)
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
        let mut found: Vec<(i64, f64)> = Vec::new();
        for (segment, is_base) in [(&self.recent, false), (&self.base, true)] {
            let near = segment
                .tree
                .nearest_neighbor_iter_with_distance_2(&centre)
                .take_while(|(_, d2)| *d2 <= radius_m * radius_m)
                .map(|(p, d2)| (&segment.entries[p.data as usize], d2.sqrt()))
                .filter(|(e, _)| category.is_none_or(|c| e.category == c))
                .filter(|(e, _)| !is_base || !self.recent.contains(e.id))
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
            c.open_overdue += u64::from(e.is_open_overdue_at(now_s));
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ReportSummary;
    use crate::projection::LocalProjection;
    use crate::wards::WardSet;
    use chrono::{TimeZone, Utc};
    use std::sync::Arc;

    /// Report `id`, created `created_ms` after 2023-11-14T22:13:20Z.
    fn summary(id: i64, lon: f64, category: &str, created_ms: i64) -> ReportSummary {
        ReportSummary {
            id,
            lon,
            lat: 16.46,
            ward: None,
            category: category.into(),
            agency: None,
            status: Status::Received,
            created_at: Utc
                .timestamp_millis_opt(1_700_000_000_000 + created_ms)
                .single()
                .expect("valid"),
            due_at: None,
            resolved_at: None,
            outside_bounds: false,
        }
    }

    /// Ids in time order, one second apart.
    fn snapshot(n: i64) -> Snapshot {
        let rows = (1..=n)
            .map(|i| {
                summary(
                    i,
                    107.5 + i as f64 * 1e-4,
                    if i % 2 == 0 { "a" } else { "b" },
                    i * 1000,
                )
            })
            .collect();
        Snapshot::build(
            Arc::new(WardSet::empty()),
            LocalProjection::new(107.55, 16.46),
            rows,
            1,
        )
    }

    fn walk(s: &Snapshot, filter: &ReportFilter, limit: usize) -> Vec<i64> {
        let (mut seen, mut cursor) = (Vec::new(), None);
        loop {
            let (ids, next) = s.page(filter, cursor, limit);
            seen.extend(ids);
            match next {
                Some(c) => cursor = Some(Cursor::parse(&c.token()).expect("own token")),
                None => return seen,
            }
        }
    }

    #[test]
    fn pages_walk_every_match_once_newest_first() {
        let mut s = snapshot(50);
        // Updates land in the recent segment and hide their base copy.
        let mut moved = summary(10, 107.6, "a", 10_000);
        moved.status = Status::Resolved;
        s = s.with(&[moved, summary(51, 107.5, "a", 51_000)], 2);
        let filter = ReportFilter {
            category: s.category_code("a"),
            ..Default::default()
        };
        let expected: Vec<i64> = (1..=51).rev().filter(|i| i % 2 == 0 || *i == 51).collect();
        assert_eq!(walk(&s, &filter, 7), expected);
        assert_eq!(s.len(), 51);
        assert_eq!(s.version, 2);
        assert_eq!(s.get(10).map(|e| e.status), Some(Status::Resolved));
    }

    #[test]
    fn pages_follow_creation_time_not_id() {
        // Ids against time: id 1 is the newest; ids 3 and 4 share a millisecond (id breaks the
        // tie, highest first); id 6 arrives later, in the recent segment, but is the oldest.
        let rows = vec![
            summary(1, 107.50, "a", 90_000),
            summary(2, 107.51, "a", 10_000),
            summary(3, 107.52, "a", 50_000),
            summary(4, 107.53, "a", 50_000),
            summary(5, 107.54, "a", 50_001),
        ];
        let s = Snapshot::build(
            Arc::new(WardSet::empty()),
            LocalProjection::new(107.55, 16.46),
            rows,
            1,
        )
        .with(
            &[summary(6, 107.55, "a", 1), summary(7, 107.56, "a", 50_000)],
            2,
        );
        for limit in [1, 2, 3, 100] {
            assert_eq!(
                walk(&s, &ReportFilter::default(), limit),
                [1, 5, 7, 4, 3, 2, 6],
                "limit {limit}"
            );
        }
    }

    #[test]
    fn cursor_tokens_round_trip_and_foreign_ones_name_the_field() {
        let c = Cursor {
            created_ms: -5,
            id: 42,
        };
        assert_eq!(Cursor::parse(&c.token()), Ok(c));
        for bad in ["", "abc", "42", &"g".repeat(32), &format!("{:032x}", 0)] {
            assert_eq!(
                Cursor::parse(bad).map_err(|e| e.field),
                Err("cursor"),
                "{bad:?}"
            );
        }
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

    #[test]
    fn ward_counts_split_overdue_from_open_overdue() {
        let mut late = summary(1, 107.5, "a", 0);
        late.due_at = Some(late.created_at);
        let mut resolved_late = late.clone();
        resolved_late.id = 2;
        resolved_late.status = Status::Resolved;
        resolved_late.resolved_at = late.due_at.map(|d| d + chrono::Duration::hours(1));
        let mut rejected = late.clone();
        rejected.id = 3;
        rejected.status = Status::Rejected;
        let s = Snapshot::build(
            Arc::new(WardSet::empty()),
            LocalProjection::new(107.55, 16.46),
            vec![late, resolved_late, rejected],
            1,
        );
        let now_s = 1_700_000_000 + 86_400;
        assert_eq!(
            s.ward_counts(now_s)[0],
            WardCounts {
                total: 3,
                open: 1,
                overdue: 2,
                open_overdue: 1
            }
        );
    }
}
