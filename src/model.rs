//! Plain data: reports, wards, categories, agencies and statuses. No I/O here.
//!
//! Values that can be wrong (`Lon`, `Lat`, `Bbox4326`, `Status`, …) are checked once, where they are
//! built, so later code never re-validates them.

use chrono::{DateTime, Utc};
use geo_types::MultiPolygon;
use serde::{Deserialize, Serialize};
use std::fmt;

mod category;
mod change;
mod deadline;
mod summary;

pub use category::{Category, fold, slug};
pub use change::RefusedChange;
pub use deadline::{open_overdue_at, overdue_at};
pub use summary::ReportSummary;

/// Why a value given to a model constructor was refused. `field` names the input that was wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidValue {
    pub field: &'static str,
    pub message: String,
}

impl InvalidValue {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// Longitude in degrees, WGS84 (EPSG:4326), finite and within −180…180.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize)]
pub struct Lon(f64);

/// Latitude in degrees, WGS84 (EPSG:4326), finite and within −90…90.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize)]
pub struct Lat(f64);

impl Lon {
    pub fn new(value: f64) -> Result<Self, InvalidValue> {
        if value.is_finite() && (-180.0..=180.0).contains(&value) {
            Ok(Self(value))
        } else {
            Err(InvalidValue::new(
                "lon",
                format!("longitude must be a finite number within -180..180, got {value}"),
            ))
        }
    }
    pub fn get(self) -> f64 {
        self.0
    }
}

impl Lat {
    pub fn new(value: f64) -> Result<Self, InvalidValue> {
        if value.is_finite() && (-90.0..=90.0).contains(&value) {
            Ok(Self(value))
        } else {
            Err(InvalidValue::new(
                "lat",
                format!("latitude must be a finite number within -90..90, got {value}"),
            ))
        }
    }
    pub fn get(self) -> f64 {
        self.0
    }
}

/// A lon/lat box in EPSG:4326 degrees, with `min <= max` on both axes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bbox4326 {
    pub min_lon: f64,
    pub min_lat: f64,
    pub max_lon: f64,
    pub max_lat: f64,
}

impl Bbox4326 {
    pub fn new(
        min_lon: f64,
        min_lat: f64,
        max_lon: f64,
        max_lat: f64,
    ) -> Result<Self, InvalidValue> {
        let (a, b) = (Lon::new(min_lon), Lon::new(max_lon));
        let (c, d) = (Lat::new(min_lat), Lat::new(max_lat));
        if a.is_err() || b.is_err() || c.is_err() || d.is_err() {
            return Err(InvalidValue::new(
                "bbox",
                "bbox must be min_lon,min_lat,max_lon,max_lat within -180..180 / -90..90",
            ));
        }
        if min_lon > max_lon || min_lat > max_lat {
            return Err(InvalidValue::new(
                "bbox",
                "bbox minimum is greater than its maximum",
            ));
        }
        Ok(Self {
            min_lon,
            min_lat,
            max_lon,
            max_lat,
        })
    }

    /// Parses `min_lon,min_lat,max_lon,max_lat` as in OGC API Features.
    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        let parts: Vec<f64> = text
            .split(',')
            .map(|p| p.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|_| InvalidValue::new("bbox", format!("not four numbers: {text:?}")))?;
        match parts[..] {
            [a, b, c, d] => Self::new(a, b, c, d),
            _ => Err(InvalidValue::new(
                "bbox",
                format!("expected 4 comma-separated numbers, got {}", parts.len()),
            )),
        }
    }

    pub fn contains(&self, lon: f64, lat: f64) -> bool {
        (self.min_lon..=self.max_lon).contains(&lon) && (self.min_lat..=self.max_lat).contains(&lat)
    }
}

/// Where a report stands. Transitions are limited by [`Status::can_become`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Received,
    Assigned,
    InProgress,
    Resolved,
    Rejected,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Received,
        Status::Assigned,
        Status::InProgress,
        Status::Resolved,
        Status::Rejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Received => "received",
            Status::Assigned => "assigned",
            Status::InProgress => "in_progress",
            Status::Resolved => "resolved",
            Status::Rejected => "rejected",
        }
    }

    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| {
                InvalidValue::new(
                    "status",
                    format!(
                        "unknown status {text:?}; expected one of received, assigned, in_progress, resolved, rejected"
                    ),
                )
            })
    }

    /// Allowed moves. A resolved report may be reopened (back to in_progress) when the citizen
    /// says it is not fixed; a rejected one is final.
    pub fn can_become(self, next: Status) -> bool {
        use Status::*;
        matches!(
            (self, next),
            (Received, Assigned | InProgress | Resolved | Rejected)
                | (Assigned, InProgress | Resolved | Rejected)
                | (InProgress, Assigned | Resolved | Rejected)
                | (Resolved, InProgress)
        )
    }

    /// Resolved and rejected reports need no more work.
    pub fn is_open(self) -> bool {
        !matches!(self, Status::Resolved | Status::Rejected)
    }

    pub fn code(self) -> u8 {
        self as u8
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A report's id, assigned by the store when it commits the report.
pub type ReportId = i64;

/// A report as stored. The reporter's contact is not here: it lives apart (see
/// [`NewReport::reporter_contact`]) and never leaves the store through public output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub id: ReportId,
    pub source: String,
    pub external_id: Option<String>,
    pub category: String,
    pub description: Option<String>,
    pub lon: f64,
    pub lat: f64,
    pub address: Option<String>,
    /// Ward code, or `None` when the point lies outside every ward.
    pub ward: Option<String>,
    pub agency: Option<String>,
    pub status: Status,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub due_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// 1–5, given by the citizen after resolution.
    pub satisfaction: Option<u8>,
    pub channel: Option<String>,
    /// The source's own columns that have no place above, kept as they came.
    pub attributes: serde_json::Value,
    /// Imported although its point lies outside the city profile's bounds (kept, flagged).
    pub outside_bounds: bool,
}

/// A validated report that has not been stored yet (it has no id).
#[derive(Debug, Clone, PartialEq)]
pub struct NewReport {
    pub source: String,
    pub external_id: Option<String>,
    pub category: String,
    pub description: Option<String>,
    pub lon: Lon,
    pub lat: Lat,
    pub address: Option<String>,
    pub ward: Option<String>,
    pub agency: Option<String>,
    pub status: Status,
    pub created_at: DateTime<Utc>,
    pub due_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub satisfaction: Option<Satisfaction>,
    pub channel: Option<String>,
    /// Private: phone or e-mail of the citizen. Stored in its own table, never served.
    pub reporter_contact: Option<String>,
    pub attributes: serde_json::Value,
    /// The point lies outside the city profile's bounds (stored, flagged; imports only).
    pub outside_bounds: bool,
}

impl NewReport {
    /// Removes NUL characters from every text field and attribute: PostgreSQL refuses them in
    /// text and jsonb, and no reader wants them.
    pub fn strip_nul(&mut self) {
        fn clean(s: &mut String) {
            if s.contains('\0') {
                s.retain(|c| c != '\0');
            }
        }
        fn clean_json(v: &mut serde_json::Value) {
            match v {
                serde_json::Value::String(s) => clean(s),
                serde_json::Value::Array(items) => items.iter_mut().for_each(clean_json),
                serde_json::Value::Object(map) => {
                    if map.keys().any(|k| k.contains('\0')) {
                        *map = std::mem::take(map)
                            .into_iter()
                            .map(|(k, v)| (k.replace('\0', ""), v))
                            .collect();
                    }
                    map.values_mut().for_each(clean_json);
                }
                _ => {}
            }
        }
        for s in [&mut self.source, &mut self.category] {
            clean(s);
        }
        for s in [
            &mut self.external_id,
            &mut self.description,
            &mut self.address,
            &mut self.ward,
            &mut self.agency,
            &mut self.channel,
            &mut self.reporter_contact,
        ]
        .into_iter()
        .flatten()
        {
            clean(s);
        }
        clean_json(&mut self.attributes);
    }
}

/// A citizen's rating of how their report was handled, 1 (bad) to 5 (good).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Satisfaction(u8);

impl Satisfaction {
    pub fn new(value: i64) -> Result<Self, InvalidValue> {
        match u8::try_from(value) {
            Ok(v @ 1..=5) => Ok(Self(v)),
            _ => Err(InvalidValue::new(
                "satisfaction",
                format!("satisfaction must be an integer 1..5, got {value}"),
            )),
        }
    }
    pub fn get(self) -> u8 {
        self.0
    }
}

/// A change asked for by an operator: a status move and/or a new agency or satisfaction. The
/// rules are in [`Report::apply_change`].
#[derive(Debug, Clone, PartialEq)]
pub struct StatusChange {
    /// `None` leaves the status as it is.
    pub status: Option<Status>,
    pub at: DateTime<Utc>,
    pub agency: Option<String>,
    pub satisfaction: Option<Satisfaction>,
}

/// An administrative area reports are counted in. `code` is its public id.
#[derive(Debug, Clone, PartialEq)]
pub struct Ward {
    pub code: String,
    /// UTF-8, diacritics as given (e.g. "Phú Hội").
    pub name: String,
    pub geometry: MultiPolygon<f64>,
    pub area_km2: f64,
    pub population: Option<u64>,
}

/// A unit that handles reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agency {
    pub code: String,
    pub name: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinates_reject_out_of_range_and_nan() {
        assert!(Lat::new(200.0).is_err());
        assert!(Lat::new(f64::NAN).is_err());
        assert!(Lon::new(f64::INFINITY).is_err());
        assert_eq!(Lon::new(107.59).map(Lon::get), Ok(107.59));
    }

    #[test]
    fn transitions_follow_the_workflow() {
        assert!(Status::Received.can_become(Status::Assigned));
        assert!(Status::Resolved.can_become(Status::InProgress));
        assert!(!Status::Rejected.can_become(Status::Assigned));
        assert!(!Status::Resolved.can_become(Status::Received));
        assert!(!Status::Assigned.can_become(Status::Assigned));
    }

    #[test]
    fn bbox_parses_ogc_order() {
        let b = Bbox4326::parse("107.5,16.4,107.7,16.5").expect("valid bbox");
        assert!(b.contains(107.6, 16.45));
        assert!(Bbox4326::parse("1,2,3").is_err());
        assert!(Bbox4326::parse("3,2,1,4").is_err());
    }

    #[test]
    fn nul_characters_are_removed_everywhere() {
        let mut r = NewReport {
            source: "a\0b".into(),
            external_id: Some("x\0".into()),
            category: "garbage".into(),
            description: Some("rác\0 thải".into()),
            lon: Lon::new(107.5).expect("lon"),
            lat: Lat::new(16.4).expect("lat"),
            address: None,
            ward: None,
            agency: None,
            status: Status::Received,
            created_at: chrono::DateTime::UNIX_EPOCH,
            due_at: None,
            resolved_at: None,
            satisfaction: None,
            channel: None,
            reporter_contact: None,
            attributes: serde_json::json!({"k\0": ["v\0", {"w": "\0"}]}),
            outside_bounds: false,
        };
        r.strip_nul();
        assert_eq!(
            (r.source.as_str(), r.external_id.as_deref()),
            ("ab", Some("x"))
        );
        assert_eq!(r.description.as_deref(), Some("rác thải"));
        assert_eq!(r.attributes, serde_json::json!({"k": ["v", {"w": ""}]}));
    }

    #[test]
    fn satisfaction_is_one_to_five() {
        assert!(Satisfaction::new(0).is_err());
        assert!(Satisfaction::new(6).is_err());
        assert_eq!(Satisfaction::new(5).map(Satisfaction::get), Ok(5));
    }
}
