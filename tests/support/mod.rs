//! Shared set-up for the HTTP tests: a fresh GeoPackage holding the demo city's wards and its
//! first reports, and helpers to call the router without a socket.
#![allow(dead_code)]

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use hotspots::config::CityProfile;
use hotspots::model::{NewReport, ReportId};
use hotspots::service::Hotspots;
use hotspots::store::{GeoPackageStore, Inserted};
use http_body_util::BodyExt;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tower::ServiceExt;

pub struct TestCity {
    pub dir: tempfile::TempDir,
    pub app: Arc<Hotspots>,
    pub store: GeoPackageStore,
    /// The reports as submitted, with the id each was stored as: the oracle of what the API
    /// should serve, independent of the index that serves it.
    pub input: Vec<(ReportId, NewReport)>,
}

impl TestCity {
    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("city.gpkg")
    }
    pub fn router(&self) -> Router {
        hotspots::api::app(self.app.clone())
    }
}

/// A GeoPackage with the demo wards and the first `reports` demo reports.
pub async fn demo_city(reports: usize) -> TestCity {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, app) = open(&dir.path().join("city.gpkg")).await;
    let city = hotspots::demo::generate(&CityProfile::hue());
    app.replace_wards(city.wards).await.expect("wards stored");
    let reports: Vec<_> = city.reports.into_iter().take(reports).collect();
    let outcome = app
        .submit_batch(reports.clone())
        .await
        .expect("reports stored");
    let input = outcome
        .iter()
        .zip(reports)
        .map(|(o, r)| match o {
            Inserted::New(id) => (*id, r),
            Inserted::Duplicate(id) => panic!("demo report stored twice as {id}"),
        })
        .collect();
    TestCity {
        dir,
        app,
        store,
        input,
    }
}

pub async fn open(path: &Path) -> (GeoPackageStore, Arc<Hotspots>) {
    let store = GeoPackageStore::open(path).await.expect("GeoPackage opens");
    let app = Hotspots::open(Arc::new(store.clone()), CityProfile::hue())
        .await
        .expect("service opens");
    (store, Arc::new(app))
}

/// Sends a request through the router; returns status and body parsed as JSON.
pub async fn call(
    router: &Router,
    method: &str,
    uri: &str,
    body: Option<&str>,
) -> (StatusCode, Value) {
    let (status, _, json) = send(router, method, uri, body).await;
    (status, json)
}

/// Sends a request through the router; returns status, headers and body parsed as JSON.
pub async fn send(
    router: &Router,
    method: &str,
    uri: &str,
    body: Option<&str>,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let req = req
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .expect("request");
    let resp = router.clone().oneshot(req).await.expect("router answers");
    let (status, headers) = (resp.status(), resp.headers().clone());
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
        panic!(
            "{method} {uri} → {status}: body is not JSON: {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    (status, headers, json)
}

/// Every feature of every page from `first_uri` on, following each page's `links` rel=next;
/// each page must answer 200.
pub async fn every_feature(router: &Router, first_uri: &str) -> Vec<Value> {
    let mut uri = first_uri.to_string();
    let mut all = Vec::new();
    for _ in 0..10_000 {
        let (status, page) = call(router, "GET", &uri, None).await;
        assert_eq!(status, 200, "{uri}: {page}");
        all.extend(
            page["features"]
                .as_array()
                .expect("features")
                .iter()
                .cloned(),
        );
        match page["links"][0]["href"].as_str() {
            Some(next) => uri = next.to_string(),
            None => return all,
        }
    }
    panic!("{first_uri}: the pages never end");
}

pub fn error_field(body: &Value) -> &str {
    body["error"]["details"]["field"].as_str().unwrap_or("")
}
