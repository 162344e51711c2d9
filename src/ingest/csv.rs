//! CSV exports (plain or gzipped) into validated reports, row by row, read with a [`Mapping`].
//!
//! Reading happens in two stages so a city profile can be derived from the file itself
//! ([`super::profile::derive_profile`]): [`read_source_rows`] applies only the mapping, and
//! [`read_reports`] then checks each row against the city profile. A bad row is an error for that
//! row, with its physical line number (the header is line 1) and a stable reason code; it never
//! stops the rest of the file.

mod checked;
mod plan;
mod record;
mod rows;

pub use checked::{AddedCategory, CsvReports, read_reports};
pub use record::content_key;
pub use rows::{FileError, ParsedRow, RejectReason, RowError, RowFlags, SourceRow};

use super::check_not_future;
use super::mapping::{Mapping, parse_time};
use crate::model::{Lat, Lon, NewReport};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use plan::{Field, Plan};
use record::{Fields, Record};
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::collections::HashMap;
use std::io::{BufReader, Read};
use std::path::Path;

/// Opens a file for reading, gunzipping it on the fly when its name ends in `.gz`.
pub fn open_input(path: &Path) -> std::io::Result<Box<dyn Read>> {
    let file = BufReader::new(std::fs::File::open(path)?);
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"))
    {
        Ok(Box::new(flate2::read::MultiGzDecoder::new(file)))
    } else {
        Ok(Box::new(file))
    }
}

/// A closed or due time this much before the created time is clock skew, not an error.
const SKEW_MINUTES: i64 = 5;

/// Reads rows with the mapping only (see [`SourceRow`]). Naive times are in the mapping's
/// `file_time_zone`, or `city_zone` when it names none. Fails before any row when the header lacks a column the
/// mapping names.
pub fn read_source_rows<R: Read>(
    input: R,
    mapping: &Mapping,
    city_zone: Tz,
) -> Result<SourceRows<'_, R>, FileError> {
    let mut reader = ::csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(input);
    let headers: Vec<String> = reader
        .byte_headers()?
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let h = String::from_utf8_lossy(h);
            let h = if i == 0 {
                h.trim_start_matches('\u{feff}')
            } else {
                &h
            };
            h.trim().to_string()
        })
        .collect();
    let plan = Plan::new(&headers, mapping)?;
    Ok(SourceRows {
        reader,
        plan,
        mapping,
        zone: mapping.file_time_zone.unwrap_or(city_zone),
        now: Utc::now(),
        record: ::csv::ByteRecord::new(),
        finished: false,
        category_codes: RefCell::default(),
        agency_codes: RefCell::default(),
        keep_attributes: true,
    })
}

/// The iterator of [`read_source_rows`].
pub struct SourceRows<'m, R: Read> {
    reader: ::csv::Reader<R>,
    plan: Plan,
    mapping: &'m Mapping,
    zone: Tz,
    now: DateTime<Utc>,
    record: ::csv::ByteRecord,
    finished: bool,
    /// The codes of the category and agency words met so far: a file repeats a few dozen words a
    /// million times, and slugging one (Unicode decomposition) costs more than looking it up.
    category_codes: RefCell<HashMap<String, Option<String>>>,
    agency_codes: RefCell<HashMap<String, String>>,
    /// False when only the mapped fields matter (deriving a profile): the unmapped columns, half
    /// the allocations of a row, are then not copied into `attributes`.
    keep_attributes: bool,
}

impl<R: Read> SourceRows<'_, R> {
    /// Leaves every report's `attributes` empty.
    pub fn without_attributes(mut self) -> Self {
        self.keep_attributes = false;
        self
    }
}

impl<R: Read> Iterator for SourceRows<'_, R> {
    type Item = Result<SourceRow, RowError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        match self.reader.read_byte_record(&mut self.record) {
            Ok(true) => {
                let line = self.record.position().map_or(0, ::csv::Position::line);
                Some(self.row(line))
            }
            Ok(false) => {
                self.finished = true;
                None
            }
            Err(e) => {
                // After an I/O error the reader cannot resynchronise: report it once and stop.
                self.finished = true;
                let line = e
                    .position()
                    .map_or(self.reader.position().line(), ::csv::Position::line);
                Some(Err(RowError::new(
                    line,
                    RejectReason::Unreadable,
                    e.to_string(),
                )))
            }
        }
    }
}

/// A row's times, ordered: closed and due never before created.
struct Times {
    created_at: DateTime<Utc>,
    resolved_at: Option<DateTime<Utc>>,
    due_at: Option<DateTime<Utc>>,
    clamped: bool,
}

impl<R: Read> SourceRows<'_, R> {
    /// [`Mapping::category_code`], remembered per word.
    fn category_code(&self, word: &str) -> Option<String> {
        let mut codes = self.category_codes.borrow_mut();
        if let Some(code) = codes.get(word) {
            return code.clone();
        }
        let code = self.mapping.category_code(word);
        codes.insert(word.to_string(), code.clone());
        code
    }

    /// [`Mapping::agency_code`], remembered per word.
    fn agency_code(&self, word: &str) -> String {
        let mut codes = self.agency_codes.borrow_mut();
        if let Some(code) = codes.get(word) {
            return code.clone();
        }
        let code = self.mapping.agency_code(word);
        codes.insert(word.to_string(), code.clone());
        code
    }

    fn row(&self, line: u64) -> Result<SourceRow, RowError> {
        let width = self.plan.headers.len();
        if self.record.len() != width {
            let message = format!(
                "expected {width} fields as in the header, found {}",
                self.record.len()
            );
            return Err(RowError::new(line, RejectReason::WrongColumnCount, message));
        }
        let fields = Fields::of(&self.record);
        let lossy_text = matches!(fields, Fields::Lossy(_));
        let r = Record {
            line,
            fields,
            plan: &self.plan,
            mapping: self.mapping,
        };

        let source_category = r.get(Field::Category).ok_or_else(|| {
            let message = format!("{} is empty", r.column(Field::Category));
            r.fail(RejectReason::MissingCategory, message)
        })?;
        let category = self.category_code(source_category).ok_or_else(|| {
            let message = format!(
                "category {source_category:?} is not in [categories] and category_default_slug is off"
            );
            r.fail(RejectReason::UnknownCategory, message)
        })?;
        let times = self.times(&r)?;
        let (lon, lat) = self.point(&r)?;
        let source_ward = r
            .get(Field::Ward)
            .and_then(|w| self.mapping.normalise_ward(w));
        let status = r.get(Field::Status);
        let address = r.text(Field::Address);
        let external_id = match self.plan.fields[Field::ExternalId as usize] {
            Some(_) => r.text(Field::ExternalId),
            None => Some(content_key(
                source_category,
                times.created_at,
                (lon, lat),
                address.as_deref(),
            )),
        };
        let report = NewReport {
            source: self.mapping.source.clone(),
            external_id,
            category,
            description: r.text(Field::Description),
            lon,
            lat,
            address,
            ward: None,
            agency: r.get(Field::Agency).map(|a| self.agency_code(a)),
            status: self.mapping.status(status, times.resolved_at.is_some()),
            created_at: times.created_at,
            due_at: times.due_at,
            resolved_at: times.resolved_at,
            satisfaction: None,
            channel: r.text(Field::Channel),
            reporter_contact: None,
            attributes: self.attributes(&r, source_ward.as_deref(), status),
            outside_bounds: false,
        };
        Ok(SourceRow {
            line,
            report,
            source_category: source_category.to_string(),
            source_agency: r.text(Field::Agency),
            source_ward,
            flags: RowFlags {
                times_clamped: times.clamped,
                lossy_text,
                ..RowFlags::default()
            },
        })
    }

    /// Created (required, not in the future), closed and due times. A closed or due time up to
    /// [`SKEW_MINUTES`] before the created time is moved up to it; further back is an error.
    fn times(&self, r: &Record<'_>) -> Result<Times, RowError> {
        let time = |field: Field| {
            r.get(field)
                .map(|v| parse_time(v, self.zone))
                .transpose()
                .map_err(|e| r.fail(RejectReason::BadDate, format!("{}: {e}", r.column(field))))
        };
        let created_at = time(Field::CreatedAt)?.ok_or_else(|| {
            let message = format!("{} is empty", r.column(Field::CreatedAt));
            r.fail(RejectReason::BadDate, message)
        })?;
        check_not_future(created_at, self.now, "created_at")
            .map_err(|e| r.fail(RejectReason::BadDate, e.message))?;
        let mut clamped = false;
        let mut not_before_created = |field: Field| match time(field)? {
            Some(t) if t < created_at - Duration::minutes(SKEW_MINUTES) => {
                let message = format!(
                    "{} {t} is before the created time {created_at}",
                    r.column(field)
                );
                Err(r.fail(RejectReason::DatesOutOfOrder, message))
            }
            Some(t) if t < created_at => {
                clamped = true;
                Ok(Some(created_at))
            }
            other => Ok(other),
        };
        let resolved_at = not_before_created(Field::ResolvedAt)?;
        let due_at = not_before_created(Field::DueAt)?;
        Ok(Times {
            created_at,
            resolved_at,
            due_at,
            clamped,
        })
    }

    /// The first point the mapping's coordinate sources give, in their order.
    fn point(&self, r: &Record<'_>) -> Result<(Lon, Lat), RowError> {
        let mut problem = None;
        for (source, ix) in &self.plan.coordinates {
            // A source reads one or two columns: no vector per row for them.
            let mut raw = [""; 2];
            for (slot, &i) in raw.iter_mut().zip(ix) {
                *slot = r.value(i);
            }
            let message = match source.read(&raw[..ix.len().min(2)]) {
                Ok(None) => continue,
                // (0, 0) is where exports put "no location", not a report in the Gulf of Guinea.
                Ok(Some((lon, lat))) if lon == 0.0 && lat == 0.0 => continue,
                Ok(Some((lon, lat))) => match (Lon::new(lon), Lat::new(lat)) {
                    (Ok(lon), Ok(lat)) => return Ok((lon, lat)),
                    (Err(e), _) | (_, Err(e)) => e.message,
                },
                Err(message) => message,
            };
            problem.get_or_insert(format!("{}: {message}", source.columns().join("/")));
        }
        Err(match problem {
            Some(message) => r.fail(RejectReason::BadCoordinates, message),
            None => {
                let names: Vec<&str> = self
                    .plan
                    .coordinates
                    .iter()
                    .flat_map(|(s, _)| s.columns())
                    .collect();
                r.fail(
                    RejectReason::NoCoordinates,
                    format!("no coordinates in {}", names.join(", ")),
                )
            }
        })
    }

    /// The unmapped columns' non-empty values, plus the normalised source ward and raw status.
    fn attributes(&self, r: &Record<'_>, source_ward: Option<&str>, status: Option<&str>) -> Value {
        let mut attributes = Map::new();
        if !self.keep_attributes {
            return Value::Object(attributes);
        }
        for &i in &self.plan.attributes {
            let v = r.value(i).trim();
            if !v.is_empty() {
                attributes.insert(self.plan.headers[i].clone(), Value::String(v.to_string()));
            }
        }
        if let Some(w) = source_ward {
            attributes.insert("source_ward".into(), w.into());
        }
        if let Some(s) = status {
            attributes.insert("source_status".into(), s.into());
        }
        Value::Object(attributes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NYC: &str = "\
Unique Key,Created Date,Closed Date,Agency,Agency Name,Complaint Type,Descriptor,Incident Address,Status,Due Date,Latitude,Longitude,Location
56789012,01/05/2023 02:14:33 PM,01/06/2023 09:00:00 AM,DOT,Department of Transportation,Street Condition,Pothole,100 BROADWAY,Closed,01/12/2023 02:14:33 PM,40.7081,-74.0110,\"(40.7081, -74.0110)\"
56789013,01/05/2023 11:59:59 PM,,NYPD,New York City Police Department,Noise - Residential,Loud Music/Party,1 MAIN ST,In Progress,,,,\"(40.70, -73.99)\"
56789014,01/05/2023 11:59:59 PM,,NYPD,New York City Police Department,Noise - Residential,Loud Music/Party,1 MAIN ST,Open,,,,
";

    #[test]
    fn nyc_preset_reads_socrata_dates_and_falls_back_to_location() {
        let mapping = Mapping::preset("nyc").expect("preset");
        let rows: Vec<_> = read_source_rows(NYC.as_bytes(), &mapping, chrono_tz::UTC)
            .expect("header")
            .collect();
        let first = rows[0].as_ref().expect("row 2 is valid");
        assert_eq!(first.line, 2);
        let r = &first.report;
        assert_eq!(
            (r.source.as_str(), r.external_id.as_deref()),
            ("nyc-311", Some("56789012"))
        );
        assert_eq!(r.category, "street-condition");
        assert_eq!(r.agency.as_deref(), Some("dot"));
        assert_eq!(r.status, crate::model::Status::Resolved);
        // 2:14:33 PM in New York (EST, UTC−5) is 19:14:33 UTC.
        assert_eq!(r.created_at.to_rfc3339(), "2023-01-05T19:14:33+00:00");
        assert_eq!(
            r.due_at.map(|d| d.to_rfc3339()).as_deref(),
            Some("2023-01-12T19:14:33+00:00")
        );
        assert_eq!(r.attributes["Agency Name"], "Department of Transportation");
        assert_eq!(r.attributes["source_status"], "Closed");
        let second = rows[1]
            .as_ref()
            .expect("row 3 takes its point from Location");
        assert_eq!(
            (second.report.lon.get(), second.report.lat.get()),
            (-73.99, 40.70)
        );
        assert_eq!(second.report.status, crate::model::Status::InProgress);
        let third = rows[2].as_ref().expect_err("row 4 has no point");
        assert_eq!((third.line, third.reason.code()), (4, "no_coordinates"));
    }

    #[test]
    fn missing_columns_stop_before_any_row() {
        let mapping = Mapping::preset("chicago").expect("preset");
        let err = read_source_rows("a,b\n1,2\n".as_bytes(), &mapping, chrono_tz::UTC)
            .err()
            .expect("header lacks the mapped columns");
        assert!(err.to_string().contains("creation_date"), "{err}");
    }

    #[test]
    fn open_input_gunzips_by_extension() {
        use std::io::Write;
        let dir = tempfile::tempdir().expect("temp dir");
        let gz = dir.path().join("reports.csv.gz");
        let mut encoder = flate2::write::GzEncoder::new(
            std::fs::File::create(&gz).expect("create"),
            flate2::Compression::fast(),
        );
        encoder.write_all(NYC.as_bytes()).expect("write");
        encoder.finish().expect("finish");
        let plain = dir.path().join("reports.csv");
        std::fs::write(&plain, NYC).expect("write");
        for path in [gz, plain] {
            let mut text = String::new();
            open_input(&path)
                .and_then(|mut r| r.read_to_string(&mut text))
                .expect("readable");
            assert_eq!(text, NYC);
        }
    }
}
