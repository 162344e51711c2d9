//! Durable storage of reports and wards, behind one [`Store`] contract with two implementations:
//! [`GeoPackageStore`] (a single file, the embedded default) and [`PostgisStore`] (a city's server).
//!
//! Every write is one transaction: it is all committed or none of it is, and callers acknowledge a
//! write only after it returns.

mod geopackage;
mod parts;
mod postgis;
mod rows;

pub use crate::wkb;
pub use geopackage::{GeoPackageStore, private_path};
pub use postgis::PostgisStore;

use crate::model::{NewReport, Report, ReportId, Status, StatusChange, Ward};
use crate::wards::WardSet;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error while {context}: {source}")]
    Database {
        context: &'static str,
        source: sqlx::Error,
    },
    #[error("migrating the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored geometry of {what} is unreadable: {source}")]
    Geometry { what: String, source: wkb::WkbError },
    #[error("stored value of {what} is unreadable: {message}")]
    Corrupt { what: String, message: String },
    #[error("report {0} does not exist")]
    NotFound(ReportId),
    #[error("report {id} is {from}; it cannot become {to}")]
    IllegalTransition {
        id: ReportId,
        from: Status,
        to: Status,
    },
}

/// Attaches what the store was doing to a sqlx error.
pub(crate) trait Context<T> {
    fn context(self, context: &'static str) -> Result<T, StoreError>;
}

impl<T> Context<T> for Result<T, sqlx::Error> {
    fn context(self, context: &'static str) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Database { context, source })
    }
}

/// What happened to one report of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// Stored now, with this id.
    New(ReportId),
    /// A report with the same source and external id was already stored, with this id.
    Duplicate(ReportId),
}

impl Inserted {
    pub fn id(self) -> ReportId {
        match self {
            Inserted::New(id) | Inserted::Duplicate(id) => id,
        }
    }
}

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
        }
    }
}

/// The storage contract both stores keep; `tests/store_contract.rs` holds them to it.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Short name for logs and `/readyz`: "geopackage" or "postgis".
    fn kind(&self) -> &'static str;

    /// A setting stored with the data (e.g. `"profile"`: the city profile as TOML).
    async fn setting(&self, key: &str) -> Result<Option<String>, StoreError>;

    async fn save_setting(&self, key: &str, value: &str) -> Result<(), StoreError>;

    /// All wards, in code order.
    async fn wards(&self) -> Result<Vec<Ward>, StoreError>;

    /// Replaces every ward and re-assigns every report's ward against the new set, in one
    /// transaction. Returns how many reports changed ward.
    async fn replace_wards(&self, wards: &WardSet) -> Result<u64, StoreError>;

    /// Stores a batch in one transaction. Reports whose (source, external_id) is already stored
    /// are not stored again. The result has one entry per input, in input order.
    async fn insert_reports(&self, reports: &[NewReport]) -> Result<Vec<Inserted>, StoreError>;

    /// The reports with these ids, in the order asked; unknown ids are left out.
    async fn get_reports(&self, ids: &[ReportId]) -> Result<Vec<Report>, StoreError>;

    /// Applies a status change if the workflow allows it, setting `resolved_at` on resolution and
    /// clearing it on reopening. Returns the updated report.
    async fn update_status(
        &self,
        id: ReportId,
        change: &StatusChange,
    ) -> Result<Report, StoreError>;

    /// Every report's summary, in id order.
    async fn summaries(&self) -> Result<Vec<ReportSummary>, StoreError>;

    /// Every report's summary, handed over in chunks (any order), so that start-up never holds
    /// all of them at once. The default hands over [`Store::summaries`] as one chunk.
    async fn scan_summaries(
        &self,
        sink: &mut (dyn FnMut(Vec<ReportSummary>) + Send),
    ) -> Result<(), StoreError> {
        sink(self.summaries().await?);
        Ok(())
    }

    async fn count_reports(&self) -> Result<u64, StoreError>;

    /// Flushes and closes; the store is not used afterwards.
    async fn close(&self) {}

    /// The private contact of a report's author (never served by the API).
    async fn reporter_contact(&self, id: ReportId) -> Result<Option<String>, StoreError>;
}

/// Applies `change` to `report` as both stores do, or says why it may not.
pub(crate) fn apply_change(report: &mut Report, change: &StatusChange) -> Result<(), StoreError> {
    if !report.status.can_become(change.status) {
        return Err(StoreError::IllegalTransition {
            id: report.id,
            from: report.status,
            to: change.status,
        });
    }
    report.status = change.status;
    report.updated_at = change.at;
    report.resolved_at = match change.status {
        Status::Resolved => Some(change.at),
        Status::Rejected => report.resolved_at,
        _ => None,
    };
    if let Some(agency) = &change.agency {
        report.agency = Some(agency.clone());
    }
    if let Some(s) = change.satisfaction {
        report.satisfaction = Some(s.get());
    }
    Ok(())
}

/// Timestamps are stored as UTC text `YYYY-MM-DDTHH:MM:SS.sssZ`, GeoPackage's DATETIME format.
pub(crate) fn format_time(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

pub(crate) fn parse_time(text: &str, what: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt {
            what: what.to_string(),
            message: format!("{text:?}: {e}"),
        })
}
