//! The embedded store: an OGC GeoPackage file (SQLite), which QGIS and GDAL open as it is.

mod insert;
mod scan;
mod version;
mod wards;

use super::rows::ReportRow;
use super::{
    Context, Inserted, ReportSummary, Store, StoreError, apply_change, format_time, parse_time, wkb,
};
use crate::model::{NewReport, Report, ReportId, StatusChange, Ward};
use crate::wards::WardSet;
use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool, Transaction};
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

const SCHEMA: &str = include_str!("geopackage.sql");
/// Settings that travel with the data (the city profile); not a GeoPackage layer.
const SETTINGS_TABLE: &str =
    "create table if not exists hotspots_setting (key text primary key, value text not null)";
/// "GPKG" as the SQLite application id, and GeoPackage 1.3.0 as user_version (spec §1.1.1).
const APPLICATION_ID: i64 = 0x4750_4B47;
const USER_VERSION: i64 = 10300;
/// Rows per multi-row INSERT: 17 bound values each stays under SQLite's 32,766 limit.
const ROWS_PER_INSERT: usize = 1000;

const REPORT_COLUMNS: &str = "fid, geom, source, external_id, category, description, address, ward, \
     agency, status, created_at, updated_at, due_at, resolved_at, satisfaction, channel, attributes, \
     outside_bounds";

#[derive(Debug, Clone)]
pub struct GeoPackageStore {
    pool: SqlitePool,
}

impl GeoPackageStore {
    /// Opens the file, creating it with the GeoPackage tables and Hotspots' layers if absent.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(30))
            // 64 MB of page cache per connection: the spatial index and the unique key index of a
            // million reports stay cached during imports (the default 2 MB thrashes).
            .pragma("cache_size", "-65536")
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(scan::PARTS as u32)
            .connect_with(options)
            .await
            .context("opening the GeoPackage file")?;
        let store = Self { pool };
        store.create_schema_if_new().await?;
        version::create(&store.pool).await?;
        Ok(store)
    }

    async fn create_schema_if_new(&self) -> Result<(), StoreError> {
        let exists: i64 = sqlx::query_scalar(
            "select count(*) from sqlite_master where type = 'table' and name = 'gpkg_contents'",
        )
        .fetch_one(&self.pool)
        .await
        .context("checking the GeoPackage tables")?;
        if exists > 0 {
            // Files made before the settings table existed get it now.
            sqlx::query(SETTINGS_TABLE)
                .execute(&self.pool)
                .await
                .context("creating the settings table")?;
            return self.add_missing_columns().await;
        }
        let mut tx = self
            .pool
            .begin()
            .await
            .context("starting the schema transaction")?;
        sqlx::raw_sql(SCHEMA)
            .execute(&mut *tx)
            .await
            .context("creating the GeoPackage tables")?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "pragma application_id = {APPLICATION_ID}; pragma user_version = {USER_VERSION};"
        )))
        .execute(&mut *tx)
        .await
        .context("marking the file as a GeoPackage")?;
        sqlx::query(SETTINGS_TABLE)
            .execute(&mut *tx)
            .await
            .context("creating the settings table")?;
        tx.commit().await.context("committing the schema")
    }

    /// Files made before reports carried the outside-bounds flag get the column now (the
    /// simplest upgrade in place; a versioned schema upgrade can take it over).
    async fn add_missing_columns(&self) -> Result<(), StoreError> {
        let has_flag: i64 = sqlx::query_scalar(
            "select count(*) from pragma_table_info('report') where name = 'outside_bounds'",
        )
        .fetch_one(&self.pool)
        .await
        .context("checking the report columns")?;
        if has_flag == 0 {
            sqlx::query("alter table report add column outside_bounds BOOLEAN not null default 0")
                .execute(&self.pool)
                .await
                .context("adding the outside_bounds column")?;
        }
        Ok(())
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
        let _ = self.checkpoint().await;
        self.pool.close().await;
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
        insert::reports(&self.pool, reports).await
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
        let mut tx = self
            .pool
            .begin()
            .await
            .context("starting the status transaction")?;
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
        tx.commit().await.context("committing a status change")?;
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
        sqlx::query_scalar("select contact from report_contact where report_fid = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .context("reading a reporter contact")
    }
}
