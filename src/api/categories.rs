//! `/api/v1/categories`: the words a filter or a submission may use for each category — its code
//! and its names in every language of the city profile — with its deadline, agency and count.

use super::AppState;
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use std::collections::HashMap;

pub async fn list(State(app): State<AppState>) -> Json<Value> {
    let snapshot = app.snapshot();
    let mut counts: HashMap<&str, u64> = snapshot.category_counts().into_iter().collect();
    let mut categories: Vec<Value> = app
        .profile()
        .categories
        .iter()
        .map(|c| {
            json!({
                "code": c.code,
                "names": c.names,
                "deadline_hours": c.deadline_hours,
                "agency": c.agency,
                "report_count": counts.remove(c.code.as_str()).unwrap_or(0),
            })
        })
        .collect();
    // Codes stored reports use that the profile does not list (data older than the profile).
    let mut rest: Vec<(&str, u64)> = counts.into_iter().filter(|(_, n)| *n > 0).collect();
    rest.sort_unstable();
    categories.extend(rest.into_iter().map(|(code, n)| {
        json!({
            "code": code,
            "names": {},
            "deadline_hours": null,
            "agency": null,
            "report_count": n,
        })
    }));
    Json(json!({ "categories": categories }))
}
