//! Row values both stores read back, and their conversion into model types.

use super::{StoreError, wkb};
use crate::model::{Report, Status};
use chrono::{DateTime, Utc};

/// A report row as columns, once each store has decoded its own time and geometry formats.
pub(crate) struct ReportRow {
    pub id: i64,
    pub wkb: Vec<u8>,
    pub source: String,
    pub external_id: Option<String>,
    pub category: String,
    pub description: Option<String>,
    pub address: Option<String>,
    pub ward: Option<String>,
    pub agency: Option<String>,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub due_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub satisfaction: Option<i64>,
    pub channel: Option<String>,
    pub attributes: String,
    pub outside_bounds: bool,
}

/// Logs a stored report that cannot be read back (stores leave it out of what they return).
pub(crate) fn log_unreadable(id: Option<i64>, error: &StoreError) {
    tracing::error!(report = ?id, %error, "a stored report is unreadable; left out");
}

pub(crate) fn status(text: &str, id: i64) -> Result<Status, StoreError> {
    Status::parse(text).map_err(|e| StoreError::Corrupt {
        what: format!("report {id} status"),
        message: e.to_string(),
    })
}

pub(crate) fn point(wkb_bytes: &[u8], id: i64) -> Result<(f64, f64), StoreError> {
    wkb::read_point(wkb_bytes).map_err(|source| StoreError::Geometry {
        what: format!("report {id}"),
        source,
    })
}

impl ReportRow {
    pub fn into_report(self) -> Result<Report, StoreError> {
        let (lon, lat) = point(&self.wkb, self.id)?;
        let attributes =
            serde_json::from_str(&self.attributes).map_err(|e| StoreError::Corrupt {
                what: format!("report {} attributes", self.id),
                message: e.to_string(),
            })?;
        Ok(Report {
            id: self.id,
            status: status(&self.status, self.id)?,
            source: self.source,
            external_id: self.external_id,
            category: self.category,
            description: self.description,
            lon,
            lat,
            address: self.address,
            ward: self.ward,
            agency: self.agency,
            created_at: self.created_at,
            updated_at: self.updated_at,
            due_at: self.due_at,
            resolved_at: self.resolved_at,
            satisfaction: self.satisfaction.and_then(|s| u8::try_from(s).ok()),
            channel: self.channel,
            attributes,
            outside_bounds: self.outside_bounds,
        })
    }
}
