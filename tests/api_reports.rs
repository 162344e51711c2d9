//! `/api/v1/reports` over HTTP: submit, find, page, update, and the refusals.

mod common;
mod support;

use common::oracle::RawWards;
use std::collections::BTreeSet;
use support::{call, demo_city, error_field, every_feature};

const REPORT: &str = r#"{"category": "garbage", "lon": 107.5905, "lat": 16.4637, "description": "Rác thải ở góc chợ",
    "reporter_contact": "0905123456", "external_id": "test-1", "source": "test"}"#;

#[tokio::test]
async fn a_posted_report_is_assigned_its_ward_and_found_again() {
    let city = demo_city(200).await;
    let r = city.router();
    let (status, body) = call(&r, "POST", "/api/v1/reports", Some(REPORT)).await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_i64().expect("id");
    let ward = body["ward"].as_str().expect("a ward").to_string();
    let expected = ward_oracle(&r)
        .await
        .ward_of(107.5905, 16.4637)
        .map(str::to_string);
    assert_eq!(Some(ward.clone()), expected, "the ward a ray cast finds");
    assert_eq!(body["report"]["properties"]["agency"], "hepco");

    // Same source + external id again: not stored twice.
    let (status, again) = call(&r, "POST", "/api/v1/reports", Some(REPORT)).await;
    assert_eq!(
        (
            status.as_u16(),
            again["id"].as_i64(),
            again["duplicate"].as_bool()
        ),
        (200, Some(id), Some(true))
    );

    let (status, one) = call(&r, "GET", &format!("/api/v1/reports/{id}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(one["properties"]["description"], "Rác thải ở góc chợ");

    let (_, near) = call(
        &r,
        "GET",
        "/api/v1/reports/nearby?lon=107.5906&lat=16.4637&radius_m=50&category=garbage",
        None,
    )
    .await;
    let first = &near["features"][0];
    assert_eq!(first["id"].as_i64(), Some(id));
    let d = first["properties"]["distance_m"]
        .as_f64()
        .expect("distance");
    assert!((d - 10.7).abs() < 0.2, "distance {d}");
    let distances: Vec<f64> = near["features"]
        .as_array()
        .expect("features")
        .iter()
        .map(|f| f["properties"]["distance_m"].as_f64().expect("distance"))
        .collect();
    assert!(distances.windows(2).all(|w| w[0] <= w[1]) && distances.iter().all(|d| *d <= 50.0));

    let (_, list) = call(
        &r,
        "GET",
        &format!("/api/v1/reports?ward={ward}&limit=5"),
        None,
    )
    .await;
    assert_eq!(list["features"][0]["id"].as_i64(), Some(id), "newest first");
    assert!(
        list["features"]
            .as_array()
            .expect("features")
            .iter()
            .all(|f| f["properties"]["ward"] == ward.as_str())
    );

    // The reporter's contact is stored, but never served.
    assert_eq!(city.store_contact(id).await.as_deref(), Some("0905123456"));
    for text in [
        body.to_string(),
        one.to_string(),
        near.to_string(),
        list.to_string(),
    ] {
        assert!(!text.contains("0905123456") && !text.contains("reporter_contact"));
    }
}

trait Contact {
    async fn store_contact(&self, id: i64) -> Option<String>;
}
impl Contact for support::TestCity {
    async fn store_contact(&self, id: i64) -> Option<String> {
        use hotspots::store::Store;
        self.store
            .reporter_contact(id)
            .await
            .expect("store answers")
    }
}

#[tokio::test]
async fn cursor_pages_cover_every_match_once() {
    let city = demo_city(600).await;
    let r = city.router();
    let mut seen = Vec::new();
    for f in every_feature(&r, "/api/v1/reports?category=garbage&limit=37").await {
        assert_eq!(f["properties"]["category"], "garbage");
        let created = f["properties"]["created_at"].as_str().expect("created_at");
        let created = chrono::DateTime::parse_from_rfc3339(created).expect("RFC 3339");
        seen.push((created, f["id"].as_i64().expect("id")));
    }
    // Counted from the submitted reports, not from the index that served the pages.
    let expected: BTreeSet<i64> = city
        .input
        .iter()
        .filter(|(_, r)| r.category == "garbage")
        .map(|(id, _)| *id)
        .collect();
    assert!(expected.len() > 37, "several pages: {}", expected.len());
    let mut sorted = seen.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    sorted.dedup();
    assert_eq!(
        sorted, seen,
        "pages are newest first (created_at, then id) with no repeats"
    );
    assert_eq!(seen.len(), expected.len());
    assert_eq!(
        seen.into_iter().map(|(_, id)| id).collect::<BTreeSet<_>>(),
        expected
    );
}

#[tokio::test]
async fn filters_by_bbox_status_and_time() {
    let city = demo_city(800).await;
    let r = city.router();
    let (_, page) = call(&r, "GET", "/api/v1/reports?bbox=107.57,16.45,107.60,16.48&status=resolved&from=2024-12-01&to=2024-12-15&limit=1000", None).await;
    let features = page["features"].as_array().expect("features");
    assert!(!features.is_empty());
    for f in features {
        let (lon, lat) = (
            f["geometry"]["coordinates"][0].as_f64().expect("lon"),
            f["geometry"]["coordinates"][1].as_f64().expect("lat"),
        );
        assert!((107.57..=107.60).contains(&lon) && (16.45..=16.48).contains(&lat));
        assert_eq!(f["properties"]["status"], "resolved");
        let created = f["properties"]["created_at"].as_str().expect("time");
        // Local (UTC+7) dates 1–14 December 2024.
        assert!(
            ("2024-11-30T17:00:00Z".."2024-12-14T17:00:00Z").contains(&created),
            "{created}"
        );
    }
}

#[tokio::test]
async fn status_changes_follow_the_workflow() {
    let city = demo_city(10).await;
    let r = city.router();
    let (_, body) = call(
        &r,
        "POST",
        "/api/v1/reports",
        Some(r#"{"category":"pothole","lon":107.58,"lat":16.46}"#),
    )
    .await;
    let uri = format!("/api/v1/reports/{}", body["id"]);
    let (s, _) = call(
        &r,
        "PATCH",
        &uri,
        Some(r#"{"status":"assigned","agency":"roads"}"#),
    )
    .await;
    assert_eq!(s, 200);
    let (s, done) = call(
        &r,
        "PATCH",
        &uri,
        Some(r#"{"status":"resolved","satisfaction":4}"#),
    )
    .await;
    assert_eq!(s, 200);
    assert!(done["properties"]["resolved_at"].is_string());
    assert_eq!(done["properties"]["satisfaction"], 4);
    let (s, err) = call(&r, "PATCH", &uri, Some(r#"{"status":"received"}"#)).await;
    assert_eq!(s, 409, "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .expect("message")
            .contains("resolved")
    );
    let (s, _) = call(
        &r,
        "PATCH",
        "/api/v1/reports/999999",
        Some(r#"{"status":"assigned"}"#),
    )
    .await;
    assert_eq!(s, 404);
    let (s, err) = call(&r, "PATCH", &uri, Some(r#"{"status":"done"}"#)).await;
    assert_eq!((s.as_u16(), error_field(&err)), (422, "status"));
}

#[tokio::test]
async fn bad_input_is_refused_by_name_and_nothing_is_stored() {
    let city = demo_city(50).await;
    let r = city.router();
    let before = city.app.snapshot().len();
    let cases: Vec<(&str, u16, &str)> = vec![
        (
            r#"{"category":"garbage","lon":107.59,"lat":200}"#,
            422,
            "lat",
        ),
        (
            r#"{"category":"garbage","lon":"NaN","lat":16.46}"#,
            422,
            "lon",
        ),
        (r#"{"category":"garbage","lon":NaN,"lat":16.46}"#, 400, ""),
        (
            r#"{"category":"volcano","lon":107.59,"lat":16.46}"#,
            422,
            "category",
        ),
        (r#"{"category":"garbage","lon":107.59,"lat":16.46"#, 400, ""),
        (r#"[1,2,3]"#, 422, "body"),
        (
            r#"{"type":"Feature","geometry":{"type":"LineString","coordinates":[[0,0],[1,1]]},"properties":{"category":"garbage"}}"#,
            422,
            "geometry",
        ),
    ];
    for (body, status, field) in cases {
        let (s, err) = call(&r, "POST", "/api/v1/reports", Some(body)).await;
        assert_eq!(s.as_u16(), status, "{body} → {err}");
        assert!(
            err["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{err}"
        );
        if !field.is_empty() {
            assert_eq!(error_field(&err), field, "{body} → {err}");
        }
    }
    for (uri, status) in [
        ("/api/v1/reports/abc", 400),
        ("/api/v1/reports/-4", 400),
        ("/api/v1/reports?limit=0", 422),
        ("/api/v1/reports?bbox=1,2,3", 422),
        ("/api/v1/reports?colour=red", 422),
        ("/api/v1/reports?ward=atlantis", 422),
        ("/api/v1/reports?from=yesterday", 422),
        ("/api/v1/reports/nearby?lon=107.5&lat=95", 422),
        ("/api/v1/reports/nearby?lat=16.4", 422),
        ("/api/v1/wards/atlantis", 404),
        ("/api/v2/nothing", 404),
    ] {
        let (s, err) = call(&r, "GET", uri, None).await;
        assert_eq!(s.as_u16(), status, "{uri} → {err}");
        assert!(err["error"]["code"].is_string());
    }
    let (s, _) = call(&r, "DELETE", "/api/v1/wards", None).await;
    assert_eq!(s, 405);
    assert_eq!(city.app.snapshot().len(), before);
    use hotspots::store::Store;
    assert_eq!(
        city.store.count_reports().await.expect("count") as usize,
        before
    );
    let (s, _) = call(&r, "GET", "/healthz", None).await;
    assert_eq!(s, 200);
}

/// Every wrong query parameter is a 422 naming it in `details.field`, in the API's own words.
#[tokio::test]
async fn query_errors_name_their_parameter() {
    let city = demo_city(20).await;
    let r = city.router();
    for (uri, field) in [
        ("/api/v1/reports?limit=-1", "limit"),
        ("/api/v1/reports?limit=abc", "limit"),
        ("/api/v1/reports?limit=0", "limit"),
        ("/api/v1/reports?limit=5&limit=6", "limit"),
        ("/api/v1/reports?cursor=abc", "cursor"),
        ("/api/v1/reports?colour=red", "colour"),
        ("/api/v1/reports?from=2024-12-15&to=2024-12-01", "from"),
        ("/api/v1/reports/nearby?lat=16.46", "lon"),
        ("/api/v1/reports/nearby?lon=107.59", "lat"),
        ("/api/v1/reports/nearby?lon=east&lat=16.46", "lon"),
        (
            "/api/v1/reports/nearby?lon=107.59&lat=16.46&radius_m=0",
            "radius_m",
        ),
        (
            "/api/v1/reports/nearby?lon=107.59&lat=16.46&radius_m=abc",
            "radius_m",
        ),
        (
            "/api/v1/reports/nearby?lon=107.59&lat=16.46&limit=-3",
            "limit",
        ),
        (
            "/api/v1/reports/nearby?lon=107.59&lat=16.46&radius=5",
            "radius",
        ),
    ] {
        let (status, err) = call(&r, "GET", uri, None).await;
        assert_eq!(status, 422, "{uri} → {err}");
        assert_eq!(error_field(&err), field, "{uri} → {err}");
        let message = err["error"]["message"].as_str().expect("a message");
        assert!(
            !message.contains("deserialize") && !message.contains(&format!("{field}: {field}")),
            "{uri} → {message}"
        );
    }
    // The same day as from and to is a range, not an error.
    let (status, _) = call(
        &r,
        "GET",
        "/api/v1/reports?from=2024-12-01&to=2024-12-01",
        None,
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn geojson_answers_are_application_geo_json() {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;
    let city = demo_city(5).await;
    let id = city.app.snapshot().entries().next().expect("a report").id;
    let wards = city.app.snapshot().wards.get(0).code.clone();
    for uri in [
        "/api/v1/reports".to_string(),
        format!("/api/v1/reports/{id}"),
        "/api/v1/reports/nearby?lon=107.59&lat=16.46&radius_m=5000".into(),
        "/api/v1/wards".into(),
        format!("/api/v1/wards/{wards}"),
    ] {
        let req = Request::get(&uri).body(Body::empty()).expect("request");
        let resp = city.router().oneshot(req).await.expect("answer");
        assert_eq!(resp.status(), 200, "{uri}");
        assert_eq!(
            resp.headers()["content-type"],
            "application/geo+json",
            "{uri}"
        );
    }
    let req = Request::get("/api/v1/reports?limit=abc")
        .body(Body::empty())
        .expect("request");
    let resp = city.router().oneshot(req).await.expect("answer");
    assert_eq!(resp.headers()["content-type"], "application/json");
}

/// Times outside 1900..2199 and numbers attributes could not read back are refused by name, and
/// nothing is stored (the same rule holds on PostGIS: tests/faults_postgis.rs).
#[tokio::test]
async fn out_of_range_times_and_numbers_are_refused() {
    let city = demo_city(5).await;
    let r = city.router();
    for (body, field) in [
        (
            r#"{"category":"garbage","lon":107.59,"lat":16.46,"created_at":"0000-12-31T23:59:59Z"}"#,
            "created_at",
        ),
        (
            r#"{"category":"garbage","lon":107.59,"lat":16.46,"created_at":"1899-12-31T23:59:59Z"}"#,
            "created_at",
        ),
        (
            r#"{"category":"garbage","lon":107.6111,"lat":16.4711,"attributes":{"n":1.7976931348623157e308}}"#,
            "attributes",
        ),
        (
            r#"{"category":"garbage","lon":107.59,"lat":16.46,"attributes":{"deep":[{"n":-1e301}]}}"#,
            "attributes",
        ),
    ] {
        let (status, err) = call(&r, "POST", "/api/v1/reports", Some(body)).await;
        assert_eq!(
            (status.as_u16(), error_field(&err)),
            (422, field),
            "{body} → {err}"
        );
    }
    // Year 9999 is also in the future; the range is what refuses it on a status-free import path.
    let report: hotspots::model::NewReport = hotspots::ingest::json::report_from_json(
        &serde_json::json!({"category": "garbage", "lon": 107.59, "lat": 16.46}),
        &hotspots::config::CityProfile::hue(),
        chrono::Utc::now(),
    )
    .expect("a valid report");
    let mut late = report.clone();
    late.resolved_at = "9999-01-01T00:00:00Z".parse().ok();
    let e = hotspots::ingest::check_times(&late).expect_err("year 9999 refused");
    assert_eq!(e.field, "resolved_at");
    assert_eq!(city.app.snapshot().len(), 5);
}

/// A declared body over the limit is refused before any of it is read.
#[tokio::test]
async fn a_declared_length_over_the_limit_is_413_at_once() {
    let city = demo_city(0).await;
    let req = axum::http::Request::post("/api/v1/reports")
        .header("content-type", "application/json")
        .header(
            "content-length",
            (hotspots::api::BODY_LIMIT_BYTES + 1).to_string(),
        )
        .body(axum::body::Body::from("{}"))
        .expect("request");
    let resp = tower::ServiceExt::oneshot(city.router(), req)
        .await
        .expect("answer");
    assert_eq!(resp.status(), 413);
}

/// The wards the API serves, as raw rings for a ray cast (not the service's locator).
async fn ward_oracle(r: &axum::Router) -> RawWards {
    let (status, wards) = call(r, "GET", "/api/v1/wards", None).await;
    assert_eq!(status, 200);
    RawWards::from_geojson(&wards, |f| f["id"].as_str().expect("ward code").into())
}
