//! Ward polygons in the GeoPackage, and re-assigning every report when they change.

use super::super::{Context, StoreError, wkb};
use super::ROWS_PER_INSERT;
use crate::model::Ward;
use crate::wards::WardSet;
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool, Transaction};

pub(super) async fn read(pool: &SqlitePool) -> Result<Vec<Ward>, StoreError> {
    let rows = sqlx::query("select code, name, geom, area_km2, population from ward order by code")
        .fetch_all(pool)
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

pub(super) async fn replace(pool: &SqlitePool, wards: &WardSet) -> Result<u64, StoreError> {
    let mut conn = pool.acquire().await.context("acquiring a connection")?;
    let mut tx = super::schema::begin_write(&mut conn, super::schema::ALL).await?;
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
    let changed = reassign(pool, &mut tx, wards).await?;
    super::version::bump(&mut tx).await?;
    super::schema::commit_write(tx).await?;
    Ok(changed)
}

/// Re-computes every report's ward against `wards`; returns how many changed. Locations are
/// read with the start-up scan (other connections see the reports as committed; this
/// transaction has changed only wards so far).
async fn reassign(
    pool: &SqlitePool,
    tx: &mut Transaction<'_, Sqlite>,
    wards: &WardSet,
) -> Result<u64, StoreError> {
    let mut changes: Vec<(i64, Option<String>)> = Vec::new();
    super::scan::summaries(pool, &mut |chunk| {
        for s in chunk {
            let new = wards.locate_code(s.lon, s.lat);
            if s.ward.as_deref() != new {
                changes.push((s.id, new.map(str::to_string)));
            }
        }
    })
    .await?;
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
