//! `/api/v1/wards`: ward boundaries with report counts, tagged for conditional GETs.

use super::AppState;
use super::error::ApiError;
use super::etag::Tag;
use super::extract::TextPath;
use super::features::{GeoJson, collection, ward_feature};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::json;

pub async fn list(State(app): State<AppState>, headers: HeaderMap) -> Response {
    let (snapshot, counts) = app.wards_with_counts();
    let tag = Tag::new(snapshot.version, counts.iter().map(|c| c.overdue).sum());
    tag.answer(&headers, || {
        let features = (0..snapshot.wards.len())
            .map(|i| ward_feature(&snapshot, i as u16, counts[i]))
            .collect();
        let outside = counts.last().map_or(0, |c| c.total);
        GeoJson(collection(
            features,
            json!({ "reports_outside_wards": outside }),
        ))
    })
}

pub async fn get(
    State(app): State<AppState>,
    headers: HeaderMap,
    TextPath(code): TextPath,
) -> Result<Response, ApiError> {
    let (snapshot, counts) = app.wards_with_counts();
    let ix = snapshot
        .wards
        .index_of(&code)
        .ok_or_else(|| ApiError::NotFound(format!("ward {code:?} does not exist")))?;
    let counts = counts[ix as usize];
    let tag = Tag::new(snapshot.version, counts.overdue);
    Ok(tag.answer(&headers, || GeoJson(ward_feature(&snapshot, ix, counts))))
}
