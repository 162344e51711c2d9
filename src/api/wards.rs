//! `/api/v1/wards`: ward boundaries with report counts.

use super::AppState;
use super::error::ApiError;
use super::extract::TextPath;
use super::features::{collection, ward_feature};
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

pub async fn list(State(app): State<AppState>) -> Json<Value> {
    let (snapshot, counts) = app.wards_with_counts();
    let features = (0..snapshot.wards.len())
        .map(|i| ward_feature(&snapshot, i as u16, counts[i]))
        .collect();
    let outside = counts.last().map_or(0, |c| c.total);
    Json(collection(
        features,
        json!({ "reports_outside_wards": outside }),
    ))
}

pub async fn get(
    State(app): State<AppState>,
    TextPath(code): TextPath,
) -> Result<Json<Value>, ApiError> {
    let (snapshot, counts) = app.wards_with_counts();
    let ix = snapshot
        .wards
        .index_of(&code)
        .ok_or_else(|| ApiError::NotFound(format!("ward {code:?} does not exist")))?;
    Ok(Json(ward_feature(&snapshot, ix, counts[ix as usize])))
}
