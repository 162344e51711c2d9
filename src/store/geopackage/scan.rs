//! Reading every report's summary at start-up, fast.
//!
//! sqlx hands SQLite rows over one by one through a channel, which costs about a microsecond per
//! row and a third per value: 3 s for a million reports. So SQLite packs the summaries itself,
//! one value per range of [`CHUNK_IDS`] ids (`group_concat`, fields split by the ASCII unit
//! separator, rows by the record separator), and the id range is scanned in parts on several
//! connections at once. One aggregate query per id range, not one query grouped by
//! `fid / CHUNK_IDS`: SQLite sorts for such a `group by`, copying every packed row through its
//! sorter (a fifth of start-up's CPU on a million reports). DATETIME text is read here rather
//! than by SQLite's `strftime`, which cost about a tenth.

use super::super::parts::{Chunk, scan_in_parts};
use super::super::{Context, ReportSummary, StoreError, rows, wkb};
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{Row, SqlitePool};

/// Ranges scanned at once; the pool holds as many connections.
pub(super) const PARTS: i64 = 4;

const FIELD: char = '\u{1f}';
const RECORD: char = '\u{1e}';

const SCAN: &str = "select group_concat(hex(geom) || char(31) || fid || char(31) || ifnull(ward, '') || \
     char(31) || category || char(31) || ifnull(agency, '') || char(31) || status || char(31) || \
     created_at || char(31) || ifnull(due_at, '') || char(31) || ifnull(resolved_at, '') || \
     char(31) || outside_bounds, char(30)) from report where fid >= ? and fid < ?";

/// Ids packed into one value by [`SCAN`].
const CHUNK_IDS: i64 = 16_384;

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
    let mut start = from;
    while start < to {
        let end = start.saturating_add(CHUNK_IDS).min(to);
        let chunk = match sqlx::query(SCAN)
            .bind(start)
            .bind(end)
            .fetch_one(pool)
            .await
            .context("scanning reports")
        {
            Ok(row) => row
                .try_get::<Option<&str>, _>(0)
                .context("reading packed summaries")
                .and_then(|text| match text {
                    // No report in this id range (ids can have gaps).
                    None => Ok(Vec::new()),
                    Some(text) => text.split(RECORD).map(parse).collect(),
                }),
            Err(e) => Err(e),
        };
        let failed = chunk.is_err();
        if tx.send(chunk).await.is_err() || failed {
            return;
        }
        start = end;
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
    let time = |text: &str| (!text.is_empty()).then(|| datetime(text)).flatten();
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

/// A GeoPackage DATETIME: the store's own `YYYY-MM-DDTHH:MM:SS.sssZ` read by position, anything
/// else (another tool's edit, an offset) as RFC 3339, as reading a report by id does.
fn datetime(text: &str) -> Option<DateTime<Utc>> {
    as_written(text.as_bytes()).or_else(|| {
        DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    })
}

fn as_written(b: &[u8]) -> Option<DateTime<Utc>> {
    let shape = b.len() == 24
        && [
            (4, b'-'),
            (7, b'-'),
            (10, b'T'),
            (13, b':'),
            (16, b':'),
            (19, b'.'),
            (23, b'Z'),
        ]
        .iter()
        .all(|&(i, c)| b[i] == c);
    let n = |from: usize, to: usize| {
        b[from..to].iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    if !shape {
        return None;
    }
    NaiveDate::from_ymd_opt(i32::try_from(n(0, 4)?).ok()?, n(5, 7)?, n(8, 10)?)?
        .and_hms_milli_opt(n(11, 13)?, n(14, 16)?, n(17, 19)?, n(20, 23)?)
        .map(|t| t.and_utc())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::format_time;

    #[test]
    fn datetimes_read_by_position_agree_with_rfc_3339() {
        for text in [
            "2023-01-05T19:14:33.000Z",
            "1999-12-31T23:59:59.999Z",
            "2024-02-29T00:00:00.123Z",
        ] {
            let expected = DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&Utc));
            assert_eq!(as_written(text.as_bytes()), expected.ok(), "{text}");
            let at = datetime(text).expect(text);
            assert_eq!(format_time(&at), text);
        }
        // Other tools' spellings go through RFC 3339; nonsense is refused.
        let offset = datetime("2023-01-05T21:14:33+02:00").expect("offset");
        assert_eq!(format_time(&offset), "2023-01-05T19:14:33.000Z");
        assert_eq!(
            datetime("2023-01-05T19:14:33Z")
                .map(|t| format_time(&t))
                .as_deref(),
            Some("2023-01-05T19:14:33.000Z")
        );
        for bad in [
            "2023-02-30T00:00:00.000Z",
            "2023-01-05T19:14:3x.000Z",
            "yesterday",
            "",
        ] {
            assert_eq!(datetime(bad), None, "{bad}");
        }
    }
}
