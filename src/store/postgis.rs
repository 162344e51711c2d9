//! The server store: PostgreSQL with PostGIS, for a city's production deployment.
//!
//! Geometry crosses the boundary as WKB through our own codec ([`crate::wkb`]). Bulk writes stream
//! `COPY` text straight into `report` ([`insert`]; a staging table merge, [`staging`], is the
//! fallback when a concurrent writer takes a key), so a batch of a million reports is a few round
//! trips rather than a million, and each report is written once.

mod copy;
mod insert;
mod scan;
mod staging;
#[cfg(test)]
mod tests;
mod unnest;
mod wards;

use super::rows::{self, ReportRow};
use super::{Context, Inserted, ReportSummary, Store, StoreError, apply_change};
use crate::model::{NewReport, Report, ReportId, StatusChange, Ward};
use crate::wards::WardSet;
use async_trait::async_trait;
use futures_util::TryStreamExt;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{AssertSqlSafe, Connection, PgConnection, PgPool, Postgres, Row, SqlStr};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// How long a query waits for a connection (sqlx's default is 30 s). When the server is down
/// every request would hang that long; failing at once lets the API answer 503 and a client retry.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

/// The report columns [`report_from_row`] reads, as one literal so queries stay `&'static str`.
macro_rules! report_columns {
    () => {
        "id, st_asbinary(geom) as wkb, source, external_id, category, description, address, ward, \
         agency, status, created_at, updated_at, due_at, resolved_at, satisfaction, channel, \
         attributes::text as attributes, outside_bounds"
    };
}

/// The schema, embedded in the binary as `sqlx::migrate!("./migrations")` would (same version,
/// description and checksum), without needing sqlx's proc-macro feature or a build script:
/// `include_str!` already rebuilds when a file changes. Add each new migration file here.
fn migrator() -> Migrator {
    let migration = |version, description: &str, sql| {
        Migration::new(
            version,
            description.to_string().into(),
            MigrationType::Simple,
            SqlStr::from_static(sql),
            false,
        )
    };
    Migrator::with_migrations(vec![
        migration(1, "init", include_str!("../../migrations/0001_init.sql")),
        migration(
            2,
            "settings",
            include_str!("../../migrations/0002_settings.sql"),
        ),
        migration(
            3,
            "data version",
            include_str!("../../migrations/0003_data_version.sql"),
        ),
        migration(
            4,
            "outside bounds",
            include_str!("../../migrations/0004_outside_bounds.sql"),
        ),
    ])
}

#[derive(Debug, Clone)]
pub struct PostgisStore {
    pool: PgPool,
    fresh: Arc<insert::FreshHint>,
}

impl PostgisStore {
    /// Connects, checks that PostGIS is installed and applies pending migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options: PgConnectOptions = url.parse().context("parsing the database URL")?;
        Self::open(options).await
    }

    /// Like [`connect`](Self::connect), but keeps Hotspots' tables in `schema` (created if
    /// absent), with `public` after it on the search path for PostGIS's types. Tests give each
    /// case a schema of its own this way. `schema` must match `[a-z_][a-z0-9_]*`.
    pub async fn connect_schema(url: &str, schema: &str) -> Result<Self, StoreError> {
        let valid = schema.len() <= 63
            && schema.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && schema
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !valid {
            return Err(setup_error(
                "choosing the schema",
                format!("schema name {schema:?} must match [a-z_][a-z0-9_]* (at most 63 bytes)"),
            ));
        }
        let options: PgConnectOptions = url.parse().context("parsing the database URL")?;
        let mut conn = PgConnection::connect_with(&options)
            .await
            .context("connecting to PostgreSQL")?;
        // The name was checked above: it is a plain lower-case identifier.
        sqlx::raw_sql(AssertSqlSafe(format!(
            "create schema if not exists {schema}"
        )))
        .execute(&mut conn)
        .await
        .context("creating the schema")?;
        conn.close()
            .await
            .context("closing the set-up connection")?;
        Self::open(options.options([("search_path", format!("{schema},public"))])).await
    }

    async fn open(options: PgConnectOptions) -> Result<Self, StoreError> {
        // One connection on its own first: when the server is out of reach its error says why
        // ("connection refused"), where the pool's would only say that it timed out.
        match tokio::time::timeout(
            Duration::from_secs(10),
            PgConnection::connect_with(&options),
        )
        .await
        {
            Ok(probe) => {
                let _ = probe.context("connecting to PostgreSQL")?.close().await;
            }
            Err(_) => {
                return Err(setup_error(
                    "connecting to PostgreSQL",
                    "the server did not answer within 10 s".into(),
                ));
            }
        }
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .context("connecting to PostgreSQL")?;
        check_postgis(&pool).await?;
        migrator().run(&pool).await?;
        Ok(Self {
            pool,
            fresh: Arc::default(),
        })
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// An error found while setting up, before any query of ours could fail.
fn setup_error(context: &'static str, message: String) -> StoreError {
    StoreError::Database {
        context,
        source: sqlx::Error::Configuration(message.into()),
    }
}

/// Fails with a message that says what to do when PostGIS is missing or out of reach; otherwise
/// the first migration would fail with "type geometry does not exist".
async fn check_postgis(pool: &PgPool) -> Result<(), StoreError> {
    let schema: Option<String> = sqlx::query_scalar(
        "select n.nspname::text from pg_extension e join pg_namespace n on n.oid = e.extnamespace \
         where e.extname = 'postgis'",
    )
    .fetch_optional(pool)
    .await
    .context("checking for the PostGIS extension")?;
    let Some(schema) = schema else {
        return Err(setup_error(
            "checking for the PostGIS extension",
            "the postgis extension is not installed in this database; a superuser must run \
             `create extension postgis` in it once"
                .into(),
        ));
    };
    let visible: bool = sqlx::query_scalar("select to_regtype('geometry') is not null")
        .fetch_one(pool)
        .await
        .context("checking for the PostGIS extension")?;
    if !visible {
        return Err(setup_error(
            "checking for the PostGIS extension",
            format!("postgis is installed in schema {schema:?}, which is not on the search_path"),
        ));
    }
    Ok(())
}

fn get<'r, T>(row: &'r PgRow, column: &str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
{
    row.try_get(column).context("decoding a report row")
}

fn report_from_row(row: &PgRow) -> Result<ReportRow, StoreError> {
    Ok(ReportRow {
        id: get(row, "id")?,
        wkb: get(row, "wkb")?,
        source: get(row, "source")?,
        external_id: get(row, "external_id")?,
        category: get(row, "category")?,
        description: get(row, "description")?,
        address: get(row, "address")?,
        ward: get(row, "ward")?,
        agency: get(row, "agency")?,
        status: get(row, "status")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
        due_at: get(row, "due_at")?,
        resolved_at: get(row, "resolved_at")?,
        satisfaction: get::<Option<i16>>(row, "satisfaction")?.map(i64::from),
        channel: get(row, "channel")?,
        attributes: get(row, "attributes")?,
        outside_bounds: get(row, "outside_bounds")?,
    })
}

#[async_trait]
impl Store for PostgisStore {
    async fn close(&self) {
        PostgisStore::close(self).await;
    }

    fn kind(&self) -> &'static str {
        "postgis"
    }

    async fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar("select value from hotspots_setting where key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .context("reading a setting")
    }

    async fn save_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query(
            "insert into hotspots_setting (key, value) values ($1, $2) \
             on conflict (key) do update set value = excluded.value",
        )
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
        insert::insert_reports(&self.pool, &self.fresh, reports).await
    }

    async fn get_reports(&self, ids: &[ReportId]) -> Result<Vec<Report>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut by_id = HashMap::with_capacity(ids.len());
        let mut rows = sqlx::query(concat!(
            "select ",
            report_columns!(),
            " from report where id = any($1)"
        ))
        .bind(ids)
        .fetch(&self.pool);
        while let Some(row) = rows.try_next().await.context("reading reports")? {
            // One unreadable row must not fail every page that holds it: it is left out, and
            // logged here with its id and what is wrong.
            match report_from_row(&row).and_then(ReportRow::into_report) {
                Ok(report) => {
                    by_id.insert(report.id, report);
                }
                Err(e) => rows::log_unreadable(row.try_get("id").ok(), &e),
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
        let row = sqlx::query(concat!(
            "select ",
            report_columns!(),
            " from report where id = $1 for update"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .context("reading a report")?
        .ok_or(StoreError::NotFound(id))?;
        let mut report = report_from_row(&row)?.into_report()?;
        apply_change(&mut report, change)?;
        // Returns the row as stored, times at PostgreSQL's microsecond resolution.
        let row = sqlx::query(concat!(
            "update report set status = $1, updated_at = $2, resolved_at = $3, agency = $4, \
             satisfaction = $5 where id = $6 returning ",
            report_columns!()
        ))
        .bind(report.status.as_str())
        .bind(report.updated_at)
        .bind(report.resolved_at)
        .bind(&report.agency)
        .bind(report.satisfaction.map(i16::from))
        .bind(id)
        .fetch_one(&mut *tx)
        .await
        .context("updating a status")?;
        let stored = report_from_row(&row)?.into_report()?;
        tx.commit().await.context("committing a status change")?;
        Ok(stored)
    }

    async fn summaries(&self) -> Result<Vec<ReportSummary>, StoreError> {
        let mut rows = sqlx::query(
            "select id, st_asbinary(geom) as wkb, ward, category, agency, status, created_at, \
             due_at, resolved_at, outside_bounds from report order by id",
        )
        .fetch(&self.pool);
        let mut out = Vec::new();
        while let Some(row) = rows.try_next().await.context("scanning reports")? {
            let id: i64 = get(&row, "id")?;
            let (lon, lat) = rows::point(get(&row, "wkb")?, id)?;
            out.push(ReportSummary {
                id,
                lon,
                lat,
                ward: get(&row, "ward")?,
                category: get(&row, "category")?,
                agency: get(&row, "agency")?,
                status: rows::status(get(&row, "status")?, id)?,
                created_at: get(&row, "created_at")?,
                due_at: get(&row, "due_at")?,
                resolved_at: get(&row, "resolved_at")?,
                outside_bounds: get(&row, "outside_bounds")?,
            });
        }
        Ok(out)
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
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// The last value drawn from the `hotspots_data_version` sequence (see its migration), or 0
    /// when no write has drawn one yet.
    async fn data_version(&self) -> Result<u64, StoreError> {
        let v: i64 = sqlx::query_scalar(
            "select case when is_called then last_value else 0 end from hotspots_data_version",
        )
        .fetch_one(&self.pool)
        .await
        .context("reading the data version")?;
        Ok(u64::try_from(v).unwrap_or(0))
    }

    async fn reporter_contact(&self, id: ReportId) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar("select contact from report_contact where report_id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .context("reading a reporter contact")
    }
}
