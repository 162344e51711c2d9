//! A fresh PostGIS schema per test, or a loud skip when no PostGIS database is reachable.
//!
//! The database comes from `HOTSPOTS_TEST_DATABASE_URL` (default [`DEFAULT_URL`]); it needs the
//! postgis extension (`create extension postgis`, run once by a superuser). When it is missing,
//! tests fail under `CI=true` and are skipped, with a message on stderr, elsewhere.

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
/// the schema afterwards, also when `body` panics.
pub async fn with_store(test: &str, body: impl AsyncFnOnce(&PostgisStore)) {
    let url = database_url();
    let Some(mut admin) = admin_connection(&url).await else {
        return;
    };
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

/// A connection to the test database if it is reachable and has PostGIS; otherwise fails (CI) or
/// says loudly why the test is skipped.
async fn admin_connection(url: &str) -> Option<PgConnection> {
    let problem = match tokio::time::timeout(Duration::from_secs(10), PgConnection::connect(url))
        .await
    {
        Err(_) => "connecting timed out after 10 s".to_string(),
        Ok(Err(e)) => format!("cannot connect: {e}"),
        Ok(Ok(mut conn)) => {
            let has_postgis: Result<bool, _> = sqlx::query_scalar(
                "select exists (select 1 from pg_extension where extname = 'postgis')",
            )
            .fetch_one(&mut conn)
            .await;
            match has_postgis {
                Ok(true) => return Some(conn),
                Ok(false) => {
                    "the postgis extension is not installed (run `create extension postgis`)".into()
                }
                Err(e) => format!("cannot query the database: {e}"),
            }
        }
    };
    let message = format!(
        "PostGIS tests need a PostgreSQL database with the postgis extension at {url} \
         (set HOTSPOTS_TEST_DATABASE_URL): {problem}"
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{message}");
    }
    eprintln!("\n*** SKIPPED: {message} ***\n");
    None
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
