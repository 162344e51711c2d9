//! Reading every report's summary at start-up: the id range is scanned in parts on several
//! connections at once, coordinates come as plain floats (no WKB to decode), and summaries are
//! handed over in chunks so start-up never holds them all.

use super::super::parts::{Chunk, scan_in_parts};
use super::super::{Context, ReportSummary, StoreError, rows};
use futures_util::TryStreamExt;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};
use tokio::sync::mpsc;

const PARTS: i64 = 4;
const CHUNK: usize = 16_384;

const SCAN: &str = "select id, st_x(geom), st_y(geom), ward, category, agency, status, created_at, due_at, \
     resolved_at, outside_bounds from report where id >= $1 and id < $2";

pub(super) async fn summaries(
    pool: &PgPool,
    sink: &mut (dyn FnMut(Vec<ReportSummary>) + Send),
) -> Result<(), StoreError> {
    let range: (Option<i64>, Option<i64>) = sqlx::query_as("select min(id), max(id) from report")
        .fetch_one(pool)
        .await
        .context("finding the report id range")?;
    let pool = pool.clone();
    scan_in_parts(
        range,
        PARTS,
        |from, to, tx| {
            let pool = pool.clone();
            async move { scan_range(&pool, from, to, tx).await }
        },
        sink,
    )
    .await
}

/// Sends the summaries of ids `from..to` in chunks; stops at the first error (and sends it).
async fn scan_range(pool: &PgPool, from: i64, to: i64, tx: mpsc::Sender<Chunk>) {
    let mut rows = sqlx::query(SCAN).bind(from).bind(to).fetch(pool);
    let mut chunk = Vec::with_capacity(CHUNK);
    loop {
        let next = rows.try_next().await.context("scanning reports");
        let row = match next {
            Ok(Some(row)) => row,
            Ok(None) => break,
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
        };
        match summary(&row) {
            Ok(s) => chunk.push(s),
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
        }
        if chunk.len() == CHUNK && tx.send(Ok(std::mem::take(&mut chunk))).await.is_err() {
            return;
        }
    }
    let _ = tx.send(Ok(chunk)).await;
}

fn summary(row: &PgRow) -> Result<ReportSummary, StoreError> {
    let get = |e: sqlx::Error| StoreError::Database {
        context: "decoding a report summary",
        source: e,
    };
    let id: i64 = row.try_get(0).map_err(get)?;
    Ok(ReportSummary {
        id,
        lon: row.try_get(1).map_err(get)?,
        lat: row.try_get(2).map_err(get)?,
        ward: row.try_get(3).map_err(get)?,
        category: row.try_get(4).map_err(get)?,
        agency: row.try_get(5).map_err(get)?,
        status: rows::status(row.try_get(6).map_err(get)?, id)?,
        created_at: row.try_get(7).map_err(get)?,
        due_at: row.try_get(8).map_err(get)?,
        resolved_at: row.try_get(9).map_err(get)?,
        outside_bounds: row.try_get(10).map_err(get)?,
    })
}
