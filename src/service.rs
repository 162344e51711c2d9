//! The service core: one place that keeps the flow ingest → wards → store → index in order.
//!
//! Every write goes store first, index second, under one writer lock; reads use the current
//! snapshot and the store's rows without waiting for writers.

use crate::config::CityProfile;
use crate::index::{Cursor, Index, ReportFilter, Snapshot, SnapshotBuilder, WardCounts};
use crate::model::{InvalidValue, NewReport, Report, ReportId, ReportSummary, StatusChange, Ward};
use crate::projection::LocalProjection;
use crate::store::{Inserted, Store, StoreError};
use crate::wards::{WardError, WardSet};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, MutexGuard};

/// How long a write waits for the writer lock. Writes behind one stuck on a dead database fail
/// with [`ServiceError::Unavailable`] instead of queueing (the k-th would otherwise wait k times
/// as long as the first, and a client that gave up and retried would be stored twice).
pub const WRITE_WAIT: Duration = Duration::from_secs(2);
/// How long an interactive read may take in the store before it is given up as unavailable
/// (a frozen server never answers, and its open connections never fail by themselves).
pub const READ_TIMEOUT: Duration = Duration::from_secs(3);
// A write itself is not cut short: once its COMMIT is sent, giving up could leave a report
// stored but never indexed. The pool's acquire timeout bounds a write to a stopped database;
// the lock wait above keeps every other writer from queueing behind one to a frozen database.

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Invalid(#[from] InvalidValue),
    #[error(transparent)]
    Wards(#[from] WardError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The store is out of reach or too slow, or other writes hold the writer past
    /// [`WRITE_WAIT`]; trying again shortly may work.
    #[error("{0}")]
    Unavailable(String),
}

impl ServiceError {
    /// Whether trying again later may succeed (the store or the writer lock was unavailable).
    pub fn is_unavailable(&self) -> bool {
        match self {
            ServiceError::Unavailable(_) => true,
            ServiceError::Store(e) => e.is_unavailable(),
            _ => false,
        }
    }
}

/// Reports the index found, read from the store. When the store is out of reach, `reports` is
/// empty and `store_unavailable` is set: the caller can still serve what the index holds.
#[derive(Debug, Default)]
pub struct Fetched {
    pub reports: HashMap<ReportId, Report>,
    pub store_unavailable: bool,
}

impl Fetched {
    /// Ids the store was asked for and did not return although it answered: stored rows it could
    /// not read (each logged by the store).
    pub fn unreadable(&self, asked: impl IntoIterator<Item = ReportId>) -> Vec<ReportId> {
        if self.store_unavailable {
            return Vec::new();
        }
        asked
            .into_iter()
            .filter(|id| !self.reports.contains_key(id))
            .collect()
    }
}

/// Runs a store call with a time limit; running out of it counts as the store being unavailable.
async fn bounded<T>(
    limit: Duration,
    what: &str,
    call: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, ServiceError> {
    match tokio::time::timeout(limit, call).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(ServiceError::Unavailable(format!(
            "the store did not answer {what} within {} s",
            limit.as_secs_f64()
        ))),
    }
}

/// The result of a submission: the stored report and whether it was new.
#[derive(Debug, Clone)]
pub struct Submitted {
    pub report: Report,
    pub created: bool,
}

pub struct Hotspots {
    store: Arc<dyn Store>,
    index: Index,
    profile: CityProfile,
    writer: Mutex<()>,
    /// Whether writes are published to the index (see [`Hotspots::open_unindexed`]).
    indexed: bool,
}

impl Hotspots {
    /// Loads wards and every report summary from the store and builds the first snapshot.
    pub async fn open(store: Arc<dyn Store>, profile: CityProfile) -> Result<Self, ServiceError> {
        let wards = Arc::new(WardSet::new(store.wards().await?)?);
        let snapshot = load_snapshot(store.as_ref(), wards, projection_of(&profile)).await?;
        Ok(Self {
            store,
            index: Index::new(snapshot),
            profile,
            writer: Mutex::new(()),
            indexed: true,
        })
    }

    /// Loads the wards only, for a one-shot writer whose index nobody reads (the `import`
    /// command, which exits when its file is stored). Its writes are stored and acknowledged as
    /// usual but not indexed: an import of a million reports then neither scans what the store
    /// already holds nor keeps every new report in memory (a serving instance reads them from the
    /// store when it starts). Its snapshot holds the wards and no reports.
    pub async fn open_unindexed(
        store: Arc<dyn Store>,
        profile: CityProfile,
    ) -> Result<Self, ServiceError> {
        let wards = Arc::new(WardSet::new(store.wards().await?)?);
        let version = store.data_version().await?;
        let snapshot = Snapshot::build(wards, projection_of(&profile), Vec::new(), version);
        Ok(Self {
            store,
            index: Index::new(snapshot),
            profile,
            writer: Mutex::new(()),
            indexed: false,
        })
    }

    pub fn profile(&self) -> &CityProfile {
        &self.profile
    }

    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.index.snapshot()
    }

    /// Assigns wards, stores the batch in one transaction, then publishes it to the index.
    /// Reports already stored (same source and external id) are not stored again.
    pub async fn submit_batch(
        &self,
        reports: Vec<NewReport>,
    ) -> Result<Vec<Inserted>, ServiceError> {
        let _writer = self.writer().await?;
        let (outcome, fresh) = self.store_batch(reports).await?;
        let started = std::time::Instant::now();
        if !fresh.is_empty() && self.indexed {
            self.publish(&fresh).await?;
        }
        tracing::debug!(rows = outcome.len(), indexed_in = ?started.elapsed(), "batch published");
        Ok(outcome)
    }

    /// For imports: a writer that stores batch after batch and publishes them to the index every
    /// [`BulkWriter::PUBLISH_EVERY`] reports and at [`BulkWriter::finish`], instead of after each
    /// batch (re-indexing a million reports fifty times over would cost more than storing them).
    pub fn bulk_writer(&self) -> BulkWriter<'_> {
        BulkWriter {
            app: self,
            pending: Vec::new(),
        }
    }

    /// The writer lock for an interactive write, waited for at most [`WRITE_WAIT`].
    async fn writer(&self) -> Result<MutexGuard<'_, ()>, ServiceError> {
        tokio::time::timeout(WRITE_WAIT, self.writer.lock())
            .await
            .map_err(|_| {
                ServiceError::Unavailable(format!(
                    "other writes held the writer for more than {} s",
                    WRITE_WAIT.as_secs_f64()
                ))
            })
    }

    /// Assigns wards and stores a batch; returns the outcome and the summaries of new reports.
    /// The caller holds the writer lock.
    async fn store_batch(
        &self,
        mut reports: Vec<NewReport>,
    ) -> Result<(Vec<Inserted>, Vec<ReportSummary>), ServiceError> {
        let wards = self.index.snapshot().wards.clone();
        for r in &mut reports {
            r.strip_nul();
            r.ward = wards
                .locate_code(r.lon.get(), r.lat.get())
                .map(str::to_string);
        }
        let started = std::time::Instant::now();
        let outcome = self.store.insert_reports(&reports).await?;
        tracing::debug!(rows = reports.len(), stored_in = ?started.elapsed(), "batch stored");
        let fresh = outcome
            .iter()
            .zip(&reports)
            .filter_map(|(o, r)| match o {
                Inserted::New(id) => Some(ReportSummary::of_new(*id, r)),
                Inserted::Duplicate(_) => None,
            })
            .collect();
        Ok((outcome, fresh))
    }

    /// Stores one report; returns it as stored (with its id and ward).
    pub async fn submit(&self, report: NewReport) -> Result<Submitted, ServiceError> {
        let outcome = self.submit_batch(vec![report]).await?;
        let first = outcome
            .first()
            .copied()
            .ok_or_else(|| StoreError::Corrupt {
                what: "insert result".into(),
                message: "the store returned no outcome".into(),
            })?;
        let report = self.report(first.id()).await?;
        Ok(Submitted {
            report,
            created: matches!(first, Inserted::New(_)),
        })
    }

    pub async fn change_status(
        &self,
        id: ReportId,
        change: &StatusChange,
    ) -> Result<Report, ServiceError> {
        let _writer = self.writer().await?;
        let report = self.store.update_status(id, change).await?;
        self.publish(&[ReportSummary::from(&report)]).await?;
        Ok(report)
    }

    /// Publishes the next snapshot with `updates`, stamped with the data version of the write
    /// that stored them. The caller holds the writer lock and has just committed that write, so
    /// the store's version is this write's (or, on a store shared by several instances, a later
    /// one: unique either way).
    async fn publish(&self, updates: &[ReportSummary]) -> Result<(), StoreError> {
        let version = self.store.data_version().await?;
        self.index
            .publish(self.index.snapshot().with(updates, version));
        Ok(())
    }

    pub async fn report(&self, id: ReportId) -> Result<Report, ServiceError> {
        let found = bounded(READ_TIMEOUT, "a read", self.store.get_reports(&[id]))
            .await?
            .pop();
        match found {
            Some(report) => Ok(report),
            // Indexed, so stored: the store left it out because it could not read it.
            None if self.snapshot().get(id).is_some() => Err(StoreError::Corrupt {
                what: format!("report {id}"),
                message: "stored but unreadable (see the store's log)".into(),
            }
            .into()),
            None => Err(StoreError::NotFound(id).into()),
        }
    }

    /// A page of report ids from `snapshot`, newest `created_at` first (then highest id), the
    /// cursor for the next page, and the reports.
    pub async fn list(
        &self,
        snapshot: &Snapshot,
        filter: &ReportFilter,
        after: Option<Cursor>,
        limit: usize,
    ) -> Result<(Vec<ReportId>, Option<Cursor>, Fetched), ServiceError> {
        let (ids, next) = snapshot.page(filter, after, limit);
        let fetched = self.fetch(&ids).await?;
        Ok((ids, next, fetched))
    }

    /// Reports within `radius_m` of a point, nearest first, with distances in metres.
    pub async fn nearby(
        &self,
        lon: f64,
        lat: f64,
        radius_m: f64,
        category: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<(ReportId, f64)>, Fetched), ServiceError> {
        let snapshot = self.snapshot();
        let code = match category {
            Some(c) => match snapshot.category_code(c) {
                Some(code) => Some(code),
                None => return Ok((Vec::new(), Fetched::default())),
            },
            None => None,
        };
        let hits = snapshot.nearby(lon, lat, radius_m, code, limit);
        let ids: Vec<ReportId> = hits.iter().map(|h| h.0).collect();
        let fetched = self.fetch(&ids).await?;
        Ok((hits, fetched))
    }

    /// Reads reports by id, keyed by id (never paired by position: the store leaves out rows it
    /// cannot read). A store out of reach is not an error here: the index can still answer.
    async fn fetch(&self, ids: &[ReportId]) -> Result<Fetched, ServiceError> {
        match bounded(READ_TIMEOUT, "a read", self.store.get_reports(ids)).await {
            Ok(reports) => Ok(Fetched {
                reports: reports.into_iter().map(|r| (r.id, r)).collect(),
                store_unavailable: false,
            }),
            Err(e) if e.is_unavailable() => {
                tracing::warn!(error = %e, "store unavailable; answering from the index");
                Ok(Fetched {
                    reports: HashMap::new(),
                    store_unavailable: true,
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Wards with their report counts (overdue as of now).
    pub fn wards_with_counts(&self) -> (Arc<Snapshot>, Vec<WardCounts>) {
        let snapshot = self.snapshot();
        let counts = snapshot.ward_counts(chrono::Utc::now().timestamp());
        (snapshot, counts)
    }

    /// Replaces every ward, re-assigns every report, and rebuilds the index. Returns how many
    /// reports changed ward.
    pub async fn replace_wards(&self, wards: Vec<Ward>) -> Result<u64, ServiceError> {
        let set = WardSet::new(wards)?;
        let _writer = self.writer.lock().await;
        let changed = self.store.replace_wards(&set).await?;
        let projection = self.index.snapshot().projection;
        let next = load_snapshot(self.store.as_ref(), Arc::new(set), projection).await?;
        self.index.publish(next);
        Ok(changed)
    }
}

/// See [`Hotspots::bulk_writer`].
pub struct BulkWriter<'a> {
    app: &'a Hotspots,
    pending: Vec<ReportSummary>,
}

impl BulkWriter<'_> {
    pub const PUBLISH_EVERY: usize = 250_000;

    /// Stores one batch in one transaction (acknowledged once this returns).
    pub async fn submit(&mut self, reports: Vec<NewReport>) -> Result<Vec<Inserted>, ServiceError> {
        let _writer = self.app.writer.lock().await;
        let (outcome, fresh) = self.app.store_batch(reports).await?;
        if self.app.indexed {
            self.pending.extend(fresh);
        }
        if self.pending.len() >= Self::PUBLISH_EVERY {
            self.publish().await?;
        }
        Ok(outcome)
    }

    /// Publishes what is stored but not yet indexed.
    pub async fn finish(mut self) -> Result<(), ServiceError> {
        let _writer = self.app.writer.lock().await;
        self.publish().await
    }

    async fn publish(&mut self) -> Result<(), ServiceError> {
        if !self.pending.is_empty() {
            self.app.publish(&self.pending).await?;
            self.pending.clear();
        }
        Ok(())
    }
}

/// Builds a snapshot from everything the store holds, chunk by chunk. The data version is read
/// before the scan: the scan then sees at least every write up to it, and with one writer (the
/// service, not serving yet, or holding the writer lock) exactly those.
async fn load_snapshot(
    store: &dyn Store,
    wards: Arc<WardSet>,
    projection: LocalProjection,
) -> Result<Snapshot, StoreError> {
    let version = store.data_version().await?;
    let started = std::time::Instant::now();
    let mut builder = SnapshotBuilder::new(wards);
    store
        .scan_summaries(&mut |chunk| builder.push(&chunk))
        .await?;
    let read_in = started.elapsed();
    let snapshot = builder.finish(projection, version);
    tracing::debug!(?read_in, built_in = ?(started.elapsed() - read_in), "index built");
    Ok(snapshot)
}

/// The city's local projection, centred on its bounds.
pub fn projection_of(profile: &CityProfile) -> LocalProjection {
    let b = &profile.bounds;
    LocalProjection::new((b.min_lon + b.max_lon) / 2.0, (b.min_lat + b.max_lat) / 2.0)
}
