//! How to read one city's 311 export without writing code: which column holds what, how to turn
//! the source's categories and statuses into Hotspots' vocabulary, and how to read its times,
//! coordinates and ward values.
//!
//! A mapping is a TOML file; `data/mappings/example.toml` explains every key. Presets for Chicago,
//! Boston and NYC are embedded ([`Mapping::preset`]).

mod formats;

pub use formats::{parse_hex_wkb_point, parse_lat_lon_text, parse_time, parse_wkt_point};

use crate::model::Status;
use chrono_tz::Tz;
use formats::number;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Names accepted by [`Mapping::preset`].
pub const PRESETS: [&str; 3] = ["chicago", "boston", "nyc"];

#[derive(Debug, thiserror::Error)]
pub enum MappingError {
    #[error("mapping is not valid TOML: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("mapping: {0}")]
    Invalid(String),
}

/// One source's export format. See `data/mappings/example.toml` for every key.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    /// Stored as each report's `source`, e.g. "chicago-311"; with the external id it makes
    /// re-imports idempotent.
    pub source: String,
    /// How the *file's* timestamps written without an offset are read (many exports write UTC
    /// without saying so). `None`: in the city's zone.
    #[serde(default)]
    pub file_time_zone: Option<Tz>,
    /// The *city's* zone, in which days and months are cut, for a city profile derived from this
    /// file (`--time-zone` overrides it). Unrelated to how the file's times are read.
    #[serde(default)]
    pub city_time_zone: Option<Tz>,
    /// Language (ISO 639-1) of the file's category values: a category found in the file is
    /// named in it. Default `en`.
    #[serde(default = "default_language")]
    pub language: String,
    /// The single `time_zone` key of earlier mappings, which meant both zones; refused with a
    /// message that says which of the two keys to use.
    #[serde(default, rename = "time_zone")]
    pub legacy_time_zone: Option<toml::Value>,
    pub columns: Columns,
    /// Where a row's point comes from, tried in order until one gives a point.
    pub coordinates: Vec<CoordinateSource>,
    /// Unmapped category values become a slug ("Pothole in Street" → "pothole-in-street") when
    /// true; when false such rows are rejected as `unknown_category`.
    #[serde(default)]
    pub category_default_slug: bool,
    /// Source category value → Hotspots category code.
    #[serde(default)]
    pub categories: BTreeMap<String, String>,
    /// Source status value → Hotspots status. Unmapped values: resolved when the row has a closed
    /// time, else received.
    #[serde(default)]
    pub statuses: BTreeMap<String, Status>,
    /// Source agency value → agency code. Unmapped values become a slug of the value.
    #[serde(default)]
    pub agencies: BTreeMap<String, String>,
    #[serde(default)]
    pub ward_rule: WardRule,
}

fn default_language() -> String {
    "en".into()
}

/// Header names of the columns that fill a report. Only `category` and `created_at` are required.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Columns {
    pub external_id: Option<String>,
    pub category: String,
    pub description: Option<String>,
    pub created_at: String,
    pub resolved_at: Option<String>,
    pub due_at: Option<String>,
    pub status: Option<String>,
    pub agency: Option<String>,
    pub address: Option<String>,
    pub channel: Option<String>,
    /// The source's own ward for each row, kept to compare with point-in-polygon assignment.
    pub ward: Option<String>,
}

impl Columns {
    /// Every column name this table refers to.
    pub fn names(&self) -> Vec<&str> {
        let optional = [
            &self.external_id,
            &self.description,
            &self.resolved_at,
            &self.due_at,
            &self.status,
            &self.agency,
            &self.address,
            &self.channel,
            &self.ward,
        ];
        let mut names = vec![self.category.as_str(), self.created_at.as_str()];
        names.extend(optional.into_iter().flatten().map(String::as_str));
        names
    }
}

/// One way a row can carry its point.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum CoordinateSource {
    /// Two numeric columns in WGS84 degrees.
    LatLon { lat: String, lon: String },
    /// One column with WKT `POINT(lon lat)`, optionally prefixed `SRID=4326;`.
    Wkt { column: String },
    /// One column with hex-encoded WKB or PostGIS EWKB (Boston's `geom_4326`).
    HexWkb { column: String },
    /// One column with `(lat, lon)` text (Socrata's `location`, e.g. Chicago and NYC).
    LatLonText { column: String },
}

impl CoordinateSource {
    pub fn columns(&self) -> Vec<&str> {
        match self {
            Self::LatLon { lat, lon } => vec![lat, lon],
            Self::Wkt { column } | Self::HexWkb { column } | Self::LatLonText { column } => {
                vec![column]
            }
        }
    }

    /// Reads (lon, lat) from the values of [`Self::columns`], in that order. `Ok(None)` when
    /// they are all empty, so the next source can be tried.
    pub fn read(&self, values: &[&str]) -> Result<Option<(f64, f64)>, String> {
        if values.iter().all(|v| v.trim().is_empty()) {
            return Ok(None);
        }
        match (self, values) {
            (Self::LatLon { .. }, [lat, lon]) => {
                Ok(Some((number(lon, "lon")?, number(lat, "lat")?)))
            }
            (Self::Wkt { .. }, [text]) => parse_wkt_point(text),
            (Self::HexWkb { .. }, [text]) => parse_hex_wkb_point(text).map(Some),
            (Self::LatLonText { .. }, [text]) => parse_lat_lon_text(text).map(Some),
            _ => Err("internal: wrong number of coordinate values".into()),
        }
    }
}

/// How raw ward values become ward codes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WardRule {
    /// Wards are numbered: "Ward 8", "08", "8" and "8.0" all become "8". "0", "" and values
    /// with no number become `None`: sources (Boston) write 0 for "unknown".
    #[default]
    Number,
    /// Wards are names: the trimmed value as it is; "" becomes `None`.
    Text,
}

impl Mapping {
    /// Reads and checks a mapping. Errors name the TOML line or the key that is wrong.
    pub fn from_toml(text: &str) -> Result<Self, MappingError> {
        let mapping: Mapping = toml::from_str(text)?;
        mapping.check()?;
        Ok(mapping)
    }

    /// A built-in mapping by city name (see [`PRESETS`]).
    pub fn preset(name: &str) -> Option<Mapping> {
        let text = match name {
            "chicago" => include_str!("presets/chicago.toml"),
            "boston" => include_str!("presets/boston.toml"),
            "nyc" => include_str!("presets/nyc.toml"),
            _ => return None,
        };
        Some(Self::from_toml(text).expect("embedded presets are valid (tested)"))
    }

    fn check(&self) -> Result<(), MappingError> {
        let invalid = |m: String| Err(MappingError::Invalid(m));
        if self.source.trim().is_empty() {
            return invalid("source must not be empty".into());
        }
        if self.legacy_time_zone.is_some() {
            return invalid(
                "the key time_zone is split in two: file_time_zone says how the file's times \
                 without an offset are read (e.g. \"UTC\"), city_time_zone is the city's own zone \
                 (e.g. \"Europe/Berlin\"); see data/mappings/example.toml"
                    .into(),
            );
        }
        if self.language.len() != 2 || !self.language.bytes().all(|b| b.is_ascii_lowercase()) {
            return invalid(format!(
                "language must be a two-letter ISO 639-1 code such as \"de\", got {:?}",
                self.language
            ));
        }
        if self.coordinates.is_empty() {
            return invalid("at least one [[coordinates]] source is needed".into());
        }
        let coordinate_columns = self.coordinates.iter().flat_map(CoordinateSource::columns);
        if let Some(empty) = self
            .columns
            .names()
            .into_iter()
            .chain(coordinate_columns)
            .find(|c| c.trim().is_empty())
        {
            return invalid(format!("column names must not be empty (got {empty:?})"));
        }
        if let Some((value, code)) = self.categories.iter().find(|(_, code)| {
            code.is_empty()
                || !code
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        }) {
            return invalid(format!(
                "[categories] {value:?} maps to {code:?}; a category code is an ASCII slug \
                 (lower-case letters, digits, - and _), e.g. {:?}",
                slugify(code)
            ));
        }
        if let Some((value, _)) = self
            .agencies
            .iter()
            .find(|(_, code)| slugify(code).is_empty())
        {
            return invalid(format!("[agencies] {value:?} maps to an empty code"));
        }
        Ok(())
    }

    /// The category code of a non-empty source value, or `None` when it is unmapped and
    /// `category_default_slug` is off.
    pub fn category_code(&self, value: &str) -> Option<String> {
        let value = value.trim();
        match self.categories.get(value) {
            Some(code) => Some(code.clone()),
            None if self.category_default_slug => Some(slugify(value)).filter(|s| !s.is_empty()),
            None => None,
        }
    }

    /// The status of a row, from its status value and whether it has a closed time.
    pub fn status(&self, value: Option<&str>, closed: bool) -> Status {
        let value = value.map(str::trim).unwrap_or_default();
        self.statuses
            .get(value)
            .copied()
            .or_else(|| Status::parse(value).ok())
            .unwrap_or(if closed {
                Status::Resolved
            } else {
                Status::Received
            })
    }

    /// The agency code of a non-empty source value.
    pub fn agency_code(&self, value: &str) -> String {
        let value = value.trim();
        self.agencies
            .get(value)
            .cloned()
            .unwrap_or_else(|| slugify(value))
    }

    /// The ward code of a raw ward value, by [`Mapping::ward_rule`].
    pub fn normalise_ward(&self, value: &str) -> Option<String> {
        let value = value.trim();
        match self.ward_rule {
            WardRule::Text => Some(value.to_string()).filter(|v| !v.is_empty()),
            WardRule::Number => {
                let digits = value.trim_start_matches(|c: char| !c.is_ascii_digit());
                let number: f64 = digits.parse().ok()?;
                // A whole number below 1e9 is exact as an integer; printing the float would go
                // through exact decimal formatting, a visible cost per row.
                (number.fract() == 0.0 && (1.0..1e9).contains(&number))
                    .then(|| (number as u64).to_string())
            }
        }
    }
}

/// A code from free text, an ASCII slug ([`crate::model::slug`]): "Pothole in Street" →
/// "pothole-in-street", "Wilder Müll" → "wilder-muell".
pub fn slugify(text: &str) -> String {
    crate::model::slug(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_and_the_example_parse() {
        for name in PRESETS {
            assert!(Mapping::preset(name).is_some(), "{name}");
        }
        assert!(Mapping::preset("paris").is_none());
        let example = include_str!("../../data/mappings/example.toml");
        Mapping::from_toml(example).expect("the documented example is valid");
    }

    #[test]
    fn errors_are_clear() {
        let err = Mapping::from_toml("source = \"x\"\n[columns]\ncategory = \"t\"\ncreated_at = \"d\"\ncolour = \"c\"\n[[coordinates]]\nkind = \"lat_lon\"\nlat = \"y\"\nlon = \"x\"\n")
            .expect_err("unknown key");
        assert!(err.to_string().contains("colour"), "{err}");
        let err = Mapping::from_toml(
            "source = \"x\"\ncoordinates = []\n[columns]\ncategory = \"t\"\ncreated_at = \"d\"\n",
        )
        .expect_err("no points");
        assert!(err.to_string().contains("coordinates"), "{err}");
        let err = Mapping::from_toml("source = \"x\"\n[columns]\ncategory = \"t\"\ncreated_at = \"d\"\n[[coordinates]]\nkind = \"lat_lon\"\nlat = \"y\"\nlon = \"x\"\n[statuses]\nOpen = \"open\"\n")
            .expect_err("bad status");
        assert!(err.to_string().contains("received"), "{err}");
    }

    #[test]
    fn the_old_time_zone_key_is_refused_with_the_two_new_ones_named() {
        let text = "source = \"x\"\ntime_zone = \"UTC\"\n[columns]\ncategory = \"t\"\ncreated_at = \"d\"\n\
                    [[coordinates]]\nkind = \"lat_lon\"\nlat = \"y\"\nlon = \"x\"\n";
        let err = Mapping::from_toml(text).expect_err("ambiguous key");
        let message = err.to_string();
        assert!(
            message.contains("file_time_zone") && message.contains("city_time_zone"),
            "{message}"
        );
        let fine = Mapping::from_toml(&text.replace("time_zone", "file_time_zone")).expect("valid");
        assert_eq!(fine.file_time_zone, Some(chrono_tz::UTC));
        assert_eq!((fine.city_time_zone, fine.language.as_str()), (None, "en"));
        let named = format!(
            "{}[categories]\n\"Wilder Müll\" = \"Wilder Müll\"\n",
            text.replace("time_zone", "file_time_zone")
        );
        let err = Mapping::from_toml(&named).expect_err("a code must be a slug");
        assert!(err.to_string().contains("\"wilder-muell\""), "{err}");
    }

    #[test]
    fn unknown_coordinate_keys_are_refused() {
        let text = "source = \"x\"\n[columns]\ncategory = \"t\"\ncreated_at = \"d\"\n\
                    [[coordinates]]\nkind = \"lat_lon\"\nlat = \"y\"\nlon = \"x\"\ncolumn = \"z\"\n";
        let err = Mapping::from_toml(text).expect_err("column is not a lat_lon key");
        assert!(err.to_string().contains("column"), "{err}");
        let err =
            Mapping::from_toml(&text.replace("lat_lon", "geohash")).expect_err("unknown kind");
        assert!(err.to_string().contains("geohash"), "{err}");
    }

    #[test]
    fn wards_normalise_to_numbers() {
        let m = Mapping::preset("boston").expect("preset");
        for raw in ["Ward 8", "08", "8", "8.0", " ward 8 "] {
            assert_eq!(m.normalise_ward(raw).as_deref(), Some("8"), "{raw:?}");
        }
        for raw in ["0", "00", "", " ", "Ward", "8.5"] {
            assert_eq!(m.normalise_ward(raw), None, "{raw:?}");
        }
        let text = Mapping {
            ward_rule: WardRule::Text,
            ..m
        };
        assert_eq!(text.normalise_ward(" Phú Hội ").as_deref(), Some("Phú Hội"));
    }

    #[test]
    fn slugs_categories_and_statuses() {
        assert_eq!(slugify("Pothole in Street"), "pothole-in-street");
        assert_eq!(
            slugify("  Pest Infestation - Residential "),
            "pest-infestation-residential"
        );
        assert_eq!(slugify("Rác thải / Vệ sinh"), "rac-thai-ve-sinh");
        assert_eq!(slugify("--"), "");
        let m = Mapping::preset("chicago").expect("preset");
        assert_eq!(
            m.category_code("Pothole in Street").as_deref(),
            Some("pothole")
        );
        assert_eq!(
            m.category_code("Tree Debris").as_deref(),
            Some("tree-debris")
        );
        let strict = Mapping {
            category_default_slug: false,
            ..m.clone()
        };
        assert_eq!(strict.category_code("Tree Debris"), None);
        assert_eq!(m.status(Some("Completed - Dup"), true), Status::Resolved);
        assert_eq!(m.status(Some("Whatever"), true), Status::Resolved);
        assert_eq!(m.status(None, false), Status::Received);
        assert_eq!(m.status(Some("in_progress"), false), Status::InProgress);
    }
}
