//! The file's schema: creating a new GeoPackage, upgrading one written by an older release step
//! by step, and the spec's R*Tree triggers around our own writes.
//!
//! The schema version lives in the `hotspots_setting` row `schema_version` (SQLite's
//! `user_version` is GeoPackage's own, 10300). A file without the row predates versions: 0.
//!
//! **Adding a schema change** (a column, a table): append a [`Step`] to [`STEPS`] with the next
//! version, and make the same change in `geopackage.sql` (new files are created at the latest
//! version directly); `tests/geopackage_file.rs` checks that both paths give the same tables.
//! A step is SQL run in one transaction with the version bump, with the R*Tree triggers absent
//! (so `alter table` never trips over their ST_* calls), e.g.
//! step 4 below, which adds the `outside_bounds` column.

use super::super::{Context, StoreError};
use super::private::Private;
use sqlx::{Sqlite, SqliteConnection, SqlitePool, Transaction};

const SCHEMA: &str = include_str!("../geopackage.sql");
/// "GPKG" as the SQLite application id, and GeoPackage 1.3.0 as user_version (spec §1.1.1).
const APPLICATION_ID: i64 = 0x4750_4B47;
const USER_VERSION: i64 = 10300;
const VERSION_KEY: &str = "schema_version";

/// One ordered upgrade step; `version` is the schema version the file has after it.
pub(super) struct Step {
    pub version: i64,
    pub what: &'static str,
    pub kind: StepKind,
}

pub(super) enum StepKind {
    /// Copies `report_contact` to the private file, then drops it from the shared one.
    MoveContactsOut,
    Sql(&'static str),
}

pub(super) const STEPS: &[Step] = &[
    Step {
        version: 1,
        what: "reporter contacts moved to the private file",
        kind: StepKind::MoveContactsOut,
    },
    Step {
        version: 2,
        what: "upper-case GeoPackage types",
        kind: StepKind::Sql(include_str!("upgrade_types.sql")),
    },
    Step {
        version: 3,
        what: "the data version sequence",
        kind: StepKind::Sql(super::version::CREATE),
    },
    Step {
        version: 4,
        what: "the outside_bounds flag on reports",
        kind: StepKind::Sql(
            "alter table report add column outside_bounds BOOLEAN NOT NULL DEFAULT 0",
        ),
    },
];

/// The version this code writes.
pub(super) fn latest() -> i64 {
    STEPS.last().map_or(0, |s| s.version)
}

/// The geometry tables that carry an R*Tree (`rtree_<table>_geom`) and its triggers.
const INDEXED: [&str; 2] = ["report", "ward"];

/// The spec's triggers (GeoPackage 1.3 F.3, as GDAL writes them) that call ST_* functions. SQLite
/// resolves functions when it compiles a statement that may fire a trigger, and our connections
/// have no ST_* functions (sqlx 0.9 offers no safe way to register them and `unsafe` is
/// forbidden), so any insert into a table with these triggers would fail to compile. GDAL
/// (QGIS) registers them, so for other programs the triggers keep the index right.
///
/// Our writes therefore drop these five at the start of their transaction and recreate them
/// before commit ([`begin_write`], [`commit_write`]). DDL is transactional in SQLite: no other
/// connection ever sees the file without them. The cost is a schema change per write (a few
/// sqlite_master rows, and other connections re-read the schema once): measured in
/// `tests/geopackage_file.rs` (`single_post_cost_of_the_trigger_dance`). The alternatives were
/// worse: mod_spatialite is not installed everywhere and reads SpatiaLite blobs, a second SQLite
/// binding (rusqlite) for writes would link a second copy of the write path, and leaving the
/// triggers out is what made GDAL's validator and QGIS edits fail. The delete trigger calls no
/// ST_* function and stays.
fn triggers(t: &str) -> [String; 5] {
    let r = format!("rtree_{t}_geom");
    let insert_new = format!(
        "INSERT OR REPLACE INTO \"{r}\" VALUES (NEW.\"fid\",ST_MinX(NEW.\"geom\"), ST_MaxX(NEW.\"geom\"),ST_MinY(NEW.\"geom\"), ST_MaxY(NEW.\"geom\"));"
    );
    [
        format!(
            "CREATE TRIGGER IF NOT EXISTS \"{r}_insert\" AFTER INSERT ON \"{t}\" WHEN (new.\"geom\" NOT NULL AND NOT ST_IsEmpty(NEW.\"geom\")) BEGIN {insert_new} END"
        ),
        format!(
            "CREATE TRIGGER IF NOT EXISTS \"{r}_update1\" AFTER UPDATE OF \"geom\" ON \"{t}\" WHEN OLD.\"fid\" = NEW.\"fid\" AND (NEW.\"geom\" NOTNULL AND NOT ST_IsEmpty(NEW.\"geom\")) BEGIN {insert_new} END"
        ),
        format!(
            "CREATE TRIGGER IF NOT EXISTS \"{r}_update2\" AFTER UPDATE OF \"geom\" ON \"{t}\" WHEN OLD.\"fid\" = NEW.\"fid\" AND (NEW.\"geom\" ISNULL OR ST_IsEmpty(NEW.\"geom\")) BEGIN DELETE FROM \"{r}\" WHERE id = OLD.\"fid\"; END"
        ),
        format!(
            "CREATE TRIGGER IF NOT EXISTS \"{r}_update3\" AFTER UPDATE ON \"{t}\" WHEN OLD.\"fid\" != NEW.\"fid\" AND (NEW.\"geom\" NOTNULL AND NOT ST_IsEmpty(NEW.\"geom\")) BEGIN DELETE FROM \"{r}\" WHERE id = OLD.\"fid\"; {insert_new} END"
        ),
        format!(
            "CREATE TRIGGER IF NOT EXISTS \"{r}_update4\" AFTER UPDATE ON \"{t}\" WHEN OLD.\"fid\" != NEW.\"fid\" AND (NEW.\"geom\" ISNULL OR ST_IsEmpty(NEW.\"geom\")) BEGIN DELETE FROM \"{r}\" WHERE id IN (OLD.\"fid\", NEW.\"fid\"); END"
        ),
    ]
}

fn delete_trigger(t: &str) -> String {
    format!(
        "CREATE TRIGGER IF NOT EXISTS \"rtree_{t}_geom_delete\" AFTER DELETE ON \"{t}\" WHEN old.\"geom\" NOT NULL BEGIN DELETE FROM \"rtree_{t}_geom\" WHERE id = OLD.\"fid\"; END"
    )
}

fn create_triggers_sql() -> String {
    INDEXED
        .iter()
        .flat_map(|t| {
            let mut all = triggers(t).to_vec();
            all.push(delete_trigger(t));
            all
        })
        .map(|s| s + ";\n")
        .collect()
}

fn drop_triggers_sql(tables: &[&str]) -> String {
    let mut sql = String::new();
    for t in tables {
        for suffix in ["insert", "update1", "update2", "update3", "update4"] {
            sql += &format!("DROP TRIGGER IF EXISTS \"rtree_{t}_geom_{suffix}\";\n");
        }
    }
    sql
}

async fn run(
    conn: &mut SqliteConnection,
    sql: String,
    what: &'static str,
) -> Result<(), StoreError> {
    // Table names come from INDEXED above, never from data.
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(conn)
        .await
        .context(what)?;
    Ok(())
}

/// The report layer's triggers, for writes that touch only reports.
pub(super) const REPORT: &[&str] = &["report"];
/// Both layers' triggers.
pub(super) const ALL: &[&str] = &INDEXED;

/// Begins a write transaction (taking the write lock at once) without the ST_* triggers of
/// `tables` (the tables it will write).
pub(super) async fn begin_write<'c>(
    conn: &'c mut SqliteConnection,
    tables: &[&str],
) -> Result<Transaction<'c, Sqlite>, StoreError> {
    let mut tx = sqlx::Connection::begin_with(conn, "BEGIN IMMEDIATE")
        .await
        .context("starting a write transaction")?;
    run(
        &mut tx,
        drop_triggers_sql(tables),
        "setting the R*Tree triggers aside",
    )
    .await?;
    Ok(tx)
}

/// Puts the triggers back (each one absent: `IF NOT EXISTS` leaves the others untouched, so
/// no schema change there) and commits.
pub(super) async fn commit_write(mut tx: Transaction<'_, Sqlite>) -> Result<(), StoreError> {
    run(
        &mut tx,
        create_triggers_sql(),
        "restoring the R*Tree triggers",
    )
    .await?;
    tx.commit().await.context("committing a write")
}

/// Creates the schema of a new file, or upgrades an existing one to [`latest`].
pub(super) async fn prepare(pool: &SqlitePool, private: &Private) -> Result<(), StoreError> {
    let exists: i64 = sqlx::query_scalar(
        "select count(*) from sqlite_master where type = 'table' and name = 'gpkg_contents'",
    )
    .fetch_one(pool)
    .await
    .context("checking the GeoPackage tables")?;
    if exists == 0 {
        return create(pool).await;
    }
    let version = current_version(pool).await?;
    if version > latest() {
        return Err(StoreError::Corrupt {
            what: "the GeoPackage's schema version".into(),
            message: format!(
                "{version} is newer than this release understands ({}); upgrade Hotspots",
                latest()
            ),
        });
    }
    for step in STEPS.iter().filter(|s| s.version > version) {
        tracing::info!(
            version = step.version,
            "upgrading the GeoPackage: {}",
            step.what
        );
        apply(pool, private, step).await?;
    }
    Ok(())
}

async fn create(pool: &SqlitePool) -> Result<(), StoreError> {
    let mut conn = pool.acquire().await.context("acquiring a connection")?;
    let mut tx = begin_write(&mut conn, ALL).await?;
    sqlx::raw_sql(SCHEMA)
        .execute(&mut *tx)
        .await
        .context("creating the GeoPackage tables")?;
    let pragmas =
        format!("pragma application_id = {APPLICATION_ID}; pragma user_version = {USER_VERSION};");
    run(&mut tx, pragmas, "marking the file as a GeoPackage").await?;
    set_version(&mut tx, latest()).await?;
    commit_write(tx).await?;
    // The header (application_id, user_version) is page 1, which sits in the write-ahead log
    // until a checkpoint; GDAL's validator and other tools read those bytes from the file itself,
    // so a new file would not look like a GeoPackage to them while the service runs.
    sqlx::query("pragma wal_checkpoint(truncate)")
        .execute(&mut *conn)
        .await
        .context("writing the new GeoPackage's header into the file")?;
    Ok(())
}

async fn current_version(pool: &SqlitePool) -> Result<i64, StoreError> {
    // Files of the first releases have no settings table at all.
    sqlx::query(
        "create table if not exists hotspots_setting (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    )
    .execute(pool)
    .await
    .context("creating the settings table")?;
    let text: Option<String> =
        sqlx::query_scalar("select value from hotspots_setting where key = ?")
            .bind(VERSION_KEY)
            .fetch_optional(pool)
            .await
            .context("reading the schema version")?;
    text.map_or(Ok(0), |t| {
        t.parse().map_err(|_| StoreError::Corrupt {
            what: "the GeoPackage's schema version".into(),
            message: format!("{t:?} is not a number"),
        })
    })
}

async fn set_version(tx: &mut SqliteConnection, version: i64) -> Result<(), StoreError> {
    sqlx::query("insert into hotspots_setting (key, value) values (?, ?) on conflict (key) do update set value = excluded.value")
        .bind(VERSION_KEY)
        .bind(version.to_string())
        .execute(tx)
        .await
        .context("recording the schema version")?;
    Ok(())
}

/// Runs one step and records its version in one transaction, on a connection with foreign
/// keys off and legacy renames (table rebuilds need both; neither can change inside a
/// transaction), restored afterwards.
async fn apply(pool: &SqlitePool, private: &Private, step: &Step) -> Result<(), StoreError> {
    if let StepKind::MoveContactsOut = step.kind {
        // Copied (and committed) first: a crash before the drop below repeats the copy.
        private.copy_in_from(pool).await?;
    }
    let mut conn = pool.acquire().await.context("acquiring a connection")?;
    run(
        &mut conn,
        "pragma foreign_keys = off; pragma legacy_alter_table = on;".into(),
        "preparing an upgrade",
    )
    .await?;
    let result = async {
        let mut tx = sqlx::Connection::begin(&mut *conn)
            .await
            .context("starting an upgrade")?;
        run(
            &mut tx,
            drop_triggers_sql(ALL),
            "setting the R*Tree triggers aside",
        )
        .await?;
        match step.kind {
            StepKind::MoveContactsOut => {
                run(
                    &mut tx,
                    "drop table if exists report_contact".into(),
                    "removing contacts from the shared file",
                )
                .await?
            }
            StepKind::Sql(sql) => run(&mut tx, sql.into(), "upgrading the schema").await?,
        }
        set_version(&mut tx, step.version).await?;
        commit_write(tx).await
    }
    .await;
    run(
        &mut conn,
        "pragma foreign_keys = on; pragma legacy_alter_table = off;".into(),
        "ending an upgrade",
    )
    .await?;
    result?;
    if let StepKind::MoveContactsOut = step.kind {
        // Dropping a table leaves its pages' old bytes in the file's free list and the WAL:
        // rewrite the file and empty the WAL so no contact survives anywhere in it.
        drop(conn);
        run(
            &mut *pool.acquire().await.context("acquiring a connection")?,
            "vacuum; pragma wal_checkpoint(truncate);".into(),
            "rewriting the file without contacts",
        )
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
    use std::time::{Duration, Instant};

    async fn one_write(conn: &mut SqliteConnection, dance: bool, i: usize) -> Duration {
        let started = Instant::now();
        let mut tx = if dance {
            begin_write(conn, REPORT).await.expect("begin")
        } else {
            sqlx::Connection::begin_with(conn, "BEGIN IMMEDIATE")
                .await
                .expect("begin")
        };
        sqlx::query("insert or replace into hotspots_setting values ('probe', ?)")
            .bind(i.to_string())
            .execute(&mut *tx)
            .await
            .expect("a write");
        if dance {
            commit_write(tx).await.expect("commit");
        } else {
            tx.commit().await.expect("commit");
        }
        started.elapsed()
    }

    /// What the trigger dance adds to one small write (synchronous=FULL, WAL), interleaved with
    /// plain writes so the machine's load hits both alike; `--nocapture` prints the figures.
    #[tokio::test]
    async fn the_trigger_dance_adds_little_to_a_write() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let options = SqliteConnectOptions::new()
            .filename(dir.path().join("dance.gpkg"))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal);
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(options)
            .await
            .expect("a pool");
        create(&pool).await.expect("the schema");
        let mut conn = pool.acquire().await.expect("a connection");
        let (mut plain, mut dance) = (Vec::new(), Vec::new());
        for i in 0..100 {
            plain.push(one_write(&mut conn, false, i).await);
            dance.push(one_write(&mut conn, true, i).await);
        }
        plain.sort();
        dance.sort();
        let (p, d) = (plain[50], dance[50]);
        eprintln!("median small write: plain {p:?}, with the trigger dance {d:?}");
        assert!(d < p + Duration::from_millis(5), "plain {p:?}, dance {d:?}");
    }
}
