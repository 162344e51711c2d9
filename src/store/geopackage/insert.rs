//! Storing batches of reports: rows, the spatial index and (in the private file) contacts, in
//! one transaction, with duplicates (same source and external id) recognised.
//!
//! Shaped for imports: multi-row INSERTs without RETURNING (SQLite hands rows back through
//! sqlx one message at a time). AUTOINCREMENT gives the rows of one statement consecutive ids
//! after the highest ever handed out, so when every row went in, their ids are known without
//! asking; only when some were duplicates are the new rows read back. Large batches leave the
//! R*Tree to one bulk build (`rtree.rs`) instead of ~12 µs per point.

use super::super::{Context, Inserted, StoreError, format_time, wkb};
use super::private::Private;
use super::{ROWS_PER_INSERT, rtree, schema};
use crate::model::{NewReport, ReportId};
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool};
use std::collections::{HashMap, HashSet};

/// Batches of at least this many reports defer the R*Tree to a bulk build. Only imports send
/// batches this large (the API stores one report a request; an import sends batches of
/// 10,000, fewer when rows are rejected).
pub(super) const BULK_ROWS: usize = 5_000;

/// Rows per INSERT of the JSON shape (two bound values, whatever the size).
const ROWS_PER_JSON: usize = 5000;

/// For a bulk batch, on its connection only: a 64 MB page cache, so the unique key index of a
/// million reports stays cached (SQLite's 2 MB default thrashes), given back afterwards so idle
/// connections stay small; `synchronous = NORMAL`, so a commit does not wait for the disk (WAL
/// mode stays consistent after a power cut, which may lose the last batches: an import is
/// re-run to completion and stores each row once; closing the store checkpoints and syncs);
/// and a checkpoint every 64 MB of WAL instead of every 4 MB, so index pages that every batch
/// touches are copied into the file once per checkpoint rather than once per batch.
const BULK_ON: &str =
    "pragma cache_size = -65536; pragma synchronous = NORMAL; pragma wal_autocheckpoint = 16384;";
const BULK_OFF: &str =
    "pragma cache_size = -2000; pragma synchronous = FULL; pragma wal_autocheckpoint = 1000;";

/// What a batch did to the R*Tree.
pub(super) enum Rtree {
    Current,
    /// Rows were stored without their R*Tree entries (the stale mark is set).
    Deferred,
}

pub(super) async fn reports(
    pool: &SqlitePool,
    private: &Private,
    reports: &[NewReport],
) -> Result<(Vec<Inserted>, Rtree), StoreError> {
    let mut conn = pool.acquire().await.context("acquiring a connection")?;
    let bulk = reports.len() >= BULK_ROWS;
    if bulk {
        sqlx::raw_sql(BULK_ON)
            .execute(&mut *conn)
            .await
            .context("setting up a bulk batch")?;
    }
    let result = write(&mut conn, private, reports, bulk).await;
    if bulk {
        sqlx::raw_sql(BULK_OFF)
            .execute(&mut *conn)
            .await
            .context("ending a bulk batch")?;
    }
    result
}

async fn write(
    conn: &mut SqliteConnection,
    private: &Private,
    reports: &[NewReport],
    bulk: bool,
) -> Result<(Vec<Inserted>, Rtree), StoreError> {
    let mut tx = schema::begin_write(conn, schema::REPORT).await?;
    let first_id = last_id(&mut tx).await? + 1;
    let mut outcome: Vec<Option<Inserted>> = vec![None; reports.len()];
    // A key repeated within the batch is a duplicate of its first occurrence.
    let mut seen: HashSet<(&str, &str)> = HashSet::new();
    let fresh: Vec<usize> = (0..reports.len())
        .filter(|&i| match &reports[i].external_id {
            Some(ext) => seen.insert((reports[i].source.as_str(), ext.as_str())),
            None => true,
        })
        .collect();
    let mut stored: Vec<(ReportId, &NewReport)> = Vec::with_capacity(fresh.len());
    let chunks: Vec<(&[usize], Vec<&NewReport>)> = fresh
        .chunks(ROWS_PER_JSON)
        .map(|c| (c, c.iter().map(|&i| &reports[i]).collect()))
        .collect();
    // Each chunk owns the ids `base + 1 ..= base + len` (the write lock is held); while SQLite
    // stores one chunk on its worker thread, this thread encodes the next.
    let mut base = first_id - 1;
    let mut encoded = chunks.first().map(|(_, b)| encode(b)).transpose()?;
    for (k, (indices, batch)) in chunks.iter().enumerate() {
        let Some(this) = encoded.take() else { break };
        let following = chunks.get(k + 1);
        let (done, next) = tokio::join!(insert_encoded(&mut tx, this, base), async {
            following.map(|(_, b)| encode(b)).transpose()
        });
        let (done, next) = (done?, next?);
        encoded = next;
        let ids = assigned_ids(&mut tx, batch.len(), base, done).await?;
        for ((&i, id), r) in indices.iter().zip(ids).zip(batch) {
            if let Some(id) = id {
                outcome[i] = Some(Inserted::New(id));
                stored.push((id, *r));
            }
        }
        base += batch.len() as i64;
    }
    let stale = stale(&mut tx).await?;
    let rtree = if stored.is_empty() {
        if stale {
            Rtree::Deferred
        } else {
            Rtree::Current
        }
    } else if bulk {
        sqlx::query("insert into hotspots_setting (key, value) values (?, '1') on conflict (key) do nothing")
            .bind(rtree::STALE_KEY)
            .execute(&mut *tx)
            .await
            .context("marking the R*Tree stale")?;
        Rtree::Deferred
    } else if stale {
        rtree::rebuild(&mut tx).await?;
        Rtree::Current
    } else {
        index(&mut tx, &stored).await?;
        Rtree::Current
    };
    let outcome = with_duplicates(&mut tx, reports, outcome).await?;
    if !stored.is_empty() {
        let contacts: Vec<(ReportId, &str)> = stored
            .iter()
            .filter_map(|(id, r)| r.reporter_contact.as_deref().map(|c| (*id, c)))
            .collect();
        // Committed before the reports are: see private.rs for why this order.
        private.store(first_id, &contacts).await?;
    }
    super::version::bump(&mut tx).await?;
    schema::commit_write(tx).await?;
    Ok((outcome, rtree))
}

/// The highest id AUTOINCREMENT has handed out (rows deleted by a GIS user included).
async fn last_id(conn: &mut SqliteConnection) -> Result<ReportId, StoreError> {
    sqlx::query_scalar(
        "select max(ifnull((select seq from sqlite_sequence where name = 'report'), 0), \
         ifnull((select max(fid) from report), 0))",
    )
    .fetch_one(conn)
    .await
    .context("reading the last report id")
}

async fn stale(conn: &mut SqliteConnection) -> Result<bool, StoreError> {
    sqlx::query_scalar("select exists (select 1 from hotspots_setting where key = ?)")
        .bind(rtree::STALE_KEY)
        .fetch_one(conn)
        .await
        .context("reading the R*Tree state")
}

async fn index(
    conn: &mut SqliteConnection,
    stored: &[(ReportId, &NewReport)],
) -> Result<(), StoreError> {
    for chunk in stored.chunks(ROWS_PER_INSERT) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "insert into rtree_report_geom (id, minx, maxx, miny, maxy) ",
        );
        q.push_values(chunk, |mut b, (id, r)| {
            let (x, y) = (r.lon.get(), r.lat.get());
            b.push_bind(*id)
                .push_bind(x)
                .push_bind(x)
                .push_bind(y)
                .push_bind(y);
        });
        q.build()
            .execute(&mut *conn)
            .await
            .context("indexing reports")?;
    }
    Ok(())
}

/// Fills in the ids of duplicates (stored before, or repeated in the batch). Only they are
/// looked up, so a first import of a file does no look-ups at all.
async fn with_duplicates(
    conn: &mut SqliteConnection,
    reports: &[NewReport],
    outcome: Vec<Option<Inserted>>,
) -> Result<Vec<Inserted>, StoreError> {
    let keys: Vec<&str> = outcome
        .iter()
        .zip(reports)
        .filter(|(o, _)| o.is_none())
        .filter_map(|(_, r)| r.external_id.as_deref())
        .collect();
    let mut known: HashMap<(String, String), ReportId> = HashMap::new();
    for chunk in keys.chunks(ROWS_PER_INSERT * 8) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "select fid, source, external_id from report where external_id in (",
        );
        let mut list = q.separated(", ");
        for key in chunk {
            list.push_bind(*key);
        }
        q.push(")");
        for row in q
            .build()
            .fetch_all(&mut *conn)
            .await
            .context("looking up external ids")?
        {
            known.insert((row.get(1), row.get(2)), row.get(0));
        }
    }
    outcome
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
        .collect()
}

/// One statement per chunk: its rows in one JSON array (fields by position), its GeoPackage
/// point blobs concatenated in one blob (29 bytes each), and its `attributes` texts concatenated
/// in another (each row holds its byte span). Binding 16 values per row cost two allocations
/// each in sqlx plus a 16,000-parameter statement, and the profile of an import showed that
/// Rust-side work, not SQLite's, was most of the store's time. `jsonb_each` hands each row to
/// SQLite as binary JSON, so the `->>` reads are cheap; the attributes, most of a row's bytes,
/// are never parsed by SQLite at all (a blob `substr` is a byte slice). Ids are given, not
/// drawn: `?4 + key + 1`, so they never depend on the order SQLite inserts in; a row refused
/// as a duplicate leaves its id unused (as PostgreSQL's sequences do).
const INSERT_JSON: &str = "insert into report (fid, geom, source, external_id, category, \
     description, address, ward, agency, status, created_at, updated_at, due_at, resolved_at, \
     satisfaction, channel, attributes, outside_bounds) \
     select ?4 + key + 1, substr(?2, key * 29 + 1, 29), value ->> 0, value ->> 1, value ->> 2, \
     value ->> 3, value ->> 4, value ->> 5, value ->> 6, value ->> 7, value ->> 8, value ->> 9, \
     value ->> 10, value ->> 11, value ->> 12, value ->> 13, \
     cast(substr(?3, value ->> '$[14][0]', value ->> '$[14][1]') as text), value ->> 15 \
     from jsonb_each(?1) where true \
     on conflict (source, external_id) do nothing";

/// A chunk ready for [`INSERT_JSON`]: rows, points, attributes.
struct Encoded(String, Vec<u8>, Vec<u8>);

/// A report's fields in the order INSERT_JSON reads them.
type Fields<'a> = (
    &'a str,
    Option<&'a str>,
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    &'a str,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<&'a str>,
    (usize, usize),
    bool,
);

fn encode(chunk: &[&NewReport]) -> Result<Encoded, StoreError> {
    let corrupt = |e: serde_json::Error| StoreError::Corrupt {
        what: "a batch of reports as JSON".into(),
        message: e.to_string(),
    };
    let mut points = Vec::with_capacity(chunk.len() * 29);
    let mut attributes = Vec::with_capacity(chunk.len() * 256);
    let mut rows: Vec<Fields> = Vec::with_capacity(chunk.len());
    for r in chunk {
        let blob = wkb::to_gpkg(&wkb::point(r.lon.get(), r.lat.get()), 4326, None);
        if blob.len() != 29 {
            return Err(StoreError::Corrupt {
                what: "a point's GeoPackage blob".into(),
                message: format!("{} bytes, expected 29", blob.len()),
            });
        }
        points.extend_from_slice(&blob);
        let start = attributes.len();
        serde_json::to_writer(&mut attributes, &r.attributes).map_err(corrupt)?;
        rows.push((
            &r.source,
            r.external_id.as_deref(),
            &r.category,
            r.description.as_deref(),
            r.address.as_deref(),
            r.ward.as_deref(),
            r.agency.as_deref(),
            r.status.as_str(),
            time_text(&r.created_at),
            time_text(&r.resolved_at.unwrap_or(r.created_at)),
            r.due_at.as_ref().map(time_text),
            r.resolved_at.as_ref().map(time_text),
            r.satisfaction.map(|s| i64::from(s.get())),
            r.channel.as_deref(),
            (start + 1, attributes.len() - start),
            r.outside_bounds,
        ));
    }
    let text = serde_json::to_string(&rows).map_err(corrupt)?;
    Ok(Encoded(text, points, attributes))
}

/// [`format_time`] without chrono's format-string parsing (a visible share of an import's
/// profile); the same text for years 0–9999, which is every time the model accepts in practice.
fn time_text(t: &chrono::DateTime<chrono::Utc>) -> String {
    use chrono::{Datelike, Timelike};
    if !(0..=9999).contains(&t.year()) {
        return format_time(t);
    }
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.timestamp_subsec_millis().min(999)
    )
}

/// Runs one chunk's INSERT; returns how many rows went in.
async fn insert_encoded(
    conn: &mut SqliteConnection,
    Encoded(rows, points, attributes): Encoded,
    base: ReportId,
) -> Result<u64, StoreError> {
    let done = sqlx::query(INSERT_JSON)
        .bind(rows)
        .bind(points)
        .bind(attributes)
        .bind(base)
        .execute(conn)
        .await
        .context("inserting reports")?;
    Ok(done.rows_affected())
}

/// The id of each row of a chunk stored at `base + 1 ..`, or `None` for a duplicate.
async fn assigned_ids(
    conn: &mut SqliteConnection,
    len: usize,
    base: ReportId,
    inserted: u64,
) -> Result<Vec<Option<ReportId>>, StoreError> {
    let all = (1..=len as i64).map(|k| base + k);
    if inserted as usize == len {
        return Ok(all.map(Some).collect());
    }
    let present: HashSet<i64> =
        sqlx::query_scalar("select fid from report where fid > ? and fid <= ?")
            .bind(base)
            .bind(base + len as i64)
            .fetch_all(conn)
            .await
            .context("reading inserted ids")?
            .into_iter()
            .collect();
    Ok(all.map(|id| present.contains(&id).then_some(id)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn time_text_is_format_time() {
        let times = [
            chrono::Utc.with_ymd_and_hms(2024, 3, 5, 7, 8, 9).single(),
            chrono::Utc.timestamp_millis_opt(1_717_200_000_123).single(),
            chrono::Utc.with_ymd_and_hms(12, 1, 1, 0, 0, 0).single(),
            chrono::Utc.with_ymd_and_hms(10_000, 1, 1, 0, 0, 0).single(),
        ];
        for t in times.into_iter().map(|t| t.expect("a valid time")) {
            assert_eq!(time_text(&t), format_time(&t));
        }
    }
}
