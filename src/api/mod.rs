//! The HTTP API. `app(state)` builds the router (tests drive it without a socket); `serve` binds it.

mod error;
mod etag;
mod extract;
mod features;
mod reports;
mod wards;

pub use error::ApiError;
pub use extract::BODY_LIMIT_BYTES;

use crate::service::Hotspots;
use axum::extract::{DefaultBodyLimit, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use std::sync::Arc;
use tower_http::trace::TraceLayer;

pub type AppState = Arc<Hotspots>;

pub fn app(state: AppState) -> Router {
    let api = Router::new()
        .route("/reports", get(reports::list).post(reports::create))
        .route("/reports/nearby", get(reports::nearby))
        .route("/reports/{id}", get(reports::get).patch(reports::update))
        .route("/wards", get(wards::list))
        .route("/wards/{id}", get(wards::get));
    Router::new()
        .nest("/api/v1", api)
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Serves until Ctrl-C (or SIGTERM), then finishes in-flight requests.
pub async fn serve(state: AppState, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Ready when the store answers; reports the snapshot the service is serving.
async fn readyz(State(app): State<AppState>) -> Result<Json<Value>, ApiError> {
    let stored = app.store().count_reports().await?;
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
