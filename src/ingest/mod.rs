//! Turning what sources send (API JSON, GeoJSON, CSV) into validated [`NewReport`]s.
//!
//! Validation against the city profile happens here, once: known category, coordinates in range,
//! sensible times. Every error names the field (and, for files, the line) that was wrong.

pub mod csv;
pub mod geojson;
pub mod json;
pub mod mapping;
pub mod profile;

use crate::config::CityProfile;
use crate::model::{Category, InvalidValue, NewReport};
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::Value;

/// Times a report may carry: from 1900 up to (not including) 2200. Outside it a time is a typo or
/// a placeholder (year 0, 9999), and the stores would disagree about it (PostgreSQL refuses year
/// 0 while SQLite keeps any text), so it is refused alike for both.
pub const TIME_RANGE_YEARS: std::ops::Range<i32> = 1900..2200;

/// Numbers in `attributes` must lie within ±this. PostgreSQL's `jsonb` keeps a number as an exact
/// decimal (1.7976931348623157e308 becomes a 309-digit integer) that JSON readers cannot always
/// read back as a float; within this bound every number reads back on both stores.
pub const ATTRIBUTE_NUMBER_LIMIT: f64 = 1e300;

/// Fills in what the profile decides when a source leaves it out: the category's default agency
/// and the deadline (`created_at` + the category's hours). The category may be given by code or
/// by any of its names; it is stored by code. Rejects unknown categories, listing the codes.
pub fn apply_profile(report: &mut NewReport, profile: &CityProfile) -> Result<(), InvalidValue> {
    let category = profile.resolve_category(&report.category)?;
    if category.code != report.category {
        report.category = category.code.clone();
    }
    apply_category(report, category)
}

/// [`apply_profile`] for a report whose category is resolved already.
pub fn apply_category(report: &mut NewReport, category: &Category) -> Result<(), InvalidValue> {
    if report.agency.is_none() {
        report.agency = Some(category.agency.clone());
    }
    if report.due_at.is_none() {
        report.due_at =
            Some(report.created_at + Duration::hours(i64::from(category.deadline_hours)));
    }
    check_times(report)?;
    check_attributes(&report.attributes)
}

/// Every number in `attributes` finite and within ±[`ATTRIBUTE_NUMBER_LIMIT`].
pub fn check_attributes(attributes: &Value) -> Result<(), InvalidValue> {
    let out_of_range = |v: &Value| {
        v.as_f64()
            .is_some_and(|n| !n.is_finite() || n.abs() > ATTRIBUTE_NUMBER_LIMIT)
    };
    let mut pending = vec![attributes];
    while let Some(v) = pending.pop() {
        match v {
            Value::Array(items) => pending.extend(items),
            Value::Object(map) => pending.extend(map.values()),
            Value::Number(n) if out_of_range(v) => {
                return Err(InvalidValue::new(
                    "attributes",
                    format!("number {n} is out of range: numbers must lie within ±1e300"),
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// A time within [`TIME_RANGE_YEARS`].
pub fn check_time_range(at: DateTime<Utc>, field: &'static str) -> Result<(), InvalidValue> {
    let bound = |year| Utc.with_ymd_and_hms(year, 1, 1, 0, 0, 0).single();
    let (Some(first), Some(end)) = (bound(TIME_RANGE_YEARS.start), bound(TIME_RANGE_YEARS.end))
    else {
        return Ok(());
    };
    if at < first || at >= end {
        return Err(InvalidValue::new(
            field,
            format!(
                "{at} is out of range: times must lie in the years {}..{}",
                TIME_RANGE_YEARS.start,
                TIME_RANGE_YEARS.end - 1
            ),
        ));
    }
    Ok(())
}

/// Times must be ordered: nothing resolved or due before it was created.
pub fn check_times(report: &NewReport) -> Result<(), InvalidValue> {
    check_time_range(report.created_at, "created_at")?;
    if let Some(t) = report.due_at {
        check_time_range(t, "due_at")?;
    }
    if let Some(t) = report.resolved_at {
        check_time_range(t, "resolved_at")?;
    }
    if let Some(resolved) = report.resolved_at
        && resolved < report.created_at
    {
        return Err(InvalidValue::new(
            "resolved_at",
            "resolved_at is before created_at",
        ));
    }
    if let Some(due) = report.due_at
        && due < report.created_at
    {
        return Err(InvalidValue::new("due_at", "due_at is before created_at"));
    }
    Ok(())
}

/// Reports from citizens cannot come from the future (a minute of clock skew is allowed).
pub fn check_not_future(
    at: DateTime<Utc>,
    now: DateTime<Utc>,
    field: &'static str,
) -> Result<(), InvalidValue> {
    if at > now + Duration::minutes(1) {
        return Err(InvalidValue::new(
            field,
            format!("{field} {at} is in the future"),
        ));
    }
    Ok(())
}
