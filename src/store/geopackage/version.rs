//! The data version of a GeoPackage (see [`crate::store::Store::data_version`]): one row of a
//! small sequence table, raised by every write of ours inside the write's own transaction, so the
//! version is committed with the data it numbers, or not at all.
//!
//! SQLite has no statement-level triggers: a row trigger on `report` would cost an extra update
//! per imported row, so the writes raise it explicitly instead. Edits made by other programs
//! (QGIS) therefore do not raise it; the README asks to treat the file as read-only while the
//! service runs.

use super::super::{Context, StoreError};
use sqlx::{Sqlite, SqlitePool, Transaction};

/// The sequence table, created by schema step 3 (`schema.rs`) in files made before it and by
/// `geopackage.sql` in new ones. Not a GeoPackage layer.
pub(super) const CREATE: &str = "create table if not exists hotspots_sequence (\
    name text primary key, value integer not null);\
    insert or ignore into hotspots_sequence (name, value) values ('data_version', 0);";

/// Raises the version inside the caller's write transaction.
pub(super) async fn bump(tx: &mut Transaction<'_, Sqlite>) -> Result<(), StoreError> {
    sqlx::query("update hotspots_sequence set value = value + 1 where name = 'data_version'")
        .execute(&mut **tx)
        .await
        .context("raising the data version")?;
    Ok(())
}

pub(super) async fn read(pool: &SqlitePool) -> Result<u64, StoreError> {
    let v: Option<i64> =
        sqlx::query_scalar("select value from hotspots_sequence where name = 'data_version'")
            .fetch_optional(pool)
            .await
            .context("reading the data version")?;
    Ok(v.map_or(0, |v| u64::try_from(v).unwrap_or(0)))
}
