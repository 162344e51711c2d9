//! A report as the REST API takes it: a plain JSON object with `lon`/`lat`, or a GeoJSON Feature
//! with a Point geometry and the same fields as properties.

use super::{apply_profile, check_not_future};
use crate::config::CityProfile;
use crate::model::{InvalidValue, Lat, Lon, NewReport, Satisfaction, Status};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// Fields a submission may carry; anything else is refused, so typos do not pass silently.
const FIELDS: &[&str] = &[
    "category",
    "description",
    "lon",
    "lat",
    "address",
    "external_id",
    "source",
    "channel",
    "created_at",
    "reporter_contact",
    "attributes",
];

/// Parses and validates one submitted report. `now` stamps reports that carry no `created_at`.
pub fn report_from_json(
    body: &Value,
    profile: &CityProfile,
    now: DateTime<Utc>,
) -> Result<NewReport, InvalidValue> {
    let object = body
        .as_object()
        .ok_or_else(|| InvalidValue::new("body", "expected a JSON object or a GeoJSON Feature"))?;
    let (props, coords) = if object.get("type").and_then(Value::as_str) == Some("Feature") {
        let props = match object.get("properties") {
            Some(Value::Object(p)) => p.clone(),
            None | Some(Value::Null) => Map::new(),
            Some(_) => return Err(InvalidValue::new("properties", "must be an object")),
        };
        (props, Some(point_of(object.get("geometry"))?))
    } else {
        (object.clone(), None)
    };
    if let Some(unknown) = props
        .keys()
        .find(|k| !FIELDS.contains(&k.as_str()) && coords.is_none_or(|_| *k != "type"))
    {
        return Err(InvalidValue::new(
            "body",
            format!("unknown field {unknown:?}; allowed: {}", FIELDS.join(", ")),
        ));
    }
    let (lon, lat) = match coords {
        Some(c) => c,
        None => (number(&props, "lon")?, number(&props, "lat")?),
    };
    let created_at = match text(&props, "created_at")? {
        Some(t) => {
            let at = DateTime::parse_from_rfc3339(&t)
                .map_err(|e| InvalidValue::new("created_at", format!("not an RFC 3339 time: {e}")))?
                .with_timezone(&Utc);
            check_not_future(at, now, "created_at")?;
            at
        }
        None => now,
    };
    let attributes = match props.get("attributes") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(v @ Value::Object(_)) => v.clone(),
        Some(_) => return Err(InvalidValue::new("attributes", "must be an object")),
    };
    let mut report = NewReport {
        source: text(&props, "source")?.unwrap_or_else(|| "api".into()),
        external_id: text(&props, "external_id")?,
        category: text(&props, "category")?
            .ok_or_else(|| InvalidValue::new("category", "required"))?,
        description: text(&props, "description")?,
        lon: Lon::new(lon)?,
        lat: Lat::new(lat)?,
        address: text(&props, "address")?,
        ward: None,
        agency: None,
        status: Status::Received,
        created_at,
        due_at: None,
        resolved_at: None,
        satisfaction: None,
        channel: text(&props, "channel")?,
        reporter_contact: text(&props, "reporter_contact")?,
        attributes,
        // Submissions outside the bounds are refused below, so never flagged.
        outside_bounds: false,
    };
    if !profile.bounds.contains(lon, lat) {
        return Err(InvalidValue::new(
            "lon/lat",
            format!("({lon}, {lat}) is outside {}'s bounds", profile.name),
        ));
    }
    apply_profile(&mut report, profile)?;
    Ok(report)
}

/// Parses a status change body: `{"status": "...", "agency"?: "...", "satisfaction"?: 1..5}`.
pub fn status_change_from_json(
    body: &Value,
    profile: &CityProfile,
    now: DateTime<Utc>,
) -> Result<crate::model::StatusChange, InvalidValue> {
    let object = body
        .as_object()
        .ok_or_else(|| InvalidValue::new("body", "expected a JSON object"))?;
    if let Some(unknown) = object
        .keys()
        .find(|k| !["status", "agency", "satisfaction"].contains(&k.as_str()))
    {
        return Err(InvalidValue::new(
            "body",
            format!("unknown field {unknown:?}; allowed: status, agency, satisfaction"),
        ));
    }
    // Each field may come alone (a new agency, a late rating); the rules are the model's
    // (`Report::apply_change`).
    let status = text(object, "status")?
        .map(|s| Status::parse(&s))
        .transpose()?;
    let agency = text(object, "agency")?;
    if let Some(a) = &agency
        && !profile.agencies.is_empty()
        && profile.agency(a).is_none()
    {
        return Err(InvalidValue::new("agency", format!("unknown agency {a:?}")));
    }
    let satisfaction = match object.get("satisfaction") {
        None | Some(Value::Null) => None,
        Some(v) => Some(Satisfaction::new(v.as_i64().ok_or_else(|| {
            InvalidValue::new("satisfaction", "must be an integer 1..5")
        })?)?),
    };
    if status.is_none() && agency.is_none() && satisfaction.is_none() {
        return Err(InvalidValue::new(
            "body",
            "nothing to change: give at least one of status, agency, satisfaction",
        ));
    }
    Ok(crate::model::StatusChange {
        status,
        at: now,
        agency,
        satisfaction,
    })
}

fn point_of(geometry: Option<&Value>) -> Result<(f64, f64), InvalidValue> {
    let g = geometry
        .and_then(Value::as_object)
        .ok_or_else(|| InvalidValue::new("geometry", "a Point geometry is required"))?;
    if g.get("type").and_then(Value::as_str) != Some("Point") {
        return Err(InvalidValue::new("geometry", "geometry must be a Point"));
    }
    match g
        .get("coordinates")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
    {
        Some([lon, lat, ..]) => Ok((
            lon.as_f64()
                .ok_or_else(|| InvalidValue::new("geometry", "longitude is not a number"))?,
            lat.as_f64()
                .ok_or_else(|| InvalidValue::new("geometry", "latitude is not a number"))?,
        )),
        _ => Err(InvalidValue::new(
            "geometry",
            "coordinates must be [lon, lat]",
        )),
    }
}

fn number(props: &Map<String, Value>, field: &'static str) -> Result<f64, InvalidValue> {
    match props.get(field) {
        Some(Value::Number(n)) => n
            .as_f64()
            .ok_or_else(|| InvalidValue::new(field, "not a number")),
        Some(other) => Err(InvalidValue::new(
            field,
            format!("must be a number, got {other}"),
        )),
        None => Err(InvalidValue::new(field, "required")),
    }
}

fn text(props: &Map<String, Value>, field: &'static str) -> Result<Option<String>, InvalidValue> {
    match props.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) if s.len() > 10_000 => {
            Err(InvalidValue::new(field, "longer than 10,000 bytes"))
        }
        Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
        Some(other) => Err(InvalidValue::new(
            field,
            format!("must be a string, got {other}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-28T10:00:00Z")
            .expect("valid")
            .with_timezone(&Utc)
    }

    #[test]
    fn accepts_plain_json_and_fills_deadline_and_agency() {
        let p = CityProfile::hue();
        let r = report_from_json(
            &json!({"category": "flooding", "lon": 107.59, "lat": 16.46}),
            &p,
            now(),
        )
        .expect("valid report");
        assert_eq!(r.agency.as_deref(), Some("drainage"));
        assert_eq!(r.due_at, Some(now() + chrono::Duration::hours(24)));
    }

    #[test]
    fn accepts_a_geojson_feature() {
        let p = CityProfile::hue();
        let body = json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": [107.59, 16.46]},
                          "properties": {"category": "garbage", "description": "Rác ở góc đường"}});
        let r = report_from_json(&body, &p, now()).expect("valid feature");
        assert_eq!(r.lon.get(), 107.59);
        assert_eq!(r.description.as_deref(), Some("Rác ở góc đường"));
    }

    #[test]
    fn names_the_wrong_field() {
        let p = CityProfile::hue();
        let err = |v: Value| report_from_json(&v, &p, now()).expect_err("invalid").field;
        assert_eq!(
            err(json!({"category": "flooding", "lon": 107.59, "lat": 200})),
            "lat"
        );
        assert_eq!(
            err(json!({"category": "flooding", "lon": "NaN", "lat": 16.4})),
            "lon"
        );
        assert_eq!(
            err(json!({"category": "volcano", "lon": 107.59, "lat": 16.46})),
            "category"
        );
        assert_eq!(err(json!({"lon": 107.59, "lat": 16.46})), "category");
        assert_eq!(
            err(json!({"category": "flooding", "lon": 2.35, "lat": 48.85})),
            "lon/lat"
        );
        assert_eq!(
            err(json!({"category": "flooding", "lon": 107.59, "lat": 16.46, "colour": 1})),
            "body"
        );
    }
}
