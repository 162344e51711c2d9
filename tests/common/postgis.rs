//! A fresh PostGIS schema per test.
//!
//! The database comes from `HOTSPOTS_TEST_DATABASE_URL` (default [`DEFAULT_URL`]); it needs the
//! postgis extension (`create extension postgis`, run once by a superuser). When it is missing,
//! the runner (`harness.rs`, `Need::Postgis`) shows the tests as ignored, or fails them under
//! `CI=true`.

use futures_util::FutureExt;
use hotspots::store::PostgisStore;
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use std::panic::AssertUnwindSafe;
use std::time::Duration;

pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/hotspots_test";

pub fn database_url() -> String {
    std::env::var("HOTSPOTS_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.to_string())
}

/// Runs `body` against a store whose tables live in a new schema named after `test`, and drops
/// the schema afterwards, also when `body` panics. The runner (`harness.rs`) has checked that
/// the database is reachable; if it is not by now, the test fails.
pub async fn with_store(test: &str, body: impl AsyncFnOnce(&PostgisStore)) {
    let url = database_url();
    let mut admin = probe(&url)
        .await
        .unwrap_or_else(|problem| panic!("PostGIS at {url}: {problem}"));
    let schema = schema_name(test);
    let drop_schema = format!("drop schema if exists {schema} cascade");
    sqlx::raw_sql(AssertSqlSafe(drop_schema.clone()))
        .execute(&mut admin)
        .await
        .expect("dropping a leftover test schema");
    let store = PostgisStore::connect_schema(&url, &schema)
        .await
        .unwrap_or_else(|e| panic!("opening the PostGIS store in schema {schema}: {e}"));
    let outcome = AssertUnwindSafe(body(&store)).catch_unwind().await;
    store.close().await;
    sqlx::raw_sql(AssertSqlSafe(drop_schema))
        .execute(&mut admin)
        .await
        .expect("dropping the test schema");
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// A connection to the test database if it is reachable and has PostGIS, or what is wrong.
pub async fn probe(url: &str) -> Result<PgConnection, String> {
    let connecting = tokio::time::timeout(Duration::from_secs(5), PgConnection::connect(url));
    let mut conn = match connecting.await {
        Err(_) => return Err("connecting timed out after 5 s".into()),
        Ok(Err(e)) => return Err(format!("cannot connect: {e}")),
        Ok(Ok(conn)) => conn,
    };
    let has_postgis: Result<bool, _> =
        sqlx::query_scalar("select exists (select 1 from pg_extension where extname = 'postgis')")
            .fetch_one(&mut conn)
            .await;
    match has_postgis {
        Ok(true) => Ok(conn),
        Ok(false) => {
            Err("the postgis extension is not installed (run `create extension postgis`)".into())
        }
        Err(e) => Err(format!("cannot query the database: {e}")),
    }
}

/// A plain connection to the test database, for the checks a test makes behind the store's back.
pub async fn connect() -> PgConnection {
    let url = database_url();
    probe(&url)
        .await
        .unwrap_or_else(|problem| panic!("PostGIS at {url}: {problem}"))
}

/// `t_<test>_<pid>`, lower-case letters, digits and `_` only, within PostgreSQL's 63 bytes; the
/// process id keeps two test runs against one database apart.
pub fn schema_name(test: &str) -> String {
    let clean: String = test
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    format!("t_{clean}_{}", std::process::id())
}
