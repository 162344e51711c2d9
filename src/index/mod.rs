//! The in-memory index: an immutable snapshot of every report's location and key attributes.
//!
//! Readers take the current [`Snapshot`] (an `Arc`) and never wait. Writers, serialised by the
//! caller, build the next snapshot and swap it in. A snapshot is a large *base* segment plus a
//! small *recent* segment: a write rebuilds only the recent one (cheap), and when that grows past
//! [`MAX_RECENT`] it is merged into a new base. A report in `recent` hides its older copy in `base`.
//!
//! The index is never the system of record: it is rebuilt from the store at start.

mod query;
mod segment;

pub use query::{Cursor, ReportFilter, WardCounts};
pub use segment::Entry;

use crate::model::ReportSummary;
use crate::projection::LocalProjection;
use crate::wards::WardSet;
use arc_swap::ArcSwap;
use segment::Segment;
use std::sync::Arc;

/// Recent entries kept apart before they are merged into the base segment.
pub const MAX_RECENT: usize = 4096;

/// Category and agency codes, interned to small integers for the compact [`Entry`].
#[derive(Debug, Clone, Default)]
pub struct Vocabulary {
    names: Vec<String>,
}

impl Vocabulary {
    pub fn code(&self, name: &str) -> Option<u16> {
        self.names.iter().position(|n| n == name).map(|i| i as u16)
    }
    fn intern(&mut self, name: &str) -> u16 {
        self.code(name).unwrap_or_else(|| {
            self.names.push(name.to_string());
            (self.names.len() - 1) as u16
        })
    }
    pub fn name(&self, code: u16) -> Option<&str> {
        self.names.get(code as usize).map(String::as_str)
    }
}

/// One consistent view of all reports.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The store's data version of the last write this snapshot includes
    /// (`Store::data_version`, kept with the data): it never repeats across restarts or instances, so
    /// caches and ETags key on it.
    pub version: u64,
    pub wards: Arc<WardSet>,
    pub projection: LocalProjection,
    categories: Arc<Vocabulary>,
    agencies: Arc<Vocabulary>,
    base: Arc<Segment>,
    recent: Arc<Segment>,
}

impl Snapshot {
    /// Builds a snapshot from summaries (any order), stamped with the store's data `version`.
    pub fn build(
        wards: Arc<WardSet>,
        projection: LocalProjection,
        summaries: Vec<ReportSummary>,
        version: u64,
    ) -> Self {
        let mut builder = SnapshotBuilder::new(wards);
        builder.push(&summaries);
        builder.finish(projection, version)
    }

    /// The next snapshot, with these reports added or updated by the write that made the store's
    /// data `version`.
    pub fn with(&self, updates: &[ReportSummary], version: u64) -> Self {
        let mut categories = (*self.categories).clone();
        let mut agencies = (*self.agencies).clone();
        let mut fresh: Vec<Entry> = updates
            .iter()
            .map(|s| Entry::from_summary(s, &self.wards, &mut categories, &mut agencies))
            .collect();
        fresh.sort_by_key(|e| e.id);
        fresh.dedup_by_key(|e| e.id); // keeps the first of equal ids; callers send one per id
        let mut recent: Vec<Entry> = self
            .recent
            .entries
            .iter()
            .filter(|e| !contains(&fresh, e.id))
            .copied()
            .collect();
        recent.extend(fresh);
        recent.sort_unstable_by_key(|e| e.id);
        let (base, recent) = if recent.len() > MAX_RECENT {
            let mut merged: Vec<Entry> = self
                .base
                .entries
                .iter()
                .filter(|e| !contains(&recent, e.id))
                .copied()
                .collect();
            merged.extend(recent);
            (
                Arc::new(Segment::new(merged, &self.projection, self.wards.len())),
                Vec::new(),
            )
        } else {
            (self.base.clone(), recent)
        };
        Self {
            version,
            wards: self.wards.clone(),
            projection: self.projection,
            categories: Arc::new(categories),
            agencies: Arc::new(agencies),
            base,
            recent: Arc::new(Segment::new(recent, &self.projection, self.wards.len())),
        }
    }

    pub fn category_code(&self, name: &str) -> Option<u16> {
        self.categories.code(name)
    }

    pub fn category_name(&self, code: u16) -> Option<&str> {
        self.categories.name(code)
    }

    /// How many reports each category code has, for every code the reports use.
    pub fn category_counts(&self) -> Vec<(&str, u64)> {
        let mut counts = vec![0u64; self.categories.names.len()];
        for e in self.entries() {
            if let Some(n) = counts.get_mut(usize::from(e.category)) {
                *n += 1;
            }
        }
        self.categories
            .names
            .iter()
            .map(String::as_str)
            .zip(counts)
            .collect()
    }

    pub fn agency_name(&self, code: u16) -> Option<&str> {
        self.agencies.name(code)
    }

    /// Number of distinct reports.
    pub fn len(&self) -> usize {
        self.entries().count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every report's entry, each once (the newest copy), in no particular order.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.base
            .entries
            .iter()
            .filter(|e| !self.recent.contains(e.id))
            .chain(self.recent.entries.iter())
    }

    pub fn get(&self, id: i64) -> Option<&Entry> {
        self.recent.find(id).or_else(|| self.base.find(id))
    }
}

/// Builds a snapshot from summaries that arrive in chunks, keeping only the compact entries.
pub struct SnapshotBuilder {
    wards: Arc<WardSet>,
    categories: Vocabulary,
    agencies: Vocabulary,
    entries: Vec<Entry>,
}

impl SnapshotBuilder {
    pub fn new(wards: Arc<WardSet>) -> Self {
        Self {
            wards,
            categories: Vocabulary::default(),
            agencies: Vocabulary::default(),
            entries: Vec::new(),
        }
    }

    pub fn push(&mut self, summaries: &[ReportSummary]) {
        let (wards, categories, agencies) = (&self.wards, &mut self.categories, &mut self.agencies);
        self.entries.extend(
            summaries
                .iter()
                .map(|s| Entry::from_summary(s, wards, categories, agencies)),
        );
    }

    /// The snapshot of everything pushed, stamped with the store's data `version` as read before
    /// the scan began.
    pub fn finish(self, projection: LocalProjection, version: u64) -> Snapshot {
        let ward_count = self.wards.len();
        Snapshot {
            version,
            base: Arc::new(Segment::new(self.entries, &projection, ward_count)),
            recent: Arc::new(Segment::new(Vec::new(), &projection, ward_count)),
            wards: self.wards,
            projection,
            categories: Arc::new(self.categories),
            agencies: Arc::new(self.agencies),
        }
    }
}

/// Whether `sorted` (by id) holds `id`.
fn contains(sorted: &[Entry], id: i64) -> bool {
    sorted.binary_search_by_key(&id, |e| e.id).is_ok()
}

/// The current snapshot behind an atomic pointer.
#[derive(Debug)]
pub struct Index {
    current: ArcSwap<Snapshot>,
}

impl Index {
    pub fn new(snapshot: Snapshot) -> Self {
        Self {
            current: ArcSwap::from_pointee(snapshot),
        }
    }

    /// The current snapshot; holding it never blocks a writer.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Swaps in a new snapshot. Callers serialise writers, so no update is lost.
    pub fn publish(&self, snapshot: Snapshot) {
        self.current.store(Arc::new(snapshot));
    }
}
