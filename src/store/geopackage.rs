//! The embedded store: an OGC GeoPackage file (SQLite), which QGIS and GDAL open as it is.

mod insert;
mod private;
mod rtree;
mod scan;
mod schema;
mod version;
mod wards;

use super::rows::ReportRow;
use super::{
    Context, Inserted, ReportSummary, Store, StoreError, apply_change, format_time, parse_time, wkb,
};
use crate::model::{NewReport, Report, ReportId, StatusChange, Ward};
use crate::wards::WardSet;
use async_trait::async_trait;
pub use private::private_path;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool, Transaction};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Rows per multi-row INSERT: 17 bound values each stays under SQLite's 32,766 limit.
const ROWS_PER_INSERT: usize = 1000;
/// Quiet time after a bulk batch before the deferred R*Tree is built (imports send batches
/// far more often; the import command also builds it when it closes the store).
const RTREE_SETTLE: Duration = Duration::from_secs(3);

const REPORT_COLUMNS: &str = "fid, geom, source, external_id, category, description, address, ward, \
     agency, status, created_at, updated_at, due_at, resolved_at, satisfaction, channel, attributes, \
     outside_bounds";

/// A GeoPackage file and, beside it, the private file of reporter contacts (`private.rs`).
#[derive(Debug, Clone)]
pub struct GeoPackageStore {
    pool: SqlitePool,
    private: private::Private,
    /// Counts bulk batches, so a deferred R*Tree build waits until they stop.
    bulk_batches: Arc<AtomicU64>,
}

impl GeoPackageStore {
    /// Opens the file, creating it with the GeoPackage tables and Hotspots' layers if absent,
    /// or upgrading it in place if an older release wrote it.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        // SQLite's default page cache (2 MB) per connection: the start-up scan reads every row
        // through all of them, and larger caches stay full afterwards (4 × 64 MB held 435 MB
        // with a million reports). Bulk writes grow their own connection's cache for the batch.
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(scan::PARTS as u32)
            .connect_with(options)
            .await
            .context("opening the GeoPackage file")?;
        let private = private::Private::open(path).await?;
        schema::prepare(&pool, &private).await?;
        let max_id: Option<i64> = sqlx::query_scalar("select max(fid) from report")
            .fetch_one(&pool)
            .await
            .context("reading the last report id")?;
        private.drop_orphans(max_id.unwrap_or(0)).await?;
        let store = Self {
            pool,
            private,
            bulk_batches: Arc::new(AtomicU64::new(0)),
        };
        // A crash during an import leaves the R*Tree stale.
        store.build_rtree_if_stale().await?;
        Ok(store)
    }

    /// Builds the report R*Tree in one pass if bulk batches left it without their rows.
    pub async fn build_rtree_if_stale(&self) -> Result<(), StoreError> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .context("acquiring a connection")?;
        let mut tx = schema::begin_write(&mut conn, &[]).await?;
        let stale: bool =
            sqlx::query_scalar("select exists (select 1 from hotspots_setting where key = ?)")
                .bind(rtree::STALE_KEY)
                .fetch_one(&mut *tx)
                .await
                .context("reading the R*Tree state")?;
        if stale {
            let started = std::time::Instant::now();
            rtree::rebuild(&mut tx).await?;
            tracing::debug!(built_in = ?started.elapsed(), "report R*Tree built");
        }
        schema::commit_write(tx).await
    }

    /// Schedules the deferred R*Tree build for when bulk batches have stopped coming.
    fn settle_rtree_later(&self) {
        let batch = self.bulk_batches.fetch_add(1, Ordering::SeqCst) + 1;
        let store = self.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                tokio::time::sleep(RTREE_SETTLE).await;
                if store.bulk_batches.load(Ordering::SeqCst) == batch
                    && !store.pool.is_closed()
                    && let Err(e) = store.build_rtree_if_stale().await
                {
                    tracing::warn!("building the report R*Tree: {e}");
                }
            });
        }
    }

    /// A consistent copy of the store, taken while it runs: the GeoPackage to `out` and the
    /// private contacts beside it ([`private_path`]). The GeoPackage is copied first: contacts
    /// are committed before their reports, so the later copy of contacts covers every report
    /// of the earlier copy (extra contacts of later reports are dropped when the copy opens).
    pub async fn backup(&self, out: &Path) -> Result<(), StoreError> {
        for path in [out.to_path_buf(), private_path(out)] {
            if path.exists() {
                return Err(StoreError::Corrupt {
                    what: format!("backup target {}", path.display()),
                    message: "already exists; choose a new name".into(),
                });
            }
        }
        self.build_rtree_if_stale().await?;
        sqlx::query("vacuum into ?")
            .bind(out.to_string_lossy().into_owned())
            .execute(&self.pool)
            .await
            .context("copying the GeoPackage")?;
        self.private.copy_to(&private_path(out)).await
    }

    /// Flushes the write-ahead log into the main file, so other programs see one complete file.
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        sqlx::query("pragma wal_checkpoint(truncate)")
            .execute(&self.pool)
            .await
            .context("checkpointing the write-ahead log")?;
        Ok(())
    }

    pub async fn close(&self) {
        if let Err(e) = self.build_rtree_if_stale().await {
            tracing::warn!("building the report R*Tree: {e}");
        }
        let _ = self.checkpoint().await;
        self.pool.close().await;
        self.private.close().await;
    }

    async fn report_in(
        tx: &mut Transaction<'_, Sqlite>,
        id: ReportId,
    ) -> Result<Report, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!("select {REPORT_COLUMNS} from report where fid = ?"));
        let row = sqlx::query(sql)
            .bind(id)
            .fetch_optional(&mut **tx)
            .await
            .context("reading a report")?
            .ok_or(StoreError::NotFound(id))?;
        report_from_row(&row)?.into_report()
    }
}

fn opt_time(
    row: &SqliteRow,
    col: &str,
    id: i64,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, StoreError> {
    row.get::<Option<String>, _>(col)
        .map(|t| parse_time(&t, &format!("report {id} {col}")))
        .transpose()
}

fn report_from_row(row: &SqliteRow) -> Result<ReportRow, StoreError> {
    let id: i64 = row.get("fid");
    let blob: Vec<u8> = row.get("geom");
    let wkb = wkb::from_gpkg(&blob)
        .map_err(|source| StoreError::Geometry {
            what: format!("report {id}"),
            source,
        })?
        .to_vec();
    Ok(ReportRow {
        id,
        wkb,
        source: row.get("source"),
        external_id: row.get("external_id"),
        category: row.get("category"),
        description: row.get("description"),
        address: row.get("address"),
        ward: row.get("ward"),
        agency: row.get("agency"),
        status: row.get("status"),
        created_at: parse_time(&row.get::<String, _>("created_at"), "created_at")?,
        updated_at: parse_time(&row.get::<String, _>("updated_at"), "updated_at")?,
        due_at: opt_time(row, "due_at", id)?,
        resolved_at: opt_time(row, "resolved_at", id)?,
        satisfaction: row.get("satisfaction"),
        channel: row.get("channel"),
        attributes: row.get("attributes"),
        outside_bounds: row.get("outside_bounds"),
    })
}

#[async_trait]
impl Store for GeoPackageStore {
    async fn close(&self) {
        GeoPackageStore::close(self).await;
    }

    fn kind(&self) -> &'static str {
        "geopackage"
    }

    async fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar("select value from hotspots_setting where key = ?")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .context("reading a setting")
    }

    async fn save_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query("insert into hotspots_setting (key, value) values (?, ?) on conflict (key) do update set value = excluded.value")
            .bind(key)
            .bind(value)
            .execute(&self.pool)
            .await
            .context("saving a setting")?;
        Ok(())
    }

    async fn wards(&self) -> Result<Vec<Ward>, StoreError> {
        wards::read(&self.pool).await
    }

    async fn replace_wards(&self, wards: &WardSet) -> Result<u64, StoreError> {
        wards::replace(&self.pool, wards).await
    }

    async fn insert_reports(&self, reports: &[NewReport]) -> Result<Vec<Inserted>, StoreError> {
        let (outcome, rtree) = insert::reports(&self.pool, &self.private, reports).await?;
        if let insert::Rtree::Deferred = rtree {
            self.settle_rtree_later();
        }
        Ok(outcome)
    }

    async fn get_reports(&self, ids: &[ReportId]) -> Result<Vec<Report>, StoreError> {
        let mut by_id = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(ROWS_PER_INSERT * 8) {
            let mut q = QueryBuilder::<Sqlite>::new(format!(
                "select {REPORT_COLUMNS} from report where fid in ("
            ));
            let mut list = q.separated(", ");
            for id in chunk {
                list.push_bind(*id);
            }
            q.push(")");
            for row in q
                .build()
                .fetch_all(&self.pool)
                .await
                .context("reading reports")?
            {
                // As on PostGIS: an unreadable row (QGIS may edit the file) fails no page.
                match report_from_row(&row).and_then(ReportRow::into_report) {
                    Ok(report) => {
                        by_id.insert(report.id, report);
                    }
                    Err(e) => super::rows::log_unreadable(row.try_get("fid").ok(), &e),
                }
            }
        }
        Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
    }

    async fn update_status(
        &self,
        id: ReportId,
        change: &StatusChange,
    ) -> Result<Report, StoreError> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .context("acquiring a connection")?;
        let mut tx = schema::begin_write(&mut conn, schema::REPORT).await?;
        let mut report = Self::report_in(&mut tx, id).await?;
        apply_change(&mut report, change)?;
        sqlx::query(
            "update report set status = ?, updated_at = ?, resolved_at = ?, agency = ?, satisfaction = ? where fid = ?",
        )
        .bind(report.status.as_str())
        .bind(format_time(&report.updated_at))
        .bind(report.resolved_at.as_ref().map(format_time))
        .bind(&report.agency)
        .bind(report.satisfaction.map(i64::from))
        .bind(id)
        .execute(&mut *tx)
        .await
        .context("updating a status")?;
        version::bump(&mut tx).await?;
        // The row as stored: times at the file's millisecond resolution.
        let stored = Self::report_in(&mut tx, id).await?;
        schema::commit_write(tx).await?;
        Ok(stored)
    }

    async fn summaries(&self) -> Result<Vec<ReportSummary>, StoreError> {
        let mut all = Vec::new();
        scan::summaries(&self.pool, &mut |chunk| all.extend(chunk)).await?;
        all.sort_unstable_by_key(|s| s.id);
        Ok(all)
    }

    async fn scan_summaries(
        &self,
        sink: &mut (dyn FnMut(Vec<ReportSummary>) + Send),
    ) -> Result<(), StoreError> {
        scan::summaries(&self.pool, sink).await
    }

    async fn count_reports(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("select count(*) from report")
            .fetch_one(&self.pool)
            .await
            .context("counting reports")?;
        Ok(n as u64)
    }

    async fn data_version(&self) -> Result<u64, StoreError> {
        version::read(&self.pool).await
    }

    async fn reporter_contact(&self, id: ReportId) -> Result<Option<String>, StoreError> {
        self.private.contact(id).await
    }
}
