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
use chrono::{DateTime, Duration, Utc};

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
    check_times(report)
}

/// Times must be ordered: nothing resolved or due before it was created.
pub fn check_times(report: &NewReport) -> Result<(), InvalidValue> {
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
