//! The data version over HTTP: `ETag` on GeoJSON responses, 304 for a conditional GET of
//! unchanged data, a new tag after every write, and versions that never name two different
//! contents — across restarts and across two instances on one store, on both stores.

mod common;
mod support;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use hotspots::config::CityProfile;
use hotspots::service::Hotspots;
use hotspots::store::{PostgisStore, Store};
use http_body_util::BodyExt;
use std::collections::BTreeMap;
use std::sync::Arc;
use tower::ServiceExt;

common::harness::tests! {
    a_conditional_get_of_unchanged_data_is_304_and_every_write_changes_the_tag,
    the_tag_changes_when_a_due_time_passes_without_a_write,
    versions_never_repeat_across_restarts_and_instances_on_a_geopackage,
    versions_never_repeat_across_restarts_and_instances_on_postgis: [Need::Postgis],
}

/// GET `uri`, optionally conditional; returns status, ETag and body.
async fn get(r: &Router, uri: &str, if_none_match: Option<&str>) -> (StatusCode, String, Vec<u8>) {
    let mut req = Request::builder().uri(uri);
    if let Some(tag) = if_none_match {
        req = req.header(header::IF_NONE_MATCH, tag);
    }
    let resp = r
        .clone()
        .oneshot(req.body(Body::empty()).expect("request"))
        .await
        .expect("router answers");
    let status = resp.status();
    let tag = resp
        .headers()
        .get(header::ETAG)
        .map(|v| v.to_str().expect("ASCII tag").to_string())
        .unwrap_or_default();
    if status.is_success() || status == StatusCode::NOT_MODIFIED {
        assert_eq!(resp.headers()[header::CACHE_CONTROL], "no-cache", "{uri}");
    }
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    (status, tag, body.to_vec())
}

const ROUTES: [&str; 5] = [
    "/api/v1/reports?limit=20",
    "/api/v1/reports/1",
    "/api/v1/reports/nearby?lon=107.5905&lat=16.4637&radius_m=3000",
    "/api/v1/wards",
    "/api/v1/wards/phu-hoi",
];

/// Each route's current tag, after checking that a conditional GET of it is 304 with no body.
async fn tags(r: &Router) -> Vec<String> {
    let mut out = Vec::new();
    for uri in ROUTES {
        let (status, tag, _) = get(r, uri, None).await;
        assert_eq!(status, 200, "{uri}");
        assert!(tag.starts_with("W/\""), "{uri}: tag {tag:?}");
        let (status, again, body) = get(r, uri, Some(&tag)).await;
        assert_eq!(status, 304, "{uri} with If-None-Match {tag}");
        assert_eq!((again.as_str(), body.len()), (tag.as_str(), 0), "{uri}");
        let (status, _, _) = get(r, uri, Some("W/\"0-0\", \"other\"")).await;
        assert_eq!(status, 200, "{uri} with tags that do not match");
        out.push(tag);
    }
    out
}

fn post_body(lon: f64, created_at: Option<chrono::DateTime<chrono::Utc>>) -> String {
    let created = created_at.map_or(String::new(), |t| {
        format!(r#","created_at":"{}""#, t.to_rfc3339())
    });
    format!(r#"{{"category":"garbage","lon":{lon},"lat":16.4637{created}}}"#)
}

async fn a_conditional_get_of_unchanged_data_is_304_and_every_write_changes_the_tag() {
    let city = support::demo_city(50).await;
    let r = city.router();
    let before = tags(&r).await;
    assert_eq!(tags(&r).await, before, "no write, no new tag");

    let (status, _) = support::call(
        &r,
        "POST",
        "/api/v1/reports",
        Some(&post_body(107.5905, None)),
    )
    .await;
    assert_eq!(status, 201);
    let posted = tags(&r).await;
    for (i, uri) in ROUTES.iter().enumerate() {
        assert_ne!(posted[i], before[i], "{uri}: a POST changes every tag");
        let (status, _, body) = get(&r, uri, Some(&before[i])).await;
        assert_eq!(status, 200, "{uri}: an old tag gets the new data");
        assert!(!body.is_empty());
    }

    let (status, _) = support::call(
        &r,
        "PATCH",
        "/api/v1/reports/1",
        Some(r#"{"agency":"hepco"}"#),
    )
    .await;
    assert_eq!(status, 200);
    let patched = tags(&r).await;
    assert_ne!(patched[1], posted[1], "a PATCH changes the report's tag");

    let (status, _) = support::call(
        &r,
        "PATCH",
        "/api/v1/reports/1",
        Some(r#"{"status":"received"}"#),
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(tags(&r).await, patched, "a refused change is no write");
}

async fn the_tag_changes_when_a_due_time_passes_without_a_write() {
    let city = support::demo_city(0).await;
    let r = city.router();
    // Garbage is due 24 h after creation: created 24 h minus 2 s ago, it falls due in 2 s.
    let hours = CityProfile::hue()
        .category("garbage")
        .expect("garbage")
        .deadline_hours;
    let created = chrono::Utc::now() - chrono::Duration::hours(i64::from(hours))
        + chrono::Duration::seconds(2);
    let (status, posted) = support::call(
        &r,
        "POST",
        "/api/v1/reports",
        Some(&post_body(107.5905, Some(created))),
    )
    .await;
    assert_eq!(status, 201, "{posted}");
    let id = posted["id"].as_i64().expect("id");
    let uri = format!("/api/v1/reports/{id}");
    let (_, early, body) = get(&r, &uri, None).await;
    let early_body: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(early_body["properties"]["overdue"], false);
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    let (status, late, body) = get(&r, &uri, Some(&early)).await;
    assert_eq!(
        status, 200,
        "an overdue flag turned on: the old tag no longer matches"
    );
    let late_body: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(late_body["properties"]["overdue"], true);
    assert_ne!(late, early);
}

/// What a service serves at its current version: the version and every report's properties.
struct Seen(BTreeMap<u64, String>);

impl Seen {
    /// Records the service's version and content; a version seen before must name the same
    /// content, and `after_write` must be a version never seen.
    async fn record(&mut self, app: &Arc<Hotspots>, after_write: bool) -> u64 {
        let r = hotspots::api::app(app.clone());
        let (status, tag, body) = get(&r, "/api/v1/reports?limit=10000", None).await;
        assert_eq!(status, 200);
        let version = app.snapshot().version;
        assert!(
            tag.starts_with(&format!("W/\"{version}-")),
            "{tag} names version {version}"
        );
        let content = String::from_utf8(body).expect("UTF-8");
        if after_write {
            assert!(
                !self.0.contains_key(&version),
                "version {version} after a write was used before"
            );
        }
        let first = self.0.entry(version).or_insert_with(|| content.clone());
        assert!(
            *first == content,
            "version {version} names two different contents"
        );
        version
    }
}

async fn service(store: Arc<dyn Store>) -> Arc<Hotspots> {
    Arc::new(
        Hotspots::open(store, CityProfile::hue())
            .await
            .expect("service opens"),
    )
}

async fn post(app: &Arc<Hotspots>, lon: f64) {
    let r = hotspots::api::app(app.clone());
    let (status, body) =
        support::call(&r, "POST", "/api/v1/reports", Some(&post_body(lon, None))).await;
    assert_eq!(status, 201, "{body}");
}

/// Start, write, restart, write, then two instances on one store writing in turn.
async fn versions_never_repeat(open: impl AsyncFn() -> Arc<dyn Store>) {
    let mut seen = Seen(BTreeMap::new());
    let first_store = open().await;
    let first = service(first_store.clone()).await;
    let empty = seen.record(&first, false).await;
    let city = hotspots::demo::generate(&CityProfile::hue());
    first.replace_wards(city.wards).await.expect("wards");
    let v1 = seen.record(&first, true).await;
    first
        .submit_batch(city.reports.into_iter().take(20).collect())
        .await
        .expect("reports");
    post(&first, 107.5905).await;
    let v2 = seen.record(&first, true).await;
    assert!(empty < v1 && v1 < v2, "{empty} < {v1} < {v2}");
    drop(first);
    first_store.close().await;

    let again = service(open().await).await;
    assert_eq!(
        seen.record(&again, false).await,
        v2,
        "a restart keeps the version of the same data"
    );
    post(&again, 107.5910).await;
    let v3 = seen.record(&again, true).await;
    assert!(v3 > v2, "a write after a restart: {v2} → {v3}");

    // A second instance on the same store: each instance's writes get versions of their own.
    let other = service(open().await).await;
    post(&other, 107.5915).await;
    let v4 = seen.record(&other, true).await;
    post(&again, 107.5920).await;
    let v5 = seen.record(&again, true).await;
    assert!(v3 < v4 && v4 < v5, "{v3} < {v4} < {v5}");
}

async fn versions_never_repeat_across_restarts_and_instances_on_a_geopackage() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("city.gpkg");
    versions_never_repeat(async || {
        let store = hotspots::store::GeoPackageStore::open(&path)
            .await
            .expect("GeoPackage opens");
        let store: Arc<dyn Store> = Arc::new(store);
        store
    })
    .await;
}

async fn versions_never_repeat_across_restarts_and_instances_on_postgis() {
    let test = "versions_never_repeat_postgis";
    common::postgis::with_store(test, async |_: &PostgisStore| {
        let url = common::postgis::database_url();
        let schema = common::postgis::schema_name(test);
        versions_never_repeat(async || {
            let store = PostgisStore::connect_schema(&url, &schema)
                .await
                .expect("PostGIS opens");
            let store: Arc<dyn Store> = Arc::new(store);
            store
        })
        .await;
    })
    .await;
}
