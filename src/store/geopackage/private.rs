//! Reporter contacts, kept in a private SQLite file beside the GeoPackage
//! (`hotspots.gpkg` → `hotspots.private.sqlite`), so sharing the GeoPackage shares no one's
//! phone number.
//!
//! Two files cannot commit atomically together in WAL mode, so the order is fixed: a batch's
//! contacts are committed here *before* its reports are committed in the GeoPackage (whose
//! write lock is held throughout, so the ids cannot change hands in between). A crash between
//! the two commits leaves contacts of reports that were never acknowledged; their ids are above
//! every stored report, and they are removed at the next open ([`Private::drop_orphans`]) or by
//! the next write that hands out those ids again. An acknowledged report's contact is therefore
//! never lost, and a contact never attaches to a report it does not belong to.

use super::super::{Context, StoreError};
use crate::model::ReportId;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};
use std::path::{Path, PathBuf};
use std::time::Duration;

const SCHEMA: &str = "create table if not exists report_contact (report_fid INTEGER PRIMARY KEY, contact TEXT NOT NULL)";
/// Contacts per multi-row INSERT (2 bound values each).
const ROWS_PER_INSERT: usize = 4000;

#[derive(Debug, Clone)]
pub(super) struct Private {
    pool: SqlitePool,
}

/// The private file that belongs to a GeoPackage: same folder, same stem.
pub fn private_path(gpkg: &Path) -> PathBuf {
    gpkg.with_extension("private.sqlite")
}

impl Private {
    pub(super) async fn open(gpkg: &Path) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(private_path(gpkg))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(30));
        let pool = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(options)
            .await
            .context("opening the private contacts file")?;
        sqlx::query(SCHEMA)
            .execute(&pool)
            .await
            .context("creating the contacts table")?;
        Ok(Self { pool })
    }

    pub(super) async fn close(&self) {
        let _ = sqlx::query("pragma wal_checkpoint(truncate)")
            .execute(&self.pool)
            .await;
        self.pool.close().await;
    }

    pub(super) async fn contact(&self, id: ReportId) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar("select contact from report_contact where report_fid = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .context("reading a reporter contact")
    }

    /// Stores the contacts of reports just given ids `first_id..` (the GeoPackage transaction
    /// that gave them is still open), replacing anything left at those ids by a crash.
    pub(super) async fn store(
        &self,
        first_id: ReportId,
        contacts: &[(ReportId, &str)],
    ) -> Result<(), StoreError> {
        if contacts.is_empty() {
            // The common case: look before starting a write (and its fsync) here.
            let left: bool = sqlx::query_scalar(
                "select exists (select 1 from report_contact where report_fid >= ?)",
            )
            .bind(first_id)
            .fetch_one(&self.pool)
            .await
            .context("looking for contacts left by a crash")?;
            if !left {
                return Ok(());
            }
        }
        let mut tx = self
            .pool
            .begin()
            .await
            .context("starting the contacts transaction")?;
        sqlx::query("delete from report_contact where report_fid >= ?")
            .bind(first_id)
            .execute(&mut *tx)
            .await
            .context("removing contacts left by a crash")?;
        for chunk in contacts.chunks(ROWS_PER_INSERT) {
            let mut q =
                QueryBuilder::<Sqlite>::new("insert into report_contact (report_fid, contact) ");
            q.push_values(chunk, |mut b, (id, c)| {
                b.push_bind(*id).push_bind(*c);
            });
            q.build()
                .execute(&mut *tx)
                .await
                .context("storing reporter contacts")?;
        }
        tx.commit().await.context("committing reporter contacts")
    }

    /// Removes contacts whose report was never committed (ids above the highest stored one).
    pub(super) async fn drop_orphans(&self, max_report_id: ReportId) -> Result<(), StoreError> {
        sqlx::query("delete from report_contact where report_fid > ?")
            .bind(max_report_id)
            .execute(&self.pool)
            .await
            .context("removing contacts of reports never stored")?;
        Ok(())
    }

    /// Upgrade: copies the contacts an older release kept inside the GeoPackage.
    pub(super) async fn copy_in_from(&self, gpkg: &SqlitePool) -> Result<(), StoreError> {
        let has_table: i64 = sqlx::query_scalar(
            "select count(*) from sqlite_master where type = 'table' and name = 'report_contact'",
        )
        .fetch_one(gpkg)
        .await
        .context("looking for contacts in the GeoPackage")?;
        if has_table == 0 {
            return Ok(());
        }
        let rows = sqlx::query("select report_fid, contact from report_contact")
            .fetch_all(gpkg)
            .await
            .context("reading contacts from the GeoPackage")?;
        let contacts: Vec<(ReportId, String)> = rows
            .iter()
            .map(|r| (r.get::<i64, _>(0), r.get::<String, _>(1)))
            .collect();
        let mut tx = self
            .pool
            .begin()
            .await
            .context("starting the contacts transaction")?;
        for chunk in contacts.chunks(ROWS_PER_INSERT) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "insert or replace into report_contact (report_fid, contact) ",
            );
            q.push_values(chunk, |mut b, (id, c)| {
                b.push_bind(*id).push_bind(c.as_str());
            });
            q.build()
                .execute(&mut *tx)
                .await
                .context("copying reporter contacts")?;
        }
        tx.commit().await.context("committing copied contacts")
    }

    /// A consistent copy of the file (SQLite's `VACUUM INTO`).
    pub(super) async fn copy_to(&self, out: &Path) -> Result<(), StoreError> {
        sqlx::query("vacuum into ?")
            .bind(out.to_string_lossy().into_owned())
            .execute(&self.pool)
            .await
            .context("copying the private contacts file")?;
        Ok(())
    }
}
