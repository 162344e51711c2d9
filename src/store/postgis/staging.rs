//! The slow but always-safe way to store a batch: `COPY` into a temporary staging table, then
//! one `insert … select … on conflict do nothing returning` into `report`. Every row is written
//! twice, so [`super::insert`] uses it only when a concurrent writer beat its fast path to a key.

use super::super::{Context, Inserted, StoreError, wkb};
use super::copy::copy_in;
use super::insert::BatchPlan;
use crate::model::NewReport;
use futures_util::TryStreamExt;
use sqlx::{PgPool, Postgres, Transaction};

/// One staged row per report to store; `id` is drawn from the report sequence in COPY order, so
/// ids rise with input order and each staged row knows its id before the merge (which therefore
/// needs no `order by`: sorting a million staged rows spilled to disk and cost a fifth of it).
const CREATE_STAGING: &str = "create temp table report_staging (
    ord bigint not null, id bigint not null default nextval('report_id_seq'), geom bytea not null,
    source text not null, external_id text, category text not null, description text,
    address text, ward text, agency text, status text not null, created_at timestamptz not null,
    due_at timestamptz, resolved_at timestamptz, satisfaction smallint, channel text,
    attributes jsonb not null, outside_bounds boolean not null, contact text
  ) on commit drop";

const COPY_STAGING: &str = "copy report_staging (ord, geom, source, external_id, category, \
    description, address, ward, agency, status, created_at, due_at, resolved_at, satisfaction, \
    channel, attributes, outside_bounds, contact) from stdin";

/// Stores the staged reports whose key is not taken yet, and their contacts; returns (ord, id)
/// of those stored. A report arriving already resolved was last updated at its resolution, as in
/// the GeoPackage store.
const MERGE_STAGING: &str = "with inserted as (
    insert into report (id, geom, source, external_id, category, description, address, ward,
      agency, status, created_at, updated_at, due_at, resolved_at, satisfaction, channel,
      attributes, outside_bounds)
    select id, st_geomfromwkb(geom, 4326), source, external_id, category, description, address,
      ward, agency, status, created_at, coalesce(resolved_at, created_at), due_at, resolved_at,
      satisfaction, channel, attributes, outside_bounds
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

/// Stores `reports` (planned as `plan`) in one transaction through the staging table.
pub(super) async fn insert(
    pool: &PgPool,
    reports: &[NewReport],
    plan: &BatchPlan,
) -> Result<Vec<Inserted>, StoreError> {
    let mut tx = pool
        .begin()
        .await
        .context("starting the report transaction")?;
    stage(&mut tx, reports, &plan.staged).await?;
    let outcome = merge(&mut tx, &plan.staged, reports.len()).await?;
    // Resolved before committing: a batch we cannot account for is not stored at all.
    let result = plan.resolve(&outcome)?;
    tx.commit().await.context("committing reports")?;
    Ok(result)
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
    copy_in(tx, COPY_STAGING, rows, |row, (ord, r)| {
        row.int(ord as i64);
        row.bytea(&wkb::point(r.lon.get(), r.lat.get()));
        row.text(&r.source);
        row.opt_text(r.external_id.as_deref());
        row.text(&r.category);
        row.opt_text(r.description.as_deref());
        row.opt_text(r.address.as_deref());
        row.opt_text(r.ward.as_deref());
        row.opt_text(r.agency.as_deref());
        row.text(r.status.as_str());
        row.time(&r.created_at);
        row.opt_time(r.due_at.as_ref());
        row.opt_time(r.resolved_at.as_ref());
        match r.satisfaction {
            Some(s) => row.int(i64::from(s.get())),
            None => row.null(),
        }
        row.opt_text(r.channel.as_deref());
        row.json(&r.attributes);
        row.boolean(r.outside_bounds);
        row.opt_text(r.reporter_contact.as_deref());
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
