//! Storing batches of reports: multi-row inserts, the spatial index and contacts, in one
//! transaction, with duplicates (same source and external id) recognised.

use super::super::{Context, Inserted, StoreError, format_time, wkb};
use super::ROWS_PER_INSERT;
use crate::model::{NewReport, ReportId};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool, Transaction};
use std::collections::{HashMap, HashSet};

pub(super) async fn reports(
    pool: &SqlitePool,
    reports: &[NewReport],
) -> Result<Vec<Inserted>, StoreError> {
    let mut tx = pool
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
        let ids = insert_chunk(&mut tx, &batch).await?;
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
    let known = existing_ids(&mut tx, &missing).await?;
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
    super::version::bump(&mut tx).await?;
    tx.commit().await.context("committing reports")?;
    Ok(outcome)
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
         status, created_at, updated_at, due_at, resolved_at, satisfaction, channel, attributes, \
         outside_bounds) ",
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
        .push_bind(r.attributes.to_string())
        .push_bind(r.outside_bounds);
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

    let mut rtree =
        QueryBuilder::<Sqlite>::new("insert into rtree_report_geom (id, minx, maxx, miny, maxy) ");
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
