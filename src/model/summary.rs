//! What the in-memory index keeps of a report. It lives in the model because both the store
//! (which reads it) and the index (which holds it) need it, and the index must not know the store.

use super::{NewReport, Report, ReportId, Status};
use chrono::{DateTime, Utc};

/// The few fields of a report the in-memory index holds; the rest stays in the store.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportSummary {
    pub id: ReportId,
    pub lon: f64,
    pub lat: f64,
    pub ward: Option<String>,
    pub category: String,
    pub agency: Option<String>,
    pub status: Status,
    pub created_at: DateTime<Utc>,
    pub due_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// Imported with a point outside the city profile's bounds.
    pub outside_bounds: bool,
}

impl ReportSummary {
    /// The summary of `r` as stored under `id`.
    pub fn of_new(id: ReportId, r: &NewReport) -> Self {
        Self {
            id,
            lon: r.lon.get(),
            lat: r.lat.get(),
            ward: r.ward.clone(),
            category: r.category.clone(),
            agency: r.agency.clone(),
            status: r.status,
            created_at: r.created_at,
            due_at: r.due_at,
            resolved_at: r.resolved_at,
            outside_bounds: r.outside_bounds,
        }
    }
}

impl From<&Report> for ReportSummary {
    fn from(r: &Report) -> Self {
        Self {
            id: r.id,
            lon: r.lon,
            lat: r.lat,
            ward: r.ward.clone(),
            category: r.category.clone(),
            agency: r.agency.clone(),
            status: r.status,
            created_at: r.created_at,
            due_at: r.due_at,
            resolved_at: r.resolved_at,
            outside_bounds: r.outside_bounds,
        }
    }
}
