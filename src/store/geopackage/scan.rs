//! Reading every report's summary at start-up, fast.
//!
//! sqlx hands SQLite rows over one by one through a channel, which costs about a microsecond per
//! row and a third per value: 3 s for a million reports. So SQLite packs the summaries itself,
//! ~16k rows per value (`group_concat`, fields split by the ASCII unit separator, rows by the
//! record separator), turns DATETIME text into milliseconds, and the id range is scanned in
//! parts on several connections at once.

use super::super::parts::{Chunk, scan_in_parts};
use super::super::{Context, ReportSummary, StoreError, rows, wkb};
use chrono::DateTime;
use futures_util::TryStreamExt;
use sqlx::{Row, SqlitePool};

/// Ranges scanned at once; the pool holds as many connections.
pub(super) const PARTS: i64 = 4;

const FIELD: char = '\u{1f}';
const RECORD: char = '\u{1e}';

/// Milliseconds since 1970 of a GeoPackage DATETIME (`YYYY-MM-DDTHH:MM:SS.sssZ`).
macro_rules! millis {
    ($col:literal) => {
        concat!(
            "ifnull(cast(strftime('%s', ",
            $col,
            ") as integer) * 1000 + ifnull(cast(substr(",
            $col,
            ", 21, 3) as integer), 0), '')"
        )
    };
}

const SCAN: &str = concat!(
    "select group_concat(hex(geom) || char(31) || fid || char(31) || ifnull(ward, '') || char(31) || ",
    "category || char(31) || ifnull(agency, '') || char(31) || status || char(31) || ",
    millis!("created_at"),
    " || char(31) || ",
    millis!("due_at"),
    " || char(31) || ",
    millis!("resolved_at"),
    " || char(31) || outside_bounds, char(30)) from (select * from report where fid >= ? and fid < ? order by fid) group by fid / 16384 order by fid / 16384"
);

pub(super) async fn summaries(
    pool: &SqlitePool,
    sink: &mut (dyn FnMut(Vec<ReportSummary>) + Send),
) -> Result<(), StoreError> {
    let range: (Option<i64>, Option<i64>) = sqlx::query_as("select min(fid), max(fid) from report")
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
async fn scan_range(pool: &SqlitePool, from: i64, to: i64, tx: tokio::sync::mpsc::Sender<Chunk>) {
    let mut chunks = sqlx::query(SCAN).bind(from).bind(to).fetch(pool);
    loop {
        let chunk = match chunks.try_next().await.context("scanning reports") {
            Ok(None) => return,
            Ok(Some(row)) => row
                .try_get::<Option<&str>, _>(0)
                .context("reading packed summaries")
                .and_then(|text| text.unwrap_or_default().split(RECORD).map(parse).collect()),
            Err(e) => Err(e),
        };
        let failed = chunk.is_err();
        if tx.send(chunk).await.is_err() || failed {
            return;
        }
    }
}

fn parse(record: &str) -> Result<ReportSummary, StoreError> {
    let corrupt = |message: &str| StoreError::Corrupt {
        what: format!(
            "report summary {:?}",
            record.chars().take(80).collect::<String>()
        ),
        message: message.into(),
    };
    let f: Vec<&str> = record.split(FIELD).collect();
    let [
        geom,
        id,
        ward,
        category,
        agency,
        status,
        created,
        due,
        resolved,
        outside_bounds,
    ] = f[..]
    else {
        return Err(corrupt(
            "expected 10 fields (is a separator character inside a value?)",
        ));
    };
    let id: i64 = id.parse().map_err(|_| corrupt("bad fid"))?;
    let blob = unhex(geom).ok_or_else(|| corrupt("bad geometry hex"))?;
    let wkb = wkb::from_gpkg(&blob).map_err(|source| StoreError::Geometry {
        what: format!("report {id}"),
        source,
    })?;
    let (lon, lat) = rows::point(wkb, id)?;
    let time = |text: &str| {
        text.parse::<i64>()
            .ok()
            .and_then(DateTime::from_timestamp_millis)
    };
    let text = |s: &str| (!s.is_empty()).then(|| s.to_string());
    Ok(ReportSummary {
        id,
        lon,
        lat,
        ward: text(ward),
        category: category.to_string(),
        agency: text(agency),
        status: rows::status(status, id)?,
        created_at: time(created)
            .ok_or_else(|| corrupt("created_at is not a GeoPackage DATETIME"))?,
        due_at: time(due),
        resolved_at: time(resolved),
        outside_bounds: outside_bounds == "1",
    })
}

pub(super) fn unhex(text: &str) -> Option<Vec<u8>> {
    let digit = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    text.as_bytes()
        .chunks(2)
        .map(|pair| match pair {
            [h, l] => Some(digit(*h)? << 4 | digit(*l)?),
            _ => None,
        })
        .collect()
}
