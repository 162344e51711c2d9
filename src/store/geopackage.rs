//! The embedded store: an OGC GeoPackage file (SQLite), which QGIS and GDAL open as it is.

mod scan;

use super::rows::{self, ReportRow};
use super::{
    Context, Inserted, ReportSummary, Store, StoreError, apply_change, format_time, parse_time, wkb,
};
use crate::model::{NewReport, Report, ReportId, StatusChange, Ward};
use crate::wards::WardSet;
use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool, Transaction};
use std::collections::{HashMap, HashSet};
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
     agency, status, created_at, updated_at, due_at, resolved_at, satisfaction, channel, attributes";

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
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(scan::PARTS as u32)
            .connect_with(options)
            .await
            .context("opening the GeoPackage file")?;
        let store = Self { pool };
        store.create_schema_if_new().await?;
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
            return Ok(());
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

    async fn existing_ids(
        tx: &mut Transaction<'_, Sqlite>,
        reports: &[&NewReport],
    ) -> Result<HashMap<(String, String), ReportId>, StoreError> {
        let keys: Vec<&str> = reports
            .iter()
            .filter_map(|r| r.external_id.as_deref())
            .collect();
        let mut found = HashMap::new();
        for chunk in keys.chunks(ROWS_PER_INSERT * 8) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "select fid, source, external_id from report where external_id in (",
            );
            let mut list = q.separated(", ");
            for key in chunk {
                list.push_bind(key.to_string());
            }
            q.push(")");
            let rows = q
                .build()
                .fetch_all(&mut **tx)
                .await
                .context("looking up external ids")?;
            for row in rows {
                let key = (row.get::<String, _>(1), row.get::<String, _>(2));
                found.insert(key, row.get::<i64, _>(0));
            }
        }
        Ok(found)
    }

    async fn insert_chunk(
        tx: &mut Transaction<'_, Sqlite>,
        chunk: &[&NewReport],
    ) -> Result<Vec<Option<ReportId>>, StoreError> {
        let mut q = QueryBuilder::<Sqlite>::new(
            "insert into report (geom, source, external_id, category, description, address, ward, agency, \
             status, created_at, updated_at, due_at, resolved_at, satisfaction, channel, attributes) ",
        );
        q.push_values(chunk, |mut b, r| {
            let created = format_time(&r.created_at);
            b.push_bind(wkb::to_gpkg(
                &wkb::point(r.lon.get(), r.lat.get()),
                4326,
                None,
            ))
            .push_bind(r.source.clone())
            .push_bind(r.external_id.clone())
            .push_bind(r.category.clone())
            .push_bind(r.description.clone())
            .push_bind(r.address.clone())
            .push_bind(r.ward.clone())
            .push_bind(r.agency.clone())
            .push_bind(r.status.as_str())
            .push_bind(created)
            .push_bind(format_time(&r.resolved_at.unwrap_or(r.created_at)))
            .push_bind(r.due_at.as_ref().map(format_time))
            .push_bind(r.resolved_at.as_ref().map(format_time))
            .push_bind(r.satisfaction.map(|s| i64::from(s.get())))
            .push_bind(r.channel.clone())
            .push_bind(r.attributes.to_string());
        });
        q.push(" on conflict (source, external_id) do nothing returning fid, source, external_id");
        let returned = q
            .build()
            .fetch_all(&mut **tx)
            .await
            .context("inserting reports")?;
        let mut inserted_keys: HashSet<(String, String)> = HashSet::new();
        let mut fids: Vec<i64> = Vec::with_capacity(returned.len());
        for row in &returned {
            fids.push(row.try_get(0).context("reading an inserted id")?);
            if let Some(ext) = row
                .try_get::<Option<String>, _>(2)
                .context("reading an inserted key")?
            {
                inserted_keys.insert((row.try_get(1).context("reading an inserted key")?, ext));
            }
        }
        // AUTOINCREMENT hands out rising ids in VALUES order (skipping rows that conflicted);
        // RETURNING's own order is unspecified, so sort.
        fids.sort_unstable();
        let mut next = fids.into_iter();
        let assigned: Vec<Option<i64>> = chunk
            .iter()
            .map(|r| match &r.external_id {
                Some(ext) if !inserted_keys.contains(&(r.source.clone(), ext.clone())) => None,
                _ => next.next(),
            })
            .collect();
        let stored: Vec<(i64, &NewReport)> = assigned
            .iter()
            .zip(chunk)
            .filter_map(|(id, r)| id.map(|id| (id, *r)))
            .collect();
        if stored.is_empty() {
            return Ok(assigned);
        }

        let mut rtree = QueryBuilder::<Sqlite>::new(
            "insert into rtree_report_geom (id, minx, maxx, miny, maxy) ",
        );
        rtree.push_values(&stored, |mut b, (id, r)| {
            let (x, y) = (r.lon.get(), r.lat.get());
            b.push_bind(*id)
                .push_bind(x)
                .push_bind(x)
                .push_bind(y)
                .push_bind(y);
        });
        rtree
            .build()
            .execute(&mut **tx)
            .await
            .context("indexing reports")?;

        let contacts: Vec<(i64, &str)> = stored
            .iter()
            .filter_map(|(id, r)| r.reporter_contact.as_deref().map(|c| (*id, c)))
            .collect();
        if !contacts.is_empty() {
            let mut q =
                QueryBuilder::<Sqlite>::new("insert into report_contact (report_fid, contact) ");
            q.push_values(contacts, |mut b, (id, c)| {
                b.push_bind(id).push_bind(c.to_string());
            });
            q.build()
                .execute(&mut **tx)
                .await
                .context("storing reporter contacts")?;
        }
        Ok(assigned)
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
        let rows =
            sqlx::query("select code, name, geom, area_km2, population from ward order by code")
                .fetch_all(&self.pool)
                .await
                .context("reading wards")?;
        rows.iter()
            .map(|row| {
                let code: String = row.get("code");
                let blob: Vec<u8> = row.get("geom");
                let geometry = wkb::from_gpkg(&blob)
                    .and_then(wkb::read_multipolygon)
                    .map_err(|source| StoreError::Geometry {
                        what: format!("ward {code}"),
                        source,
                    })?;
                Ok(Ward {
                    name: row.get("name"),
                    geometry,
                    area_km2: row.get("area_km2"),
                    population: row
                        .get::<Option<i64>, _>("population")
                        .map(|p| p.max(0) as u64),
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
        sqlx::raw_sql("delete from ward; delete from rtree_ward_geom;")
            .execute(&mut *tx)
            .await
            .context("removing old wards")?;
        for ward in wards.wards() {
            let rect = geo::BoundingRect::bounding_rect(&ward.geometry).ok_or_else(|| {
                StoreError::Corrupt {
                    what: format!("ward {}", ward.code),
                    message: "empty geometry".into(),
                }
            })?;
            let (min, max) = (rect.min(), rect.max());
            let blob = wkb::to_gpkg(
                &wkb::multipolygon(&ward.geometry),
                4326,
                Some([min.x, max.x, min.y, max.y]),
            );
            let fid: i64 = sqlx::query_scalar(
                "insert into ward (geom, code, name, area_km2, population) values (?, ?, ?, ?, ?) returning fid",
            )
            .bind(blob)
            .bind(&ward.code)
            .bind(&ward.name)
            .bind(ward.area_km2)
            .bind(ward.population.map(|p| p as i64))
            .fetch_one(&mut *tx)
            .await
            .context("inserting a ward")?;
            sqlx::query("insert into rtree_ward_geom values (?, ?, ?, ?, ?)")
                .bind(fid)
                .bind(min.x)
                .bind(max.x)
                .bind(min.y)
                .bind(max.y)
                .execute(&mut *tx)
                .await
                .context("indexing a ward")?;
        }
        let extent = wards
            .wards()
            .iter()
            .filter_map(|w| geo::BoundingRect::bounding_rect(&w.geometry))
            .reduce(|a, b| {
                geo_types::Rect::new(
                    geo_types::coord! { x: a.min().x.min(b.min().x), y: a.min().y.min(b.min().y) },
                    geo_types::coord! { x: a.max().x.max(b.max().x), y: a.max().y.max(b.max().y) },
                )
            });
        if let Some(r) = extent {
            sqlx::query("update gpkg_contents set min_x = ?, min_y = ?, max_x = ?, max_y = ?, last_change = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') where table_name = 'ward'")
                .bind(r.min().x).bind(r.min().y).bind(r.max().x).bind(r.max().y)
                .execute(&mut *tx).await.context("updating the ward extent")?;
        }
        let changed = reassign(&mut tx, wards).await?;
        tx.commit().await.context("committing wards")?;
        Ok(changed)
    }

    async fn insert_reports(&self, reports: &[NewReport]) -> Result<Vec<Inserted>, StoreError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .context("starting the report transaction")?;
        let mut outcome: Vec<Option<Inserted>> = vec![None; reports.len()];
        // A key repeated within the batch is a duplicate of its first occurrence.
        let mut seen: HashSet<(&str, &str)> = HashSet::new();
        let fresh: Vec<usize> = (0..reports.len())
            .filter(|&i| match &reports[i].external_id {
                Some(ext) => seen.insert((reports[i].source.as_str(), ext.as_str())),
                None => true,
            })
            .collect();
        for chunk in fresh.chunks(ROWS_PER_INSERT) {
            let batch: Vec<&NewReport> = chunk.iter().map(|&i| &reports[i]).collect();
            let ids = Self::insert_chunk(&mut tx, &batch).await?;
            for (&i, id) in chunk.iter().zip(ids) {
                outcome[i] = id.map(Inserted::New);
            }
        }
        // Only duplicates (stored before, or repeated in the batch) need their ids looked up, so a
        // first import of a file does no look-ups at all.
        let missing: Vec<&NewReport> = outcome
            .iter()
            .zip(reports)
            .filter(|(o, _)| o.is_none())
            .map(|(_, r)| r)
            .collect();
        let known = Self::existing_ids(&mut tx, &missing).await?;
        let outcome = outcome
            .into_iter()
            .zip(reports)
            .map(|(o, r)| {
                o.or_else(|| {
                    let key = (r.source.clone(), r.external_id.clone()?);
                    known.get(&key).map(|id| Inserted::Duplicate(*id))
                })
                .ok_or_else(|| StoreError::Corrupt {
                    what: "insert outcome".into(),
                    message: "a report of the batch was neither stored nor found".into(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        tx.commit().await.context("committing reports")?;
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
                let report = report_from_row(&row)?.into_report()?;
                by_id.insert(report.id, report);
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
        tx.commit().await.context("committing a status change")?;
        Ok(report)
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

    async fn reporter_contact(&self, id: ReportId) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar("select contact from report_contact where report_fid = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .context("reading a reporter contact")
    }
}

/// Re-computes every report's ward against `wards`; returns how many changed.
async fn reassign(tx: &mut Transaction<'_, Sqlite>, wards: &WardSet) -> Result<u64, StoreError> {
    let rows = sqlx::query("select fid, geom, ward from report")
        .fetch_all(&mut **tx)
        .await
        .context("reading report locations")?;
    let mut changes: Vec<(i64, Option<String>)> = Vec::new();
    for row in &rows {
        let id: i64 = row.get(0);
        let blob: &[u8] = row.get(1);
        let wkb = wkb::from_gpkg(blob).map_err(|source| StoreError::Geometry {
            what: format!("report {id}"),
            source,
        })?;
        let (lon, lat) = rows::point(wkb, id)?;
        let new = wards.locate_code(lon, lat);
        if row.get::<Option<&str>, _>(2) != new {
            changes.push((id, new.map(str::to_string)));
        }
    }
    sqlx::raw_sql("create temp table if not exists ward_change (fid integer primary key, ward text); delete from ward_change;")
        .execute(&mut **tx)
        .await
        .context("preparing ward changes")?;
    for chunk in changes.chunks(ROWS_PER_INSERT * 8) {
        let mut q = QueryBuilder::<Sqlite>::new("insert into ward_change (fid, ward) ");
        q.push_values(chunk, |mut b, (id, ward)| {
            b.push_bind(*id).push_bind(ward.clone());
        });
        q.build()
            .execute(&mut **tx)
            .await
            .context("staging ward changes")?;
    }
    sqlx::raw_sql(
        "update report set ward = (select c.ward from ward_change c where c.fid = report.fid) \
         where fid in (select fid from ward_change); delete from ward_change;",
    )
    .execute(&mut **tx)
    .await
    .context("applying ward changes")?;
    Ok(changes.len() as u64)
}
