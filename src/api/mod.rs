//! The HTTP API. `app(state)` builds the router (tests drive it without a socket); `serve` binds it.

mod categories;
mod error;
mod etag;
mod extract;
mod features;
mod reports;
mod server;
mod wards;

pub use error::{ApiError, RETRY_AFTER_S};
pub use extract::{BODY_LIMIT_BYTES, BODY_TIMEOUT};
pub use server::{ServerLimits, serve, serve_with, shutdown_signal};

use crate::service::Hotspots;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tower_http::trace::TraceLayer;

pub type AppState = Arc<Hotspots>;

/// Largest request head (request line and headers) the API answers; larger ones get a 431.
pub const HEAD_LIMIT_BYTES: usize = 16 * 1024;

/// How long `/readyz` waits for the store before it says the store is not ready.
pub const READY_TIMEOUT: Duration = Duration::from_secs(1);

pub fn app(state: AppState) -> Router {
    let api = Router::new()
        .route("/reports", get(reports::list).post(reports::create))
        .route("/reports/nearby", get(reports::nearby))
        .route("/reports/{id}", get(reports::get).patch(reports::update))
        .route("/categories", get(categories::list))
        .route("/wards", get(wards::list))
        .route("/wards/{id}", get(wards::get));
    Router::new()
        .nest("/api/v1", api)
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .layer(middleware::from_fn(refuse_oversized))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Refuses a request whose declared body is over [`BODY_LIMIT_BYTES`] before any of it is read
/// (with `Expect: 100-continue` the client is never told to send it), and one whose head is
/// over [`HEAD_LIMIT_BYTES`].
async fn refuse_oversized(req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > BODY_LIMIT_BYTES as u64) {
        return ApiError::TooLarge {
            limit_bytes: BODY_LIMIT_BYTES,
        }
        .into_response();
    }
    let head: usize = req.uri().to_string().len()
        + req
            .headers()
            .iter()
            .map(|(k, v)| k.as_str().len() + v.len() + 4)
            .sum::<usize>();
    if head > HEAD_LIMIT_BYTES {
        return ApiError::HeadTooLarge {
            limit_bytes: HEAD_LIMIT_BYTES,
        }
        .into_response();
    }
    next.run(req).await
}

async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Ready when the store answers within [`READY_TIMEOUT`]; reports the snapshot being served.
async fn readyz(State(app): State<AppState>) -> Result<Json<Value>, ApiError> {
    let stored = tokio::time::timeout(READY_TIMEOUT, app.store().count_reports())
        .await
        .map_err(|_| {
            ApiError::Unavailable(format!(
                "the store did not answer within {} s",
                READY_TIMEOUT.as_secs_f64()
            ))
        })??;
    let snapshot = app.snapshot();
    Ok(Json(json!({
        "status": "ready",
        "store": app.store().kind(),
        "city": app.profile().name,
        "reports_stored": stored,
        "reports_indexed": snapshot.len(),
        "wards": snapshot.wards.len(),
        "version": snapshot.version,
    })))
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such route; the API is under /api/v1 (reports, wards)".into())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
