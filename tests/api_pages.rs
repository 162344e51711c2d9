//! "Newest first" over HTTP: lists run by `created_at` descending, then id descending, and the
//! cursor walks that order, for reports stored out of time order.

mod support;

use axum::Router;
use chrono::{DateTime, Duration, FixedOffset};
use serde_json::Value;
use std::collections::HashSet;
use support::{call, demo_city, error_field, every_feature};

/// Every feature of every page of `query`, following `links` rel=next.
async fn walk(r: &Router, query: &str) -> Vec<Value> {
    every_feature(r, &format!("/api/v1/reports?{query}")).await
}

fn created(f: &Value) -> DateTime<FixedOffset> {
    let t = f["properties"]["created_at"].as_str().expect("created_at");
    DateTime::parse_from_rfc3339(t).expect("RFC 3339")
}

fn id(f: &Value) -> i64 {
    f["id"].as_i64().expect("id")
}

/// Each report once, and each after the one before it in (created_at, id) descending order.
fn assert_newest_first(query: &str, features: &[Value]) {
    let ids: HashSet<i64> = features.iter().map(id).collect();
    assert_eq!(ids.len(), features.len(), "{query}: a report came twice");
    for pair in features.windows(2) {
        let (a, b) = (
            (created(&pair[0]), id(&pair[0])),
            (created(&pair[1]), id(&pair[1])),
        );
        assert!(a > b, "{query}: {a:?} listed before {b:?}");
    }
}

#[tokio::test]
async fn lists_are_newest_first_by_creation_time_on_every_page() {
    let city = demo_city(0).await;
    let r = city.router();
    let mut batch: Vec<_> = hotspots::demo::generate(&hotspots::config::CityProfile::hue())
        .reports
        .into_iter()
        .take(400)
        .collect();
    // Stored out of time order (ids no longer follow time), with a run of equal creation times
    // that only the id can order.
    let n = batch.len();
    batch = (0..n).map(|i| batch[(i * 157) % n].clone()).collect();
    let tie = batch[10].created_at;
    for r in &mut batch[20..30] {
        r.created_at = tie;
        r.due_at = Some(tie + Duration::hours(24));
        r.resolved_at = None;
        r.status = hotspots::model::Status::Received;
    }
    let stored: HashSet<i64> = city
        .app
        .submit_batch(batch)
        .await
        .expect("stored")
        .iter()
        .map(|o| o.id())
        .collect();
    assert_eq!(stored.len(), n);

    let all = walk(&r, "limit=7").await;
    assert_newest_first("limit=7", &all);
    assert_eq!(all.iter().map(id).collect::<HashSet<_>>(), stored);
    let ids_by_time: Vec<i64> = all.iter().map(id).collect();
    let mut by_id = ids_by_time.clone();
    by_id.sort_unstable_by(|a, b| b.cmp(a));
    assert_ne!(ids_by_time, by_id, "the fixture must not be in id order");
    for limit in [1, 100, 10_000] {
        let q = format!("limit={limit}");
        let ids: Vec<i64> = walk(&r, &q).await.iter().map(id).collect();
        assert_eq!(ids, ids_by_time, "{q}");
    }

    // Filtered walks keep the order and hold exactly the matching reports.
    let ward = all[0]["properties"]["ward"]
        .as_str()
        .expect("a ward")
        .to_string();
    for (query, keep) in [
        (
            "category=garbage&limit=9".to_string(),
            ("category", "garbage".to_string()),
        ),
        (
            "status=resolved&limit=13".to_string(),
            ("status", "resolved".to_string()),
        ),
        (format!("ward={ward}&limit=3"), ("ward", ward.clone())),
    ] {
        let got = walk(&r, &query).await;
        assert_newest_first(&query, &got);
        let want: Vec<i64> = all
            .iter()
            .filter(|f| f["properties"][keep.0] == keep.1.as_str())
            .map(id)
            .collect();
        assert!(!want.is_empty(), "{query} matches nothing");
        assert_eq!(got.iter().map(id).collect::<Vec<_>>(), want, "{query}");
    }
}

#[tokio::test]
async fn a_cursor_stays_right_while_reports_are_added() {
    let city = demo_city(60).await;
    let r = city.router();
    let (status, first) = call(&r, "GET", "/api/v1/reports?limit=10", None).await;
    assert_eq!(status, 200);
    let next = first["links"][0]["href"]
        .as_str()
        .expect("a next page")
        .to_string();
    let newest = created(&first["features"][0]);
    let oldest = created(
        first["features"]
            .as_array()
            .expect("f")
            .last()
            .expect("last"),
    );
    // One report newer than the first page, one older than every report.
    for at in [newest + Duration::hours(1), oldest - Duration::days(400)] {
        let body = format!(
            r#"{{"category":"garbage","lon":107.5905,"lat":16.4637,"created_at":"{}"}}"#,
            at.to_rfc3339()
        );
        let (status, posted) = call(&r, "POST", "/api/v1/reports", Some(&body)).await;
        assert_eq!(status, 201, "{posted}");
    }
    let rest = walk(&r, next.trim_start_matches("/api/v1/reports?")).await;
    let mut seen: Vec<Value> = first["features"].as_array().expect("f").clone();
    seen.extend(rest);
    assert_newest_first("walk during writes", &seen);
    assert_eq!(
        seen.len(),
        61,
        "the 60 reports and the older new one, each once"
    );
    assert!(created(seen.last().expect("last")) < oldest);
}

#[tokio::test]
async fn a_cursor_that_was_not_handed_out_is_422_naming_cursor() {
    let city = demo_city(3).await;
    let r = city.router();
    for bad in ["abc", "-1", "12", &"z".repeat(32), &"0".repeat(32)] {
        let (status, body) = call(&r, "GET", &format!("/api/v1/reports?cursor={bad}"), None).await;
        assert_eq!(status, 422, "{bad}: {body}");
        assert_eq!(error_field(&body), "cursor", "{bad}: {body}");
    }
}
