//! Storing a few reports with one `insert … select from unnest(…)` per table instead of `COPY`.
//!
//! Why: a `COPY` sends its data and its end (`CopyDone`) as two small writes without waiting for
//! an answer in between. sqlx 0.9.0 no longer sets `TCP_NODELAY` (sqlx issue #4335), so over TCP
//! Nagle's algorithm holds the second write until the server acknowledges the first, and the
//! server delays that acknowledgement by up to 40 ms: every single-report write cost 44 ms (88 ms
//! with a contact). A plain statement is one write answered by the server, so it never waits for
//! a delayed ACK. Large batches keep `COPY`, where the stall is paid once per batch and the
//! format is faster.
//!
//! The columns are the same as the `COPY`'s ([`super::insert`]); the contract test
//! `every_field_round_trips_on_both_write_paths` stores one report through each path and
//! compares every field, so a column added to one list and not the other fails it.

use super::super::{Context, StoreError};
use crate::model::NewReport;
use sqlx::{Postgres, Transaction};

/// Batches of at most this many new reports are stored by [`insert_reports`].
pub(super) const MAX_ROWS: usize = 64;

const INSERT_REPORTS: &str = "insert into report (id, geom, source, external_id, category, \
    description, address, ward, agency, status, created_at, updated_at, due_at, resolved_at, \
    satisfaction, channel, attributes, outside_bounds)
    select id, st_setsrid(st_makepoint(lon, lat), 4326), source, external_id, category,
           description, address, ward, agency, status, created_at, updated_at, due_at,
           resolved_at, satisfaction, channel, attributes, outside_bounds
    from unnest($1::int8[], $2::float8[], $3::float8[], $4::text[], $5::text[], $6::text[],
                $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::timestamptz[],
                $13::timestamptz[], $14::timestamptz[], $15::timestamptz[], $16::int2[],
                $17::text[], $18::jsonb[], $19::bool[])
      as r (id, lon, lat, source, external_id, category, description, address, ward, agency,
            status, created_at, updated_at, due_at, resolved_at, satisfaction, channel,
            attributes, outside_bounds)";

const INSERT_CONTACTS: &str = "insert into report_contact (report_id, contact)
    select * from unnest($1::int8[], $2::text[])";

/// Stores `rows` (id, report) and their reporters' contacts in `tx`.
pub(super) async fn insert_reports(
    tx: &mut Transaction<'_, Postgres>,
    rows: &[(i64, &NewReport)],
) -> Result<(), StoreError> {
    let col = |f: fn(&NewReport) -> Option<&str>| -> Vec<Option<&str>> {
        rows.iter().map(|(_, r)| f(r)).collect()
    };
    let times = |f: fn(&NewReport) -> Option<chrono::DateTime<chrono::Utc>>| {
        rows.iter().map(|(_, r)| f(r)).collect::<Vec<_>>()
    };
    sqlx::query(INSERT_REPORTS)
        .bind(rows.iter().map(|(id, _)| *id).collect::<Vec<i64>>())
        .bind(rows.iter().map(|(_, r)| r.lon.get()).collect::<Vec<f64>>())
        .bind(rows.iter().map(|(_, r)| r.lat.get()).collect::<Vec<f64>>())
        .bind(col(|r| Some(r.source.as_str())))
        .bind(col(|r| r.external_id.as_deref()))
        .bind(col(|r| Some(r.category.as_str())))
        .bind(col(|r| r.description.as_deref()))
        .bind(col(|r| r.address.as_deref()))
        .bind(col(|r| r.ward.as_deref()))
        .bind(col(|r| r.agency.as_deref()))
        .bind(col(|r| Some(r.status.as_str())))
        .bind(times(|r| Some(r.created_at)))
        // A report arriving already resolved was last updated at its resolution.
        .bind(times(|r| Some(r.resolved_at.unwrap_or(r.created_at))))
        .bind(times(|r| r.due_at))
        .bind(times(|r| r.resolved_at))
        .bind(
            rows.iter()
                .map(|(_, r)| r.satisfaction.map(|s| i16::from(s.get())))
                .collect::<Vec<Option<i16>>>(),
        )
        .bind(col(|r| r.channel.as_deref()))
        .bind(
            rows.iter()
                .map(|(_, r)| r.attributes.clone())
                .collect::<Vec<serde_json::Value>>(),
        )
        .bind(
            rows.iter()
                .map(|(_, r)| r.outside_bounds)
                .collect::<Vec<bool>>(),
        )
        .execute(&mut **tx)
        .await
        .context("storing reports")?;
    let (ids, contacts): (Vec<i64>, Vec<&str>) = rows
        .iter()
        .filter_map(|(id, r)| Some((*id, r.reporter_contact.as_deref()?)))
        .unzip();
    if !ids.is_empty() {
        sqlx::query(INSERT_CONTACTS)
            .bind(ids)
            .bind(contacts)
            .execute(&mut **tx)
            .await
            .context("storing reporters' contacts")?;
    }
    Ok(())
}
