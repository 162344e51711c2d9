//! The server store: PostgreSQL with PostGIS, for a city's production deployment.
//!
//! Geometry crosses the boundary as WKB through our own codec ([`super::wkb`]). Bulk writes stream
//! `COPY` text into a temporary staging table and merge it with one statement, so a batch of a
//! million reports is a few round trips rather than a million.

use super::rows::{self, ReportRow};
use super::{Context, Inserted, ReportSummary, Store, StoreError, apply_change, wkb};
use crate::model::{NewReport, Report, ReportId, StatusChange, Ward};
use crate::wards::WardSet;
use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use futures_util::TryStreamExt;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{AssertSqlSafe, Connection, PgConnection, PgPool, Postgres, Row, SqlStr, Transaction};
use std::collections::HashMap;
use std::collections::hash_map::Entry;

/// Bytes of `COPY` text buffered before they are sent: large enough to amortise round trips,
/// small enough that a million-row batch never sits in memory twice.
const COPY_CHUNK_BYTES: usize = 4 << 20;

/// The report columns [`report_from_row`] reads, as one literal so queries stay `&'static str`.
macro_rules! report_columns {
    () => {
        "id, st_asbinary(geom) as wkb, source, external_id, category, description, address, ward, \
         agency, status, created_at, updated_at, due_at, resolved_at, satisfaction, channel, \
         attributes::text as attributes"
    };
}

/// One staged row per report to store; `id` is drawn from the report sequence in COPY order, so
/// ids rise with input order and each staged row knows its id before the merge (which therefore
/// needs no `order by`: sorting a million staged rows spilled to disk and cost a fifth of it).
const CREATE_STAGING: &str = "create temp table report_staging (
    ord bigint not null, id bigint not null default nextval('report_id_seq'), geom bytea not null,
    source text not null, external_id text, category text not null, description text,
    address text, ward text, agency text, status text not null, created_at timestamptz not null,
    due_at timestamptz, resolved_at timestamptz, satisfaction smallint, channel text,
    attributes jsonb not null, contact text
  ) on commit drop";

const COPY_STAGING: &str = "copy report_staging (ord, geom, source, external_id, category, \
    description, address, ward, agency, status, created_at, due_at, resolved_at, satisfaction, \
    channel, attributes, contact) from stdin";

/// Stores the staged reports whose key is not taken yet, and their contacts; returns (ord, id)
/// of those stored. A report arriving already resolved was last updated at its resolution, as in
/// the GeoPackage store.
const MERGE_STAGING: &str = "with inserted as (
    insert into report (id, geom, source, external_id, category, description, address, ward,
      agency, status, created_at, updated_at, due_at, resolved_at, satisfaction, channel,
      attributes)
    select id, st_geomfromwkb(geom, 4326), source, external_id, category, description, address,
      ward, agency, status, created_at, coalesce(resolved_at, created_at), due_at, resolved_at,
      satisfaction, channel, attributes
    from report_staging
    on conflict (source, external_id) do nothing
    returning id
  ), contacts as (
    insert into report_contact (report_id, contact)
    select s.id, s.contact from report_staging s join inserted i on i.id = s.id
    where s.contact is not null
  )
  select s.ord, s.id from report_staging s join inserted i on i.id = s.id";

/// The stored ids of staged reports that were not stored because their key was taken.
const EXISTING_IDS: &str = "select s.ord, r.id from report_staging s
    join report r on r.source = s.source and r.external_id = s.external_id
    where s.ord = any($1)";

const INSERT_WARDS: &str = "insert into ward (code, name, area_km2, population, geom)
    select code, name, area_km2, population, st_geomfromwkb(wkb, 4326)
    from unnest($1::text[], $2::text[], $3::float8[], $4::int8[], $5::bytea[])
      as w (code, name, area_km2, population, wkb)";

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
    ])
}

#[derive(Debug, Clone)]
pub struct PostgisStore {
    pool: PgPool,
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
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .context("connecting to PostgreSQL")?;
        check_postgis(&pool).await?;
        migrator().run(&pool).await?;
        Ok(Self { pool })
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Streams the first occurrence of each report into `report_staging`.
    async fn stage(
        tx: &mut Transaction<'_, Postgres>,
        reports: &[NewReport],
        staged: &[usize],
    ) -> Result<(), StoreError> {
        sqlx::raw_sql(CREATE_STAGING)
            .execute(&mut **tx)
            .await
            .context("creating the report staging table")?;
        let rows = staged.iter().map(|&i| (i, &reports[i]));
        copy_in(tx, COPY_STAGING, rows, |buf, (ord, r)| {
            let mut row = CopyRow::new(buf);
            row.text(&ord.to_string());
            row.bytea(&wkb::point(r.lon.get(), r.lat.get()));
            row.text(&r.source);
            row.opt_text(r.external_id.as_deref());
            row.text(&r.category);
            row.opt_text(r.description.as_deref());
            row.opt_text(r.address.as_deref());
            row.opt_text(r.ward.as_deref());
            row.opt_text(r.agency.as_deref());
            row.text(r.status.as_str());
            row.opt_time(Some(&r.created_at));
            row.opt_time(r.due_at.as_ref());
            row.opt_time(r.resolved_at.as_ref());
            row.opt_text(r.satisfaction.map(|s| s.get().to_string()).as_deref());
            row.opt_text(r.channel.as_deref());
            row.text(&r.attributes.to_string());
            row.opt_text(r.reporter_contact.as_deref());
            row.end();
        })
        .await?;
        // Temporary tables are never auto-analysed; without statistics the joins below plan badly.
        sqlx::raw_sql("analyze report_staging")
            .execute(&mut **tx)
            .await
            .context("analysing the staged reports")?;
        Ok(())
    }

    /// Stores the staged reports whose key is free; finds the stored ids of the others. Returns
    /// an outcome for each staged index (`None` elsewhere).
    async fn merge(
        tx: &mut Transaction<'_, Postgres>,
        staged: &[usize],
        batch_len: usize,
    ) -> Result<Vec<Option<Inserted>>, StoreError> {
        let mut outcome: Vec<Option<Inserted>> = vec![None; batch_len];
        // Temp-table statements are not kept prepared: the table is new in every batch.
        let mut stored = sqlx::query_as::<_, (i64, i64)>(MERGE_STAGING)
            .persistent(false)
            .fetch(&mut **tx);
        while let Some((ord, id)) = stored.try_next().await.context("storing reports")? {
            *slot(&mut outcome, ord)? = Some(Inserted::New(id));
        }
        drop(stored);
        let taken: Vec<i64> = staged
            .iter()
            .filter(|&&i| outcome[i].is_none())
            .map(|&i| i as i64)
            .collect();
        if taken.is_empty() {
            return Ok(outcome);
        }
        let mut found = sqlx::query_as::<_, (i64, i64)>(EXISTING_IDS)
            .persistent(false)
            .bind(&taken)
            .fetch(&mut **tx);
        while let Some((ord, id)) = found
            .try_next()
            .await
            .context("looking up stored reports")?
        {
            *slot(&mut outcome, ord)? = Some(Inserted::Duplicate(id));
        }
        Ok(outcome)
    }
}

/// Which reports of a batch go to the database: within the batch, a repeated key is a duplicate
/// of its first occurrence, so only first occurrences (and reports without a key) are staged.
struct BatchPlan {
    staged: Vec<usize>,
    /// For each report, the index of its key's first occurrence when it repeats one.
    repeat_of: Vec<Option<usize>>,
}

impl BatchPlan {
    fn new(reports: &[NewReport]) -> Self {
        let mut first_of: HashMap<(&str, &str), usize> = HashMap::new();
        let mut plan = Self {
            staged: Vec::with_capacity(reports.len()),
            repeat_of: vec![None; reports.len()],
        };
        for (i, r) in reports.iter().enumerate() {
            let Some(ext) = r.external_id.as_deref() else {
                plan.staged.push(i);
                continue;
            };
            match first_of.entry((r.source.as_str(), ext)) {
                Entry::Occupied(first) => plan.repeat_of[i] = Some(*first.get()),
                Entry::Vacant(slot) => {
                    slot.insert(i);
                    plan.staged.push(i);
                }
            }
        }
        plan
    }

    /// One outcome per report, in input order, from the outcomes of the staged ones.
    fn resolve(&self, outcome: &[Option<Inserted>]) -> Result<Vec<Inserted>, StoreError> {
        (0..outcome.len())
            .map(|i| {
                let o = match self.repeat_of[i] {
                    Some(first) => outcome[first].map(|o| Inserted::Duplicate(o.id())),
                    None => outcome[i],
                };
                o.ok_or_else(|| StoreError::Corrupt {
                    what: format!("report {i} of the batch"),
                    message: "it was neither stored nor found stored".into(),
                })
            })
            .collect()
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

/// Streams `items`, encoded by `encode` as COPY text rows, in chunks of [`COPY_CHUNK_BYTES`].
async fn copy_in<T>(
    tx: &mut Transaction<'_, Postgres>,
    statement: &'static str,
    items: impl Iterator<Item = T> + Send,
    mut encode: impl FnMut(&mut Vec<u8>, T) + Send,
) -> Result<(), StoreError> {
    let mut copy = tx.copy_in_raw(statement).await.context("starting a COPY")?;
    let mut buf = Vec::with_capacity(COPY_CHUNK_BYTES + (64 << 10));
    let mut sent = Ok(());
    for item in items {
        encode(&mut buf, item);
        if buf.len() >= COPY_CHUNK_BYTES {
            sent = copy.send(buf.as_slice()).await.map(|_| ());
            buf.clear();
            if sent.is_err() {
                break;
            }
        }
    }
    if sent.is_ok() && !buf.is_empty() {
        sent = copy.send(buf.as_slice()).await.map(|_| ());
    }
    match sent {
        Ok(()) => copy.finish().await.map(|_| ()).context("finishing a COPY"),
        Err(e) => {
            // Leave the connection usable; the send error is the one worth reporting.
            let _ = copy.abort("hotspots: sending COPY data failed").await;
            Err(e).context("streaming COPY data")
        }
    }
}

/// One row of PostgreSQL's COPY text format: tab-separated, `\N` for null, backslash escapes.
struct CopyRow<'a> {
    buf: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> CopyRow<'a> {
    fn new(buf: &'a mut Vec<u8>) -> Self {
        Self { buf, first: true }
    }
    fn sep(&mut self) {
        if !self.first {
            self.buf.push(b'\t');
        }
        self.first = false;
    }
    fn text(&mut self, s: &str) {
        self.sep();
        // Byte-wise is safe: these ASCII bytes never occur inside a UTF-8 multi-byte sequence.
        for b in s.bytes() {
            match b {
                b'\\' => self.buf.extend_from_slice(b"\\\\"),
                b'\t' => self.buf.extend_from_slice(b"\\t"),
                b'\n' => self.buf.extend_from_slice(b"\\n"),
                b'\r' => self.buf.extend_from_slice(b"\\r"),
                _ => self.buf.push(b),
            }
        }
    }
    fn opt_text(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.text(s),
            None => {
                self.sep();
                self.buf.extend_from_slice(b"\\N");
            }
        }
    }
    fn opt_time(&mut self, t: Option<&DateTime<Utc>>) {
        // Microseconds: PostgreSQL's own resolution.
        self.opt_text(
            t.map(|t| t.to_rfc3339_opts(SecondsFormat::Micros, true))
                .as_deref(),
        );
    }
    /// bytea in hex form, `\x…`, its backslash doubled by the text format.
    fn bytea(&mut self, bytes: &[u8]) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        self.sep();
        self.buf.extend_from_slice(b"\\\\x");
        for b in bytes {
            self.buf.push(HEX[usize::from(b >> 4)]);
            self.buf.push(HEX[usize::from(b & 0xf)]);
        }
    }
    fn end(self) {
        self.buf.push(b'\n');
    }
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
    })
}

/// The slot of staged row `ord`, which the database handed back.
fn slot(outcome: &mut [Option<Inserted>], ord: i64) -> Result<&mut Option<Inserted>, StoreError> {
    usize::try_from(ord)
        .ok()
        .and_then(|i| outcome.get_mut(i))
        .ok_or_else(|| StoreError::Corrupt {
            what: "the report staging table".into(),
            message: format!("row number {ord} is not in the batch"),
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
        // Byte order ("C"), as `WardSet` sorts codes, whatever the database's collation.
        let rows = sqlx::query(
            "select code, name, st_asbinary(geom) as wkb, area_km2, population from ward \
             order by code collate \"C\"",
        )
        .fetch_all(&self.pool)
        .await
        .context("reading wards")?;
        rows.iter()
            .map(|row| {
                let code: String = row.try_get("code").context("decoding a ward row")?;
                let bytes: Vec<u8> = row.try_get("wkb").context("decoding a ward row")?;
                let geometry =
                    wkb::read_multipolygon(&bytes).map_err(|source| StoreError::Geometry {
                        what: format!("ward {code}"),
                        source,
                    })?;
                let population: Option<i64> =
                    row.try_get("population").context("decoding a ward row")?;
                Ok(Ward {
                    name: row.try_get("name").context("decoding a ward row")?,
                    geometry,
                    area_km2: row.try_get("area_km2").context("decoding a ward row")?,
                    population: population.map(|p| u64::try_from(p).unwrap_or(0)),
                    code,
                })
            })
            .collect()
    }

    async fn replace_wards(&self, wards: &WardSet) -> Result<u64, StoreError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .context("starting the ward transaction")?;
        // Report writers wait until the new wards are in and every report re-assigned, so no
        // report committed meanwhile keeps a ward of the old set. The mode conflicts with itself,
        // so two replacements queue rather than deadlock.
        sqlx::raw_sql("lock table report in share row exclusive mode")
            .execute(&mut *tx)
            .await
            .context("locking reports against writers")?;
        sqlx::query("delete from ward")
            .execute(&mut *tx)
            .await
            .context("removing old wards")?;
        let list = wards.wards();
        sqlx::query(INSERT_WARDS)
            .bind(list.iter().map(|w| w.code.clone()).collect::<Vec<_>>())
            .bind(list.iter().map(|w| w.name.clone()).collect::<Vec<_>>())
            .bind(list.iter().map(|w| w.area_km2).collect::<Vec<_>>())
            .bind(
                list.iter()
                    .map(|w| w.population.map(|p| i64::try_from(p).unwrap_or(i64::MAX)))
                    .collect::<Vec<_>>(),
            )
            .bind(
                list.iter()
                    .map(|w| wkb::multipolygon(&w.geometry))
                    .collect::<Vec<_>>(),
            )
            .execute(&mut *tx)
            .await
            .context("inserting wards")?;
        let changed = reassign(&mut tx, wards).await?;
        tx.commit().await.context("committing wards")?;
        Ok(changed)
    }

    async fn insert_reports(&self, reports: &[NewReport]) -> Result<Vec<Inserted>, StoreError> {
        if reports.is_empty() {
            return Ok(Vec::new());
        }
        let plan = BatchPlan::new(reports);
        let mut tx = self
            .pool
            .begin()
            .await
            .context("starting the report transaction")?;
        Self::stage(&mut tx, reports, &plan.staged).await?;
        let outcome = Self::merge(&mut tx, &plan.staged, reports.len()).await?;
        // Resolved before committing: a batch we cannot account for is not stored at all.
        let result = plan.resolve(&outcome)?;
        tx.commit().await.context("committing reports")?;
        Ok(result)
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
            let report = report_from_row(&row)?.into_report()?;
            by_id.insert(report.id, report);
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
             due_at, resolved_at from report order by id",
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
            });
        }
        Ok(out)
    }

    async fn count_reports(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("select count(*) from report")
            .fetch_one(&self.pool)
            .await
            .context("counting reports")?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn reporter_contact(&self, id: ReportId) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar("select contact from report_contact where report_id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .context("reading a reporter contact")
    }
}

/// Re-computes every report's ward against `wards` in Rust (the same locator the write path
/// uses, so both agree on boundary points); writes back only the changes. Returns their count.
async fn reassign(tx: &mut Transaction<'_, Postgres>, wards: &WardSet) -> Result<u64, StoreError> {
    let mut changes: Vec<(i64, Option<&str>)> = Vec::new();
    {
        let mut rows = sqlx::query_as::<_, (i64, f64, f64, Option<String>)>(
            "select id, st_x(geom), st_y(geom), ward from report",
        )
        .fetch(&mut **tx);
        while let Some((id, lon, lat, old)) =
            rows.try_next().await.context("reading report locations")?
        {
            let new = wards.locate_code(lon, lat);
            if old.as_deref() != new {
                changes.push((id, new));
            }
        }
    }
    if changes.is_empty() {
        return Ok(0);
    }
    sqlx::raw_sql(
        "create temp table ward_change (id bigint primary key, ward text) on commit drop",
    )
    .execute(&mut **tx)
    .await
    .context("preparing ward changes")?;
    copy_in(
        tx,
        "copy ward_change (id, ward) from stdin",
        changes.iter(),
        |buf, (id, ward)| {
            let mut row = CopyRow::new(buf);
            row.text(&id.to_string());
            row.opt_text(*ward);
            row.end();
        },
    )
    .await?;
    sqlx::raw_sql(
        "analyze ward_change; \
         update report r set ward = c.ward from ward_change c where r.id = c.id",
    )
    .execute(&mut **tx)
    .await
    .context("applying ward changes")?;
    Ok(changes.len() as u64)
}
