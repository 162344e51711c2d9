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

/// Batches of at least this many reports defer the R*Tree to a bulk build. HTTP bodies (1 MiB)
/// cannot hold this many, so only imports take that path.
pub(super) const BULK_ROWS: usize = 10_000;

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
        // The unique key index of a million reports stays cached (SQLite's 2 MB default
        // thrashes); given back after the batch so idle connections stay small.
        sqlx::query("pragma cache_size = -65536")
            .execute(&mut *conn)
            .await
            .context("growing the page cache")?;
    }
    let result = write(&mut conn, private, reports, bulk).await;
    if bulk {
        sqlx::query("pragma cache_size = -2000")
            .execute(&mut *conn)
            .await
            .context("shrinking the page cache")?;
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
    for chunk in fresh.chunks(ROWS_PER_INSERT) {
        let batch: Vec<&NewReport> = chunk.iter().map(|&i| &reports[i]).collect();
        let ids = insert_chunk(&mut tx, &batch).await?;
        for ((&i, id), r) in chunk.iter().zip(ids).zip(batch) {
            if let Some(id) = id {
                outcome[i] = Some(Inserted::New(id));
                stored.push((id, r));
            }
        }
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

async fn insert_chunk(
    conn: &mut SqliteConnection,
    chunk: &[&NewReport],
) -> Result<Vec<Option<ReportId>>, StoreError> {
    let before = last_id(conn).await?;
    let mut q = QueryBuilder::<Sqlite>::new(
        "insert into report (geom, source, external_id, category, description, address, ward, agency, \
         status, created_at, updated_at, due_at, resolved_at, satisfaction, channel, attributes) ",
    );
    q.push_values(chunk, |mut b, r| {
        b.push_bind(wkb::to_gpkg(
            &wkb::point(r.lon.get(), r.lat.get()),
            4326,
            None,
        ))
        .push_bind(r.source.as_str())
        .push_bind(r.external_id.as_deref())
        .push_bind(r.category.as_str())
        .push_bind(r.description.as_deref())
        .push_bind(r.address.as_deref())
        .push_bind(r.ward.as_deref())
        .push_bind(r.agency.as_deref())
        .push_bind(r.status.as_str())
        .push_bind(format_time(&r.created_at))
        .push_bind(format_time(&r.resolved_at.unwrap_or(r.created_at)))
        .push_bind(r.due_at.as_ref().map(format_time))
        .push_bind(r.resolved_at.as_ref().map(format_time))
        .push_bind(r.satisfaction.map(|s| i64::from(s.get())))
        .push_bind(r.channel.as_deref())
        .push_bind(r.attributes.to_string());
    });
    q.push(" on conflict (source, external_id) do nothing");
    let done = q
        .build()
        .execute(&mut *conn)
        .await
        .context("inserting reports")?;
    if done.rows_affected() as usize == chunk.len() {
        return Ok((1..=chunk.len() as i64).map(|k| Some(before + k)).collect());
    }
    // Some rows were duplicates: the stored ones are the rows after `before`, in VALUES order.
    let rows =
        sqlx::query("select fid, source, external_id from report where fid > ? order by fid")
            .bind(before)
            .fetch_all(&mut *conn)
            .await
            .context("reading inserted ids")?;
    let mut inserted: HashSet<(String, String)> = HashSet::new();
    let mut fids = Vec::with_capacity(rows.len());
    for row in &rows {
        fids.push(row.try_get::<i64, _>(0).context("reading an inserted id")?);
        if let Some(ext) = row
            .try_get::<Option<String>, _>(2)
            .context("reading an inserted key")?
        {
            inserted.insert((row.try_get(1).context("reading an inserted key")?, ext));
        }
    }
    let mut next = fids.into_iter();
    Ok(chunk
        .iter()
        .map(|r| match &r.external_id {
            Some(ext) if !inserted.contains(&(r.source.clone(), ext.clone())) => None,
            _ => next.next(),
        })
        .collect())
}
