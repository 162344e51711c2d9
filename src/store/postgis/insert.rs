//! Storing a batch of reports. The fast path writes each new report once: it finds which keys of
//! the batch are stored already, draws ids for the others from the report sequence and `COPY`s
//! them straight into `report` (and their contacts into `report_contact`), all in one
//! transaction.
//!
//! Finding stored keys costs about a tenth of the COPY, and a first import finds none. So while
//! batches keep coming back all new ([`FreshHint`]), only a sample of keys is looked up (all of
//! them if the sample finds one) and the unique constraint is trusted with the rest: a batch in
//! which it fires anyway is rolled back and stored again with the full look-up. If it fires even
//! then, another writer stored one of the keys meanwhile (or deadlocked with us over new keys),
//! and the batch is stored through the staging table ([`super::staging`]), whose
//! `on conflict do nothing` merge never fails on a concurrent duplicate. What a call returns
//! never depends on the path taken.

use super::super::{Context, Inserted, StoreError};
use super::copy::copy_in;
use super::staging;
use super::unnest;
use crate::model::NewReport;
use futures_util::TryStreamExt;
use sqlx::{PgPool, Postgres, Transaction};
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::atomic::{AtomicBool, Ordering};

/// The ids of the given keys that are stored, by position (from 1) in the arrays. A nested loop
/// over the unique index whatever the statistics say: with `external_id = any(…)`, a table not
/// analysed yet (autovacuum waits a minute; an import is done sooner) plans as a scan of every
/// row of the source, per batch.
const STORED_KEYS: &str = "select k.i, r.id
    from unnest($1::text[], $2::text[]) with ordinality as k (source, external_id, i)
    join report r on r.source = k.source and r.external_id = k.external_id";

/// Keys looked up when the batch is expected to be new: the first, the last and some between.
const SAMPLE_KEYS: usize = 16;

/// `$1` fresh ids. nextval never hands a value out twice, whoever else is drawing.
const NEXT_IDS: &str =
    "select array(select nextval('report_id_seq') from generate_series(1, $1::int8))";

const COPY_REPORT: &str = "copy report (id, geom, source, external_id, category, description, \
    address, ward, agency, status, created_at, updated_at, due_at, resolved_at, satisfaction, \
    channel, attributes, outside_bounds) from stdin";

const COPY_CONTACT: &str = "copy report_contact (report_id, contact) from stdin";

/// PostgreSQL's SQLSTATEs for a unique violation and a deadlock (two batches inserting the same
/// new keys in different orders): the errors that another writer's batch can cause ours.
const UNIQUE_VIOLATION: &str = "23505";
const DEADLOCK_DETECTED: &str = "40P01";

/// Whether the next batch is expected to hold no stored key. Cleared when a batch's sampled
/// look-up misses a stored key (the COPY then fails and is redone), set again by a full look-up
/// that finds none; so a feed that keeps resending old reports here and there pays one wasted
/// COPY, not one per batch. Only speed depends on it.
#[derive(Debug)]
pub(super) struct FreshHint(pub(super) AtomicBool);

impl Default for FreshHint {
    fn default() -> Self {
        Self(AtomicBool::new(true))
    }
}

/// How much of the batch [`direct`] looks up before its COPY.
#[derive(Clone, Copy)]
pub(super) enum Lookup {
    /// A sample of keys, and all of them if the sample finds one stored.
    Sample,
    All,
}

/// Stores `reports` in one transaction (see the module documentation).
pub(super) async fn insert_reports(
    pool: &PgPool,
    hint: &FreshHint,
    reports: &[NewReport],
) -> Result<Vec<Inserted>, StoreError> {
    if reports.is_empty() {
        return Ok(Vec::new());
    }
    let plan = BatchPlan::new(reports);
    if hint.0.load(Ordering::Relaxed) {
        match direct(pool, reports, &plan, Lookup::Sample).await {
            Err(e) if is_conflict(&e) => hint.0.store(false, Ordering::Relaxed),
            other => return other.map(|(result, _)| result),
        }
    }
    match direct(pool, reports, &plan, Lookup::All).await {
        Ok((result, found_stored)) => {
            hint.0.store(!found_stored, Ordering::Relaxed);
            Ok(result)
        }
        Err(e) if is_conflict(&e) => {
            tracing::debug!(
                rows = reports.len(),
                error = %e,
                "another writer stored a key of the batch meanwhile; storing it through staging"
            );
            staging::insert(pool, reports, &plan).await
        }
        Err(e) => Err(e),
    }
}

/// The fast path. Returns the outcomes and whether the look-up found a key of the batch stored.
pub(super) async fn direct(
    pool: &PgPool,
    reports: &[NewReport],
    plan: &BatchPlan,
    lookup: Lookup,
) -> Result<(Vec<Inserted>, bool), StoreError> {
    let mut tx = pool
        .begin()
        .await
        .context("starting the report transaction")?;
    let mut outcome: Vec<Option<Inserted>> = vec![None; reports.len()];
    let keyed: Vec<usize> = plan
        .staged
        .iter()
        .copied()
        .filter(|&i| reports[i].external_id.is_some())
        .collect();
    let found_stored = match lookup {
        Lookup::All => stored_keys(&mut tx, reports, &keyed, &mut outcome).await?,
        Lookup::Sample => {
            let sample = spread(&keyed, SAMPLE_KEYS);
            stored_keys(&mut tx, reports, &sample, &mut outcome).await?
                && stored_keys(&mut tx, reports, &keyed, &mut outcome).await?
        }
    };
    let fresh: Vec<usize> = plan
        .staged
        .iter()
        .copied()
        .filter(|&i| outcome[i].is_none())
        .collect();
    if !fresh.is_empty() {
        let ids = next_ids(&mut tx, fresh.len()).await?;
        for (&i, &id) in fresh.iter().zip(&ids) {
            outcome[i] = Some(Inserted::New(id));
        }
        let rows: Vec<(i64, &NewReport)> = fresh
            .iter()
            .zip(&ids)
            .map(|(&i, &id)| (id, &reports[i]))
            .collect();
        if rows.len() <= unnest::MAX_ROWS {
            unnest::insert_reports(&mut tx, &rows).await?;
        } else {
            copy_reports(&mut tx, &rows).await?;
        }
    }
    // Resolved before committing: a batch we cannot account for is not stored at all.
    let result = plan.resolve(&outcome)?;
    tx.commit().await.context("committing reports")?;
    Ok((result, found_stored))
}

/// Stores `rows` (id, report) and their reporters' contacts in `tx` with `COPY`.
async fn copy_reports(
    tx: &mut Transaction<'_, Postgres>,
    rows: &[(i64, &NewReport)],
) -> Result<(), StoreError> {
    copy_in(tx, COPY_REPORT, rows.iter().copied(), |row, (id, r)| {
        row.int(id);
        row.point_4326(r.lon.get(), r.lat.get());
        row.text(&r.source);
        row.opt_text(r.external_id.as_deref());
        row.text(&r.category);
        row.opt_text(r.description.as_deref());
        row.opt_text(r.address.as_deref());
        row.opt_text(r.ward.as_deref());
        row.opt_text(r.agency.as_deref());
        row.text(r.status.as_str());
        row.time(&r.created_at);
        // A report arriving already resolved was last updated at its resolution.
        row.time(r.resolved_at.as_ref().unwrap_or(&r.created_at));
        row.opt_time(r.due_at.as_ref());
        row.opt_time(r.resolved_at.as_ref());
        match r.satisfaction {
            Some(s) => row.int(i64::from(s.get())),
            None => row.null(),
        }
        row.opt_text(r.channel.as_deref());
        row.json(&r.attributes);
        row.boolean(r.outside_bounds);
    })
    .await?;
    let contacts: Vec<(i64, &str)> = rows
        .iter()
        .filter_map(|(id, r)| Some((*id, r.reporter_contact.as_deref()?)))
        .collect();
    if !contacts.is_empty() {
        copy_in(tx, COPY_CONTACT, contacts.into_iter(), |row, (id, c)| {
            row.int(id);
            row.text(c);
        })
        .await?;
    }
    Ok(())
}

/// At most `n` of `items`, evenly spread, the first and the last among them.
fn spread(items: &[usize], n: usize) -> Vec<usize> {
    if items.len() <= n {
        return items.to_vec();
    }
    let last = items.len() - 1;
    (0..n).map(|k| items[k * last / (n - 1)]).collect()
}

/// Marks `Duplicate` the reports at `keyed` (indexes into `reports`) whose key is stored;
/// returns whether there was any.
async fn stored_keys(
    tx: &mut Transaction<'_, Postgres>,
    reports: &[NewReport],
    keyed: &[usize],
    outcome: &mut [Option<Inserted>],
) -> Result<bool, StoreError> {
    if keyed.is_empty() {
        return Ok(false);
    }
    if keyed.len() > SAMPLE_KEYS {
        // The estimated cost grows with the keys and crosses the JIT threshold; compiling the
        // query costs more than running it.
        sqlx::raw_sql("set local jit = off")
            .execute(&mut **tx)
            .await
            .context("preparing the stored-key look-up")?;
    }
    let sources: Vec<&str> = keyed.iter().map(|&i| reports[i].source.as_str()).collect();
    let external_ids: Vec<&str> = keyed
        .iter()
        .map(|&i| reports[i].external_id.as_deref().unwrap_or_default())
        .collect();
    let mut found = sqlx::query_as::<_, (i64, i64)>(STORED_KEYS)
        .bind(&sources)
        .bind(&external_ids)
        .fetch(&mut **tx);
    let mut any = false;
    while let Some((position, id)) = found
        .try_next()
        .await
        .context("looking up stored reports")?
    {
        let i = usize::try_from(position - 1)
            .ok()
            .and_then(|k| keyed.get(k))
            .ok_or_else(|| StoreError::Corrupt {
                what: "the stored-key look-up".into(),
                message: format!("key number {position} is not in the batch"),
            })?;
        outcome[*i] = Some(Inserted::Duplicate(id));
        any = true;
    }
    Ok(any)
}

/// `n` fresh report ids, in rising order (so they rise with input order).
async fn next_ids(tx: &mut Transaction<'_, Postgres>, n: usize) -> Result<Vec<i64>, StoreError> {
    let mut ids: Vec<i64> = sqlx::query_scalar(NEXT_IDS)
        .bind(i64::try_from(n).unwrap_or(i64::MAX))
        .fetch_one(&mut **tx)
        .await
        .context("drawing report ids")?;
    // One session's draws rise already; sorting makes it a property of this code.
    ids.sort_unstable();
    if ids.len() != n {
        return Err(StoreError::Corrupt {
            what: "the report id sequence".into(),
            message: format!("asked for {n} ids, got {}", ids.len()),
        });
    }
    Ok(ids)
}

/// Whether `e` is a conflict with another writer (or, on the sampled path, with a stored key),
/// which the next path resolves.
pub(super) fn is_conflict(e: &StoreError) -> bool {
    match e {
        StoreError::Database { source, .. } => source
            .as_database_error()
            .and_then(|db| db.code())
            .is_some_and(|code| code == UNIQUE_VIOLATION || code == DEADLOCK_DETECTED),
        _ => false,
    }
}

/// Which reports of a batch go to the database: within the batch, a repeated key is a duplicate
/// of its first occurrence, so only first occurrences (and reports without a key) are staged.
pub(super) struct BatchPlan {
    pub(super) staged: Vec<usize>,
    /// For each report, the index of its key's first occurrence when it repeats one.
    repeat_of: Vec<Option<usize>>,
}

impl BatchPlan {
    pub(super) fn new(reports: &[NewReport]) -> Self {
        let mut first_of: HashMap<(&str, &str), usize> = HashMap::with_capacity(reports.len());
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
    pub(super) fn resolve(
        &self,
        outcome: &[Option<Inserted>],
    ) -> Result<Vec<Inserted>, StoreError> {
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

#[cfg(test)]
mod tests {
    use super::spread;

    #[test]
    fn spread_keeps_the_ends_and_spaces_the_rest() {
        let items: Vec<usize> = (100..200).collect();
        let picked = spread(&items, 5);
        assert_eq!(picked, vec![100, 124, 149, 174, 199]);
        assert_eq!(spread(&items[..3], 5), vec![100, 101, 102]);
        assert!(spread(&[], 5).is_empty());
    }
}
