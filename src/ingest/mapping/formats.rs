//! Text forms of the values exports carry: timestamps with or without a zone, and points as
//! "(lat, lon)" text, WKT or hex (E)WKB.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// Parses a source timestamp: RFC 3339 with an offset, or one of the naive forms
/// `YYYY-MM-DD HH:MM:SS`, `YYYY-MM-DDTHH:MM:SS(.fff)`, `MM/DD/YYYY HH:MM:SS AM` and `YYYY-MM-DD`,
/// which are read in `zone`. Naive times that a daylight-saving change makes ambiguous take the
/// earlier instant; those that fall in the skipped hour are read with the offset before the change.
pub fn parse_time(text: &str, zone: Tz) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    if let Some(naive) = plain_naive(text) {
        return in_zone(naive, text, zone);
    }
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    const FORMATS: [&str; 3] = [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%m/%d/%Y %I:%M:%S %p",
    ];
    let naive = FORMATS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .or_else(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok().map(|d| d.and_time(Default::default())))
        .ok_or_else(|| {
            format!(
                "{text:?} is not a time (expected RFC 3339, YYYY-MM-DD HH:MM:SS, YYYY-MM-DDTHH:MM:SS, \
                 MM/DD/YYYY HH:MM:SS AM or YYYY-MM-DD)"
            )
        })?;
    in_zone(naive, text, zone)
}

/// `naive` read in `zone`: ambiguous times take the earlier instant, skipped ones the offset
/// before the change.
fn in_zone(naive: NaiveDateTime, text: &str, zone: Tz) -> Result<DateTime<Utc>, String> {
    let local = zone
        .from_local_datetime(&naive)
        .earliest()
        .or_else(|| {
            let before = zone
                .from_local_datetime(&(naive - Duration::hours(1)))
                .earliest()?;
            Some(before + Duration::hours(1))
        })
        .ok_or_else(|| format!("{text:?} does not exist in {zone}"))?;
    Ok(local.with_timezone(&Utc))
}

/// `YYYY-MM-DD HH:MM:SS` (or with `T`), optionally `.` and 1–9 digits, nothing after: the form
/// nearly every export writes, read without chrono's format interpreter, which cost more than
/// the rest of a row's parsing. Anything else (`None`) takes the general path.
fn plain_naive(text: &str) -> Option<NaiveDateTime> {
    let b = text.as_bytes();
    let shape = b.len() >= 19
        && b[4] == b'-'
        && b[7] == b'-'
        && (b[10] == b' ' || b[10] == b'T')
        && b[13] == b':'
        && b[16] == b':';
    if !shape {
        return None;
    }
    let digits = |from: usize, to: usize| {
        b[from..to].iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let nanos = match &b[19..] {
        [] => 0,
        [b'.', fraction @ ..] if (1..=9).contains(&fraction.len()) => {
            digits(20, b.len())? * 10u32.pow(9 - fraction.len() as u32)
        }
        _ => return None,
    };
    let year = i32::try_from(digits(0, 4)?).ok()?;
    NaiveDate::from_ymd_opt(year, digits(5, 7)?, digits(8, 10)?)?.and_hms_nano_opt(
        digits(11, 13)?,
        digits(14, 16)?,
        digits(17, 19)?,
        nanos,
    )
}

pub(super) fn number(text: &str, what: &str) -> Result<f64, String> {
    text.trim()
        .parse::<f64>()
        .map_err(|_| format!("{what} {text:?} is not a number"))
}

/// `(lat, lon)` text → (lon, lat).
pub fn parse_lat_lon_text(text: &str) -> Result<(f64, f64), String> {
    let inner = text.trim().trim_start_matches('(').trim_end_matches(')');
    match inner.split(',').collect::<Vec<_>>()[..] {
        [lat, lon] => Ok((number(lon, "lon")?, number(lat, "lat")?)),
        _ => Err(format!("{text:?} is not \"(lat, lon)\"")),
    }
}

/// WKT `POINT(lon lat)` (optionally `SRID=…;`) → (lon, lat); `POINT EMPTY` → `None`.
pub fn parse_wkt_point(text: &str) -> Result<Option<(f64, f64)>, String> {
    let bad = || format!("{text:?} is not a WKT POINT(lon lat)");
    let wkt = text.trim();
    let wkt = wkt
        .split_once(';')
        .filter(|(srid, _)| srid.to_ascii_uppercase().starts_with("SRID="))
        .map_or(wkt, |(_, w)| w);
    let rest = wkt
        .get(..5)
        .filter(|p| p.eq_ignore_ascii_case("POINT"))
        .map(|_| wkt[5..].trim())
        .ok_or_else(bad)?;
    if rest.eq_ignore_ascii_case("EMPTY") {
        return Ok(None);
    }
    let inner = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(bad)?;
    match inner.split_whitespace().collect::<Vec<_>>()[..] {
        [lon, lat] => Ok(Some((number(lon, "lon")?, number(lat, "lat")?))),
        _ => Err(bad()),
    }
}

/// Hex WKB or EWKB point → (lon, lat).
pub fn parse_hex_wkb_point(text: &str) -> Result<(f64, f64), String> {
    let bytes = hex_decode(text.trim())?;
    crate::wkb::read_point(&bytes).map_err(|e| format!("WKB point: {e}"))
}

fn hex_decode(text: &str) -> Result<Vec<u8>, String> {
    let text = text.strip_prefix("\\x").unwrap_or(text);
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return Err(format!("{text:?} is not hex-encoded WKB"));
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&text[i..i + 2], 16)
                .map_err(|_| format!("{text:?} is not hex-encoded WKB"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_in_every_accepted_form() {
        let chicago = chrono_tz::America::Chicago;
        let utc = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .expect("valid")
                .with_timezone(&Utc)
        };
        assert_eq!(
            parse_time("2018-12-18T00:00:00.000", chicago),
            Ok(utc("2018-12-18T06:00:00Z"))
        );
        assert_eq!(
            parse_time("2018-12-18T10:15:00", chicago),
            Ok(utc("2018-12-18T16:15:00Z"))
        );
        assert_eq!(
            parse_time("2013-07-01 06:32:33", chicago),
            Ok(utc("2013-07-01T11:32:33Z"))
        );
        assert_eq!(
            parse_time("01/05/2023 02:14:33 PM", chicago),
            Ok(utc("2023-01-05T20:14:33Z"))
        );
        assert_eq!(
            parse_time("2018-12-18", chicago),
            Ok(utc("2018-12-18T06:00:00Z"))
        );
        assert_eq!(
            parse_time("2018-12-18T00:00:00+07:00", chicago),
            Ok(utc("2018-12-17T17:00:00Z"))
        );
        // 02:30 on 2018-03-11 does not exist in Chicago: read with the offset before the change.
        assert_eq!(
            parse_time("2018-03-11 02:30:00", chicago),
            Ok(utc("2018-03-11T08:30:00Z"))
        );
        // 01:30 on 2018-11-04 happens twice: the earlier one.
        assert_eq!(
            parse_time("2018-11-04 01:30:00", chicago),
            Ok(utc("2018-11-04T06:30:00Z"))
        );
        assert_eq!(
            parse_time("2018-12-18 10:15:00.5", chicago),
            Ok(utc("2018-12-18T16:15:00.5Z"))
        );
        assert_eq!(
            parse_time("2018-12-18T10:15:00.123456789", chicago),
            Ok(utc("2018-12-18T16:15:00.123456789Z"))
        );
        // The fast path leaves what it does not know to the general one.
        assert_eq!(
            parse_time("2018-12-18 10:15:00Z", chicago),
            Ok(utc("2018-12-18T10:15:00Z"))
        );
        assert!(parse_time("2018-02-30 10:15:00", chicago).is_err());
        assert!(parse_time("2018-12-18 25:15:00", chicago).is_err());
        assert!(parse_time("18/12/2018", chicago).is_err());
        assert!(parse_time("13/45/2023 02:14:33 PM", chicago).is_err());
    }

    #[test]
    fn points_from_text_wkt_and_ewkb() {
        assert_eq!(
            parse_lat_lon_text("(41.853703821634, -87.703946492923)"),
            Ok((-87.703946492923, 41.853703821634))
        );
        assert!(parse_lat_lon_text("(41.85)").is_err());
        assert_eq!(
            parse_wkt_point("POINT (-71.08 42.30)"),
            Ok(Some((-71.08, 42.30)))
        );
        assert_eq!(
            parse_wkt_point("SRID=4326;point(-71.08 42.30)"),
            Ok(Some((-71.08, 42.30)))
        );
        assert_eq!(parse_wkt_point("POINT EMPTY"), Ok(None));
        assert!(parse_wkt_point("LINESTRING(0 0, 1 1)").is_err());
        // Boston's geom_4326 of case 101000729509 (lat 42.302909557631374, lon -71.08243062517123).
        let (lon, lat) = parse_hex_wkb_point("0101000020E610000027D3198B46C551C017D689BDC5264540")
            .expect("EWKB");
        assert!((lon + 71.08243062517123).abs() < 1e-9 && (lat - 42.302909557631374).abs() < 1e-9);
        assert!(parse_hex_wkb_point("0101zz").is_err());
        assert!(parse_hex_wkb_point("010").is_err());
    }
}
