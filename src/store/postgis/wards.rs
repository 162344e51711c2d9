//! Ward polygons in PostGIS, and re-assigning every report when they change.

use super::super::{Context, StoreError, wkb};
use super::copy::copy_in;
use crate::model::Ward;
use crate::wards::WardSet;
use futures_util::TryStreamExt;
use sqlx::{PgPool, Postgres, Row, Transaction};

const INSERT_WARDS: &str = "insert into ward (code, name, area_km2, population, geom)
    select code, name, area_km2, population, st_geomfromwkb(wkb, 4326)
    from unnest($1::text[], $2::text[], $3::float8[], $4::int8[], $5::bytea[])
      as w (code, name, area_km2, population, wkb)";

/// Every ward, in code order.
pub(super) async fn read(pool: &PgPool) -> Result<Vec<Ward>, StoreError> {
    // Byte order ("C"), as `WardSet` sorts codes, whatever the database's collation.
    let rows = sqlx::query(
        "select code, name, st_asbinary(geom) as wkb, area_km2, population from ward \
         order by code collate \"C\"",
    )
    .fetch_all(pool)
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

/// Replaces every ward and re-assigns every report's ward, in one transaction; returns how many
/// reports changed ward.
pub(super) async fn replace(pool: &PgPool, wards: &WardSet) -> Result<u64, StoreError> {
    let mut tx = pool
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
        |row, (id, ward)| {
            row.int(*id);
            row.opt_text(*ward);
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
