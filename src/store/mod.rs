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

pub use crate::model::ReportSummary;

use crate::model::{NewReport, RefusedChange, Report, ReportId, StatusChange, Ward};
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
    /// The change conflicts with the report's state (an illegal status move, a rating of a
    /// report that is not resolved).
    #[error(transparent)]
    Refused(#[from] RefusedChange),
}

impl StoreError {
    /// Whether the database is out of reach or too slow right now (trying again later may work),
    /// as opposed to a fault in a query or in stored data.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Database { source, .. } => unavailable(source),
            _ => false,
        }
    }
}

fn unavailable(e: &sqlx::Error) -> bool {
    use sqlx::Error as E;
    match e {
        E::Io(_) | E::PoolTimedOut | E::PoolClosed | E::WorkerCrashed | E::Tls(_) => true,
        E::Database(db) => db.code().is_some_and(|code| {
            // PostgreSQL: connection exceptions (08…), shut down or starting (57P0x), too many
            // connections, a statement timeout or cancel, a serialisation failure or deadlock.
            // SQLite: busy or locked (extended codes keep the primary code in the low byte).
            code.starts_with("08")
                || code.starts_with("57P")
                || ["53300", "57014", "40001", "40P01"].contains(&code.as_ref())
                || code.parse::<u32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6))
        }),
        _ => false,
    }
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

    /// The reports with these ids, in the order asked; unknown ids are left out, and so are
    /// stored rows that cannot be read back (each logged), so one bad row fails no page.
    async fn get_reports(&self, ids: &[ReportId]) -> Result<Vec<Report>, StoreError>;

    /// Applies an operator's change (a status move and/or agency and satisfaction) by the
    /// model's rules ([`Report::apply_change`]) in one transaction. Returns the updated report.
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

    /// The data version: the number of the last committed write. Every write of reports or
    /// wards (`insert_reports`, `update_status`, `replace_wards`; settings are not data it covers)
    /// raises it in its own transaction, and it is kept with the data, so it never repeats across
    /// restarts, nor across instances sharing one store; a store nobody wrote to has version 0. It
    /// rises but need not rise by one. The index stamps each snapshot with the version of the last
    /// write it includes; caches and ETags key on it.
    async fn data_version(&self) -> Result<u64, StoreError>;

    /// Flushes and closes; the store is not used afterwards.
    async fn close(&self) {}

    /// The private contact of a report's author (never served by the API).
    async fn reporter_contact(&self, id: ReportId) -> Result<Option<String>, StoreError>;
}

/// Applies `change` to `report` by the model's rules ([`Report::apply_change`]).
pub(crate) fn apply_change(report: &mut Report, change: &StatusChange) -> Result<(), StoreError> {
    Ok(report.apply_change(change)?)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn database(source: sqlx::Error) -> StoreError {
        StoreError::Database {
            context: "reading reports",
            source,
        }
    }

    #[test]
    fn an_unreachable_database_is_unavailable_and_a_failing_query_is_not() {
        assert!(database(sqlx::Error::PoolTimedOut).is_unavailable());
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(database(sqlx::Error::Io(refused)).is_unavailable());
        assert!(!database(sqlx::Error::ColumnNotFound("x".into())).is_unavailable());
        assert!(!StoreError::NotFound(1).is_unavailable());
    }
}
