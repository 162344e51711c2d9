//! GeoJSON FeatureCollections of reports (another system's export, or Hotspots' own
//! `/api/v1/reports` output) into validated reports, feature by feature.
//!
//! The fields the REST API takes are read by [`report_from_json`], so both paths agree. An import
//! file carries more than a submission, and this module handles the rest:
//! - `status`, `due_at`, `resolved_at`, `agency` and `satisfaction` are taken as given;
//! - `created_at` is required (a submission is stamped "now"; an old report must not be);
//! - `ward` becomes the source ward; fields Hotspots computes (`id`, `ward_name`, `updated_at`,
//!   `overdue`, `distance_m`) are ignored;
//! - any other property goes to `attributes`, as a CSV's unmapped columns do;
//! - a point outside the city's bounds is flagged, not rejected, as in CSV imports.

use super::check_times;
use super::csv::{AddedCategory, FileError, ParsedRow, RejectReason, RowError, RowFlags};
use super::json::report_from_json;
use super::mapping::parse_time;
use crate::config::CityProfile;
use crate::model::{Bbox4326, InvalidValue, Satisfaction, Status, slug};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use unicode_normalization::UnicodeNormalization;

/// Properties [`report_from_json`] reads.
const SUBMITTED: &[&str] = &[
    "category",
    "description",
    "address",
    "external_id",
    "source",
    "channel",
    "created_at",
    "reporter_contact",
];
/// Properties Hotspots computes when it serves reports; re-importing must not take them as data.
const COMPUTED: &[&str] = &[
    "id",
    "ward_name",
    "updated_at",
    "overdue",
    "distance_m",
    "outside_bounds",
];

/// Each feature's outcome, in order.
pub type Rows = Vec<Result<ParsedRow, RowError>>;

/// Reads every feature; `line` in results is the feature's index in `features` (from 0).
/// Features without a `source` property get `source`.
pub fn read_geojson_reports(
    text: &str,
    profile: &CityProfile,
    source: &str,
) -> Result<Vec<Result<ParsedRow, RowError>>, FileError> {
    Ok(read_features(&features_of(text)?, profile, source))
}

/// Like [`read_geojson_reports`], but a category the profile lacks is added to `profile`
/// (named in `language`), as a CSV import does, instead of rejecting its features.
pub fn read_geojson_reports_adding(
    text: &str,
    profile: &mut CityProfile,
    source: &str,
    language: &str,
) -> Result<(Rows, Vec<AddedCategory>), FileError> {
    let collection = features_of(text)?;
    let features = features(&collection)?;
    let mut added: Vec<AddedCategory> = Vec::new();
    for (i, f) in features.iter().enumerate() {
        let Some(word) = f
            .pointer("/properties/category")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|w| !w.is_empty())
        else {
            continue;
        };
        if let Some(a) = added.iter_mut().find(|a| a.code == slug(word)) {
            a.rows += 1;
        } else if profile.resolve_category(word).is_err() {
            let name: String = word.nfc().collect();
            if let Some(code) = profile.add_category(word, language, &name) {
                added.push(AddedCategory {
                    code,
                    name,
                    language: language.to_string(),
                    first_line: i as u64,
                    rows: 1,
                });
            }
        }
    }
    Ok((read_features(&collection, profile, source), added))
}

/// The parsed collection, checked to be a FeatureCollection with a `features` array.
fn features_of(text: &str) -> Result<Value, FileError> {
    let collection: Value =
        serde_json::from_str(text).map_err(|e| FileError::NotFeatureCollection(e.to_string()))?;
    if collection.get("type").and_then(Value::as_str) != Some("FeatureCollection") {
        return Err(FileError::NotFeatureCollection(
            "\"type\" is not \"FeatureCollection\"".into(),
        ));
    }
    features(&collection)?;
    Ok(collection)
}

fn features(collection: &Value) -> Result<&Vec<Value>, FileError> {
    collection
        .get("features")
        .and_then(Value::as_array)
        .ok_or_else(|| FileError::NotFeatureCollection("\"features\" is not an array".into()))
}

fn read_features(
    collection: &Value,
    profile: &CityProfile,
    source: &str,
) -> Vec<Result<ParsedRow, RowError>> {
    let Ok(features) = features(collection) else {
        return Vec::new();
    };
    // Bounds are checked here (as a flag), so report_from_json sees the whole world.
    let world = CityProfile {
        bounds: Bbox4326 {
            min_lon: -180.0,
            min_lat: -90.0,
            max_lon: 180.0,
            max_lat: 90.0,
        },
        ..profile.clone()
    };
    let now = Utc::now();
    features
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let line = i as u64;
            read_feature(f, line, &world, profile, source, now)
                .map_err(|(reason, message)| RowError::new(line, reason, message))
        })
        .collect()
}

type Rejection = (RejectReason, String);

fn read_feature(
    feature: &Value,
    line: u64,
    world: &CityProfile,
    profile: &CityProfile,
    source: &str,
    now: DateTime<Utc>,
) -> Result<ParsedRow, Rejection> {
    let bad = |message: &str| (RejectReason::BadValue, message.to_string());
    let object = feature
        .as_object()
        .filter(|o| o.get("type").and_then(Value::as_str) == Some("Feature"))
        .ok_or_else(|| bad("not a GeoJSON Feature"))?;
    let geometry = object.get("geometry").filter(|g| !g.is_null());
    let coordinates = geometry.and_then(|g| g.get("coordinates"));
    if geometry.is_none()
        || coordinates == Some(&json!([0, 0]))
        || coordinates == Some(&json!([0.0, 0.0]))
    {
        return Err((
            RejectReason::NoCoordinates,
            "the feature has no point".into(),
        ));
    }
    let props = match object.get("properties") {
        Some(Value::Object(p)) => p.clone(),
        None | Some(Value::Null) => Map::new(),
        Some(_) => return Err(bad("properties must be an object")),
    };
    let mut submitted = Map::new();
    let mut attributes = match props.get("attributes") {
        Some(Value::Object(a)) => a.clone(),
        None | Some(Value::Null) => Map::new(),
        Some(_) => return Err(bad("attributes must be an object")),
    };
    let mut given = Map::new();
    for (key, value) in props {
        match key.as_str() {
            k if SUBMITTED.contains(&k) => {
                submitted.insert(key, value);
            }
            "status" | "due_at" | "resolved_at" | "agency" | "satisfaction" | "ward" => {
                given.insert(key, value);
            }
            k if COMPUTED.contains(&k) || k == "attributes" => {}
            _ if value.is_null() || value == "" => {}
            _ => {
                attributes.insert(key, value);
            }
        }
    }
    if submitted.get("created_at").is_none_or(Value::is_null) {
        return Err((
            RejectReason::BadDate,
            "created_at is required in an imported file".into(),
        ));
    }
    submitted.entry("source").or_insert_with(|| source.into());
    let source_ward = text(&given, "ward")?;
    if let Some(w) = &source_ward {
        attributes.insert("source_ward".into(), w.clone().into());
    }
    submitted.insert("attributes".into(), Value::Object(attributes));
    let body = json!({ "type": "Feature", "geometry": geometry, "properties": submitted });
    let mut report = report_from_json(&body, world, now).map_err(rejection)?;

    let time = |field: &str| {
        text(&given, field)?
            .map(|t| parse_time(&t, profile.time_zone))
            .transpose()
            .map_err(|e| (RejectReason::BadDate, format!("{field}: {e}")))
    };
    report.resolved_at = time("resolved_at")?;
    if let Some(due) = time("due_at")? {
        report.due_at = Some(due);
    }
    if let Some(agency) = text(&given, "agency")? {
        report.agency = Some(agency);
    }
    report.status = match text(&given, "status")? {
        Some(s) => Status::parse(&s).map_err(|e| (RejectReason::BadStatus, e.message))?,
        None if report.resolved_at.is_some() => Status::Resolved,
        None => Status::Received,
    };
    report.satisfaction = match given.get("satisfaction") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_i64()
                .ok_or_else(|| bad("satisfaction must be an integer 1..5"))
                .and_then(|n| Satisfaction::new(n).map_err(rejection))?,
        ),
    };
    check_times(&report).map_err(rejection)?;
    let flags = RowFlags {
        outside_bounds: !profile.bounds.contains(report.lon.get(), report.lat.get()),
        ..RowFlags::default()
    };
    report.outside_bounds = flags.outside_bounds;
    Ok(ParsedRow {
        line,
        report,
        source_ward,
        flags,
    })
}

fn text(props: &Map<String, Value>, field: &str) -> Result<Option<String>, Rejection> {
    match props.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_string()).filter(|s| !s.is_empty())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err((
            RejectReason::BadValue,
            format!("{field} must be a string, got {other}"),
        )),
    }
}

/// The reject reason of a model or submission error, by the field it names.
fn rejection(e: InvalidValue) -> Rejection {
    let reason = match e.field {
        "lon" | "lat" | "geometry" | "lon/lat" => RejectReason::BadCoordinates,
        "category" if e.message == "required" => RejectReason::MissingCategory,
        "category" => RejectReason::UnknownCategory,
        "created_at" => RejectReason::BadDate,
        "resolved_at" | "due_at" => RejectReason::DatesOutOfOrder,
        _ => RejectReason::BadValue,
    };
    (reason, e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feature(coords: Value, props: Value) -> Value {
        json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": coords}, "properties": props})
    }

    #[test]
    fn reads_features_with_lifecycle_and_flags() {
        let p = CityProfile::hue();
        let features = vec![
            feature(
                json!([107.59, 16.46]),
                json!({"category": "flooding", "created_at": "2024-10-01T08:00:00Z",
                "resolved_at": "2024-10-01 20:00:00", "status": "resolved", "ward": "phu-hoi", "id": 7, "road": "Lê Lợi"}),
            ),
            feature(
                json!([106.70, 10.77]),
                json!({"category": "garbage", "created_at": "2024-10-01T08:00:00Z"}),
            ),
            feature(
                json!([107.59, 16.46]),
                json!({"category": "volcano", "created_at": "2024-10-01T08:00:00Z"}),
            ),
            feature(json!([107.59, 16.46]), json!({"category": "garbage"})),
            feature(
                json!([0, 0]),
                json!({"category": "garbage", "created_at": "2024-10-01T08:00:00Z"}),
            ),
            feature(
                json!([107.59, 16.46]),
                json!({"category": "garbage", "created_at": "2024-10-01T08:00:00Z", "status": "done"}),
            ),
            feature(
                json!([107.59, 16.46]),
                json!({"category": "garbage", "created_at": "2024-10-01T08:00:00Z",
                "resolved_at": "2024-09-01T08:00:00Z"}),
            ),
        ];
        let text = json!({"type": "FeatureCollection", "features": features}).to_string();
        let rows = read_geojson_reports(&text, &p, "hue-s-export").expect("a collection");
        let first = rows[0].as_ref().expect("valid");
        assert_eq!(first.report.source, "hue-s-export");
        assert_eq!(first.report.status, Status::Resolved);
        // 20:00 in Huế (UTC+7) is 13:00 UTC.
        assert_eq!(
            first.report.resolved_at.map(|t| t.to_rfc3339()).as_deref(),
            Some("2024-10-01T13:00:00+00:00")
        );
        assert_eq!(first.source_ward.as_deref(), Some("phu-hoi"));
        assert_eq!(first.report.attributes["road"], "Lê Lợi");
        assert!(first.report.attributes.get("id").is_none());
        assert!(rows[1].as_ref().expect("kept").flags.outside_bounds);
        let reasons: Vec<(u64, &str)> = rows[2..]
            .iter()
            .map(|r| r.as_ref().expect_err("rejected"))
            .map(|e| (e.line, e.reason.code()))
            .collect();
        assert_eq!(
            reasons,
            [
                (2, "unknown_category"),
                (3, "bad_date"),
                (4, "no_coordinates"),
                (5, "bad_status"),
                (6, "dates_out_of_order")
            ]
        );
        assert!(read_geojson_reports("{\"type\": \"Feature\"}", &p, "x").is_err());
    }
}
