//! Streaming `COPY … from stdin` in PostgreSQL's text format: rows are encoded straight into a
//! buffer of a few megabytes that is sent whenever it fills, so a batch never sits in memory
//! twice and the server parses one chunk while the next is being encoded.

use super::super::{Context, StoreError};
use chrono::{DateTime, Datelike, SecondsFormat, Timelike, Utc};
use serde_json::Value;
use sqlx::{Postgres, Transaction};
use std::io::{self, Write};

/// Bytes of `COPY` text buffered before they are sent: large enough to amortise round trips,
/// small enough that a million-row batch never sits in memory twice.
const COPY_CHUNK_BYTES: usize = 4 << 20;

/// The first chunk is this small, and each next one twice the last up to [`COPY_CHUNK_BYTES`],
/// so the server starts parsing at once rather than after megabytes have been encoded.
const FIRST_CHUNK_BYTES: usize = 64 << 10;

/// Streams `items`, encoded by `encode` as COPY text rows (each ended by this function), in
/// chunks growing from [`FIRST_CHUNK_BYTES`] to [`COPY_CHUNK_BYTES`].
/// An error the server raises for the data (a constraint, say) is returned with its sqlx error
/// intact, so callers can tell a unique violation from other failures.
pub(super) async fn copy_in<T>(
    tx: &mut Transaction<'_, Postgres>,
    statement: &'static str,
    items: impl Iterator<Item = T> + Send,
    mut encode: impl FnMut(&mut CopyRow<'_>, T) + Send,
) -> Result<(), StoreError> {
    let mut copy = tx.copy_in_raw(statement).await.context("starting a COPY")?;
    let mut buf = Vec::with_capacity(COPY_CHUNK_BYTES + (64 << 10));
    let mut chunk = FIRST_CHUNK_BYTES;
    let mut sent = Ok(());
    for item in items {
        let mut row = CopyRow {
            buf: &mut buf,
            first: true,
        };
        encode(&mut row, item);
        buf.push(b'\n');
        if buf.len() >= chunk {
            chunk = (chunk * 2).min(COPY_CHUNK_BYTES);
            sent = copy.send(buf.as_slice()).await.map(|_| ());
            buf.clear();
            if sent.is_err() {
                break;
            }
        }
    }
    if sent.is_ok() && !buf.is_empty() {
        sent = copy.send(buf.as_slice()).await.map(|_| ());
    }
    match sent {
        Ok(()) => copy.finish().await.map(|_| ()).context("finishing a COPY"),
        Err(e) => {
            // Leave the connection usable; the send error is the one worth reporting.
            let _ = copy.abort("hotspots: sending COPY data failed").await;
            Err(e).context("streaming COPY data")
        }
    }
}

/// One row of PostgreSQL's COPY text format: tab-separated, `\N` for null, backslash escapes.
pub(super) struct CopyRow<'a> {
    buf: &'a mut Vec<u8>,
    first: bool,
}

impl CopyRow<'_> {
    fn sep(&mut self) {
        if !self.first {
            self.buf.push(b'\t');
        }
        self.first = false;
    }

    pub(super) fn boolean(&mut self, b: bool) {
        self.sep();
        self.buf.push(if b { b't' } else { b'f' });
    }

    pub(super) fn text(&mut self, s: &str) {
        self.sep();
        escape_into(self.buf, s.as_bytes());
    }

    pub(super) fn opt_text(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.text(s),
            None => self.null(),
        }
    }

    pub(super) fn null(&mut self) {
        self.sep();
        self.buf.extend_from_slice(b"\\N");
    }

    pub(super) fn int(&mut self, n: i64) {
        self.sep();
        push_int(self.buf, n);
    }

    /// A timestamp with time zone, at PostgreSQL's own (microsecond) resolution.
    pub(super) fn time(&mut self, t: &DateTime<Utc>) {
        self.sep();
        push_time(self.buf, t);
    }

    pub(super) fn opt_time(&mut self, t: Option<&DateTime<Utc>>) {
        match t {
            Some(t) => self.time(t),
            None => self.null(),
        }
    }

    /// A JSON value for a `jsonb` column, serialised straight into the row (escaped as text).
    pub(super) fn json(&mut self, value: &serde_json::Value) {
        self.sep();
        // Writing to a Vec cannot fail, and a `Value` always serialises.
        let _ = write_json(&mut Escaping(self.buf), value);
    }

    /// A `geometry` column's value: a WGS 84 point as hex EWKB (SRID 4326), which the type's
    /// text input reads as it is.
    pub(super) fn point_4326(&mut self, lon: f64, lat: f64) {
        // Little-endian, type Point with the SRID flag, SRID 4326.
        const HEADER: &[u8] = b"0101000020e6100000";
        self.sep();
        self.buf.extend_from_slice(HEADER);
        push_hex(self.buf, &lon.to_le_bytes());
        push_hex(self.buf, &lat.to_le_bytes());
    }

    /// bytea in hex form, `\x…`, its backslash doubled by the text format.
    pub(super) fn bytea(&mut self, bytes: &[u8]) {
        self.sep();
        self.buf.extend_from_slice(b"\\\\x");
        push_hex(self.buf, bytes);
    }
}

/// Appends `bytes` with COPY text's escapes. Byte-wise is safe: these ASCII bytes never occur
/// inside a UTF-8 multi-byte sequence. Runs without special bytes are copied whole.
fn escape_into(buf: &mut Vec<u8>, bytes: &[u8]) {
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escaped: &[u8] = match b {
            b'\\' => b"\\\\",
            b'\t' => b"\\t",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            _ => continue,
        };
        buf.extend_from_slice(&bytes[start..i]);
        buf.extend_from_slice(escaped);
        start = i + 1;
    }
    buf.extend_from_slice(&bytes[start..]);
}

/// Writes `value` as compact JSON with each object's keys in `jsonb`'s own order (shorter first,
/// then bytewise): the server sorts every object's keys as it parses it, and keys already in
/// order take one pass (measured: a microsecond less server time a row for Boston's sixteen
/// attributes, a sixth of a COPY of the attributes alone).
fn write_json(out: &mut Escaping<'_>, value: &Value) -> io::Result<()> {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|(a, _), (b, _)| {
                a.len()
                    .cmp(&b.len())
                    .then_with(|| a.as_bytes().cmp(b.as_bytes()))
            });
            out.write_all(b"{")?;
            for (n, (key, item)) in entries.into_iter().enumerate() {
                if n > 0 {
                    out.write_all(b",")?;
                }
                serde_json::to_writer(&mut *out, key)?;
                out.write_all(b":")?;
                write_json(out, item)?;
            }
            out.write_all(b"}")
        }
        Value::Array(items) => {
            out.write_all(b"[")?;
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    out.write_all(b",")?;
                }
                write_json(out, item)?;
            }
            out.write_all(b"]")
        }
        scalar => Ok(serde_json::to_writer(&mut *out, scalar)?),
    }
}

/// A writer that escapes what passes through it for COPY text.
struct Escaping<'a>(&'a mut Vec<u8>);

impl io::Write for Escaping<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        escape_into(self.0, bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn push_hex(buf: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        buf.push(HEX[usize::from(b >> 4)]);
        buf.push(HEX[usize::from(b & 0xf)]);
    }
}

fn push_int(buf: &mut Vec<u8>, n: i64) {
    if n < 0 {
        buf.push(b'-');
    }
    let mut digits = [0u8; 20];
    let mut rest = n.unsigned_abs();
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    buf.extend_from_slice(&digits[at..]);
}

/// Appends `n` as exactly `width` decimal digits (`n` < 10^width).
fn push_digits(buf: &mut Vec<u8>, n: u32, width: u32) {
    for k in (0..width).rev() {
        buf.push(b'0' + ((n / 10u32.pow(k)) % 10) as u8);
    }
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ` without going through chrono's formatter (four timestamps a
/// row add up over a million rows). Years outside 0..=9999 and leap seconds take chrono's way.
fn push_time(buf: &mut Vec<u8>, t: &DateTime<Utc>) {
    let year = t.year();
    let nanos = t.nanosecond();
    let Ok(year) = u32::try_from(year) else {
        return slow_time(buf, t);
    };
    if year > 9999 || nanos >= 1_000_000_000 {
        return slow_time(buf, t);
    }
    push_digits(buf, year, 4);
    buf.push(b'-');
    push_digits(buf, t.month(), 2);
    buf.push(b'-');
    push_digits(buf, t.day(), 2);
    buf.push(b'T');
    push_digits(buf, t.hour(), 2);
    buf.push(b':');
    push_digits(buf, t.minute(), 2);
    buf.push(b':');
    push_digits(buf, t.second(), 2);
    buf.push(b'.');
    push_digits(buf, nanos / 1000, 6);
    buf.push(b'Z');
}

fn slow_time(buf: &mut Vec<u8>, t: &DateTime<Utc>) {
    let text = t.to_rfc3339_opts(SecondsFormat::Micros, true);
    buf.extend_from_slice(text.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn row(fill: impl FnOnce(&mut CopyRow<'_>)) -> String {
        let mut buf = Vec::new();
        let mut row = CopyRow {
            buf: &mut buf,
            first: true,
        };
        fill(&mut row);
        String::from_utf8(buf).expect("COPY text is UTF-8")
    }

    #[test]
    fn fields_are_escaped_and_separated() {
        let text = row(|r| {
            r.text("a\tb\\c\nd\re");
            r.opt_text(None);
            r.int(-42);
            r.int(i64::MIN);
            r.json(&serde_json::json!({"k": "x\ny\\z\t"}));
        });
        assert_eq!(
            text,
            "a\\tb\\\\c\\nd\\re\t\\N\t-42\t-9223372036854775808\t{\"k\":\"x\\\\ny\\\\\\\\z\\\\t\"}"
        );
    }

    #[test]
    fn json_keys_come_in_jsonb_order() {
        let value = serde_json::json!({
            "bb": [{"zz": 1, "a": null}, "ü"], "a": {"ccc": true, "b": 2.5}, "ab": "x", "é": 0
        });
        // "é" is two bytes long, so it sorts with the two-letter keys, after them bytewise.
        let text = row(|r| r.json(&value));
        assert_eq!(
            text,
            r#"{"a":{"b":2.5,"ccc":true},"ab":"x","bb":[{"a":null,"zz":1},"ü"],"é":0}"#
        );
        let back: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(back, value);
    }

    #[test]
    fn times_match_chrono_at_microseconds() {
        let times = [
            Utc.with_ymd_and_hms(2024, 3, 1, 8, 30, 7).single(),
            Utc.with_ymd_and_hms(1, 1, 1, 0, 0, 0).single(),
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).single(),
            Utc.with_ymd_and_hms(-44, 3, 15, 12, 0, 0).single(),
            Utc.with_ymd_and_hms(12345, 1, 1, 0, 0, 0).single(),
        ];
        for t in times.into_iter().flatten() {
            for nanos in [0, 1_999, 123_456_789, 999_999_999] {
                let t = t + chrono::Duration::nanoseconds(nanos);
                assert_eq!(
                    row(|r| r.time(&t)),
                    t.to_rfc3339_opts(SecondsFormat::Micros, true)
                );
            }
        }
    }

    #[test]
    fn points_are_hex_ewkb() {
        assert_eq!(
            row(|r| r.point_4326(1.0, 2.0)),
            "0101000020e6100000000000000000f03f0000000000000040"
        );
    }
}
