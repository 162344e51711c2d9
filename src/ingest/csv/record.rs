//! One CSV record as text, and the key of a report from a file without an id column.

use super::plan::{Field, Plan, column_of};
use super::{RejectReason, RowError};
use crate::ingest::mapping::Mapping;
use crate::model::{Lat, Lon};
use chrono::{DateTime, Utc};

/// The key of a report from a file with no id column: `content-` and 32 hex digits of a 128-bit
/// FNV-1a hash of the file's category word, the created time, the point (to 1e-7°, about a
/// centimetre) and the address. The same row gives the same key in every import, so a second
/// import of the file stores nothing; two rows alike in all four are one report. (FNV is stable
/// across Rust releases and platforms, unlike the standard library's hasher.)
pub fn content_key(
    category: &str,
    created_at: DateTime<Utc>,
    (lon, lat): (Lon, Lat),
    address: Option<&str>,
) -> String {
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013B;
    let mut hash = OFFSET;
    let mut feed = |bytes: &[u8]| {
        for &b in bytes {
            hash ^= u128::from(b);
            hash = hash.wrapping_mul(PRIME);
        }
        // A separator no text field holds, so ("ab", "c") and ("a", "bc") differ.
        hash ^= 0x1f;
        hash = hash.wrapping_mul(PRIME);
    };
    feed(category.trim().as_bytes());
    feed(&created_at.timestamp().to_le_bytes());
    feed(&created_at.timestamp_subsec_nanos().to_le_bytes());
    feed(&((lon.get() * 1e7).round() as i64).to_le_bytes());
    feed(&((lat.get() * 1e7).round() as i64).to_le_bytes());
    feed(address.unwrap_or_default().trim().as_bytes());
    format!("content-{hash:032x}")
}

/// One record's values, looked up by the report field they fill.
pub(super) struct Record<'r> {
    pub(super) line: u64,
    pub(super) fields: Fields<'r>,
    pub(super) plan: &'r Plan,
    pub(super) mapping: &'r Mapping,
}

/// A record's fields as text.
pub(super) enum Fields<'r> {
    /// The record is UTF-8 with every field on a character boundary (nearly always): fields are
    /// slices of it, so reading a row copies no field it does not keep.
    Text {
        text: &'r str,
        record: &'r ::csv::ByteRecord,
    },
    /// Some bytes were not UTF-8: each field with U+FFFD in their place.
    Lossy(Vec<String>),
}

impl<'r> Fields<'r> {
    pub(super) fn of(record: &'r ::csv::ByteRecord) -> Self {
        if let Ok(text) = std::str::from_utf8(record.as_slice())
            && (0..record.len()).all(|i| record.range(i).is_some_and(|r| text.get(r).is_some()))
        {
            return Fields::Text { text, record };
        }
        Fields::Lossy(
            record
                .iter()
                .map(|f| String::from_utf8_lossy(f).into_owned())
                .collect(),
        )
    }
}

impl Record<'_> {
    /// The raw value of column `i` ("" past the end).
    pub(super) fn value(&self, i: usize) -> &str {
        match &self.fields {
            Fields::Text { text, record } => {
                record.range(i).and_then(|r| text.get(r)).unwrap_or("")
            }
            Fields::Lossy(values) => values.get(i).map_or("", String::as_str),
        }
    }

    /// The trimmed value of a mapped field; `None` when unmapped or empty.
    pub(super) fn get(&self, field: Field) -> Option<&str> {
        self.plan.fields[field as usize]
            .map(|i| self.value(i).trim())
            .filter(|v| !v.is_empty())
    }

    pub(super) fn text(&self, field: Field) -> Option<String> {
        self.get(field).map(str::to_string)
    }

    pub(super) fn column(&self, field: Field) -> &str {
        column_of(&self.mapping.columns, field).unwrap_or_default()
    }

    pub(super) fn fail(&self, reason: RejectReason, message: String) -> RowError {
        RowError::new(self.line, reason, message)
    }
}
