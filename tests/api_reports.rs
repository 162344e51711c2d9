//! `/api/v1/reports` over HTTP: submit, find, page, update, and the refusals.

mod common;
mod support;

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use common::oracle::RawWards;
use hotspots::model::Status;
use std::collections::BTreeSet;
use support::{TestCity, call, demo_city, error_field};

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
    let (mut seen, mut uri) = (
        Vec::new(),
        "/api/v1/reports?category=garbage&limit=37".to_string(),
    );
    loop {
        let (status, page) = call(&r, "GET", &uri, None).await;
        assert_eq!(status, 200, "{page}");
        for f in page["features"].as_array().expect("features") {
            assert_eq!(f["properties"]["category"], "garbage");
            seen.push(f["id"].as_i64().expect("id"));
        }
        match page["links"][0]["href"].as_str() {
            Some(next) => uri = next.to_string(),
            None => break,
        }
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
    assert_eq!(sorted, seen, "pages are newest first with no repeats");
    assert_eq!(seen.len(), expected.len());
    assert_eq!(seen.into_iter().collect::<BTreeSet<_>>(), expected);
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
        ("/api/v1/reports?colour=red", 400),
        ("/api/v1/reports?ward=atlantis", 422),
        ("/api/v1/reports?from=yesterday", 422),
        ("/api/v1/reports/nearby?lon=107.5&lat=95", 422),
        ("/api/v1/reports/nearby?lat=16.4", 400),
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

/// The wards the API serves, as raw rings for a ray cast (not the service's locator).
async fn ward_oracle(r: &axum::Router) -> RawWards {
    let (status, wards) = call(r, "GET", "/api/v1/wards", None).await;
    assert_eq!(status, 200);
    RawWards::from_geojson(&wards, |f| f["id"].as_str().expect("ward code").into())
}

/// A submitted report as the filters see it, from the input and the ray cast.
struct Submitted {
    id: i64,
    lon: f64,
    lat: f64,
    ward: Option<String>,
    category: String,
    status: Status,
    created_at: DateTime<Utc>,
}

/// One query's filters, checked on the oracle's side without the service's parsing.
#[derive(Default, Debug)]
struct Want<'a> {
    bbox: Option<[f64; 4]>,
    /// `Some(None)`: outside every ward.
    ward: Option<Option<&'a str>>,
    category: Option<&'a str>,
    status: Option<Status>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
}

impl Want<'_> {
    fn matches(&self, r: &Submitted) -> bool {
        self.bbox
            .is_none_or(|[x0, y0, x1, y1]| (x0..=x1).contains(&r.lon) && (y0..=y1).contains(&r.lat))
            && self.ward.is_none_or(|w| r.ward.as_deref() == w)
            && self.category.is_none_or(|c| r.category == c)
            && self.status.is_none_or(|s| r.status == s)
            && self.from.is_none_or(|t| r.created_at >= t)
            && self.to.is_none_or(|t| r.created_at < t)
    }
}

/// Midnight of a Huế date (UTC+7, no daylight saving), as the API reads `YYYY-MM-DD`.
fn hue_midnight(date: &str) -> DateTime<Utc> {
    let day = NaiveDate::parse_from_str(date, "%Y-%m-%d").expect("a date");
    let hue = FixedOffset::east_opt(7 * 3600).expect("UTC+7");
    day.and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_local_timezone(hue)
        .single()
        .expect("no gap at UTC+7")
        .with_timezone(&Utc)
}

fn submitted(city: &TestCity, wards: &RawWards) -> Vec<Submitted> {
    city.input
        .iter()
        .map(|(id, r)| Submitted {
            id: *id,
            lon: r.lon.get(),
            lat: r.lat.get(),
            ward: wards.ward_of(r.lon.get(), r.lat.get()).map(str::to_string),
            category: r.category.clone(),
            status: r.status,
            created_at: r.created_at,
        })
        .collect()
}

/// Every id the list returns for `query`, walking all pages; checks each feature's own
/// properties against `want` on the way.
async fn listed(r: &axum::Router, query: &str, want: &Want<'_>) -> BTreeSet<i64> {
    let mut ids = BTreeSet::new();
    let mut uri = format!("/api/v1/reports?{query}&limit=53");
    loop {
        let (status, page) = call(r, "GET", &uri, None).await;
        assert_eq!(status, 200, "{uri}: {page}");
        for f in page["features"].as_array().expect("features") {
            let p = &f["properties"];
            let served = Submitted {
                id: f["id"].as_i64().expect("id"),
                lon: f["geometry"]["coordinates"][0].as_f64().expect("lon"),
                lat: f["geometry"]["coordinates"][1].as_f64().expect("lat"),
                ward: p["ward"].as_str().map(str::to_string),
                category: p["category"].as_str().expect("category").into(),
                status: serde_json::from_value(p["status"].clone()).expect("a status"),
                created_at: p["created_at"]
                    .as_str()
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .expect("created_at")
                    .with_timezone(&Utc),
            };
            assert!(want.matches(&served), "{query}: served {f} does not match");
            assert!(ids.insert(served.id), "{query}: {} twice", served.id);
        }
        match page["links"][0]["href"].as_str() {
            Some(next) => uri = next.to_string(),
            None => break,
        }
    }
    ids
}

/// Each filter alone and in combination, both ways: every report the list returns matches, and
/// every submitted report that matches (by the input and a ray cast over the ward polygons, not
/// the index) comes back, across all pages.
#[tokio::test]
async fn every_filter_returns_every_match_and_nothing_else() {
    let city = demo_city(1500).await;
    let r = city.router();
    let wards = ward_oracle(&r).await;
    let mut all = submitted(&city, &wards);
    // The demo's first weeks are all settled: reopen some so an open status has reports too.
    for s in all
        .iter_mut()
        .filter(|s| s.status == Status::Resolved)
        .step_by(40)
    {
        let uri = format!("/api/v1/reports/{}", s.id);
        let (status, body) = call(&r, "PATCH", &uri, Some(r#"{"status":"in_progress"}"#)).await;
        assert_eq!(status, 200, "{body}");
        s.status = Status::InProgress;
    }
    // The ward with the most reports, so that combinations with it still match some.
    let busiest = wards
        .codes()
        .max_by_key(|c| all.iter().filter(|s| s.ward.as_deref() == Some(*c)).count())
        .expect("wards");
    let day = hue_midnight;
    let instant = |t: &str| {
        DateTime::parse_from_rfc3339(t)
            .expect("time")
            .with_timezone(&Utc)
    };
    let hue_centre = Some([107.57, 16.45, 107.60, 16.48]);
    let cases: Vec<(String, Want)> = vec![
        (
            "bbox=107.57,16.45,107.60,16.48".into(),
            Want {
                bbox: hue_centre,
                ..Want::default()
            },
        ),
        (
            format!("ward={busiest}"),
            Want {
                ward: Some(Some(busiest)),
                ..Want::default()
            },
        ),
        (
            "ward=none".into(),
            Want {
                ward: Some(None),
                ..Want::default()
            },
        ),
        (
            "category=garbage".into(),
            Want {
                category: Some("garbage"),
                ..Want::default()
            },
        ),
        (
            "status=resolved".into(),
            Want {
                status: Some(Status::Resolved),
                ..Want::default()
            },
        ),
        (
            "status=in_progress".into(),
            Want {
                status: Some(Status::InProgress),
                ..Want::default()
            },
        ),
        (
            "status=rejected".into(),
            Want {
                status: Some(Status::Rejected),
                ..Want::default()
            },
        ),
        (
            "from=2024-12-20".into(),
            Want {
                from: Some(day("2024-12-20")),
                ..Want::default()
            },
        ),
        (
            "to=2024-12-05".into(),
            Want {
                to: Some(day("2024-12-05")),
                ..Want::default()
            },
        ),
        (
            "from=2024-12-01T12:30:00Z&to=2024-12-03T00:00:00%2B07:00".into(),
            Want {
                from: Some(instant("2024-12-01T12:30:00Z")),
                to: Some(instant("2024-12-03T00:00:00+07:00")),
                ..Want::default()
            },
        ),
        (
            "bbox=107.57,16.45,107.60,16.48&status=resolved&from=2024-12-01&to=2024-12-15".into(),
            Want {
                bbox: hue_centre,
                status: Some(Status::Resolved),
                from: Some(day("2024-12-01")),
                to: Some(day("2024-12-15")),
                ..Want::default()
            },
        ),
        (
            format!("ward={busiest}&category=garbage"),
            Want {
                ward: Some(Some(busiest)),
                category: Some("garbage"),
                ..Want::default()
            },
        ),
        (
            format!("ward={busiest}&bbox=107.57,16.45,107.60,16.48&from=2024-12-01"),
            Want {
                ward: Some(Some(busiest)),
                bbox: hue_centre,
                from: Some(day("2024-12-01")),
                ..Want::default()
            },
        ),
        (
            "category=garbage&status=resolved&to=2024-12-20".into(),
            Want {
                category: Some("garbage"),
                status: Some(Status::Resolved),
                to: Some(day("2024-12-20")),
                ..Want::default()
            },
        ),
    ];
    for (query, want) in &cases {
        let expected: BTreeSet<i64> = all
            .iter()
            .filter(|s| want.matches(s))
            .map(|s| s.id)
            .collect();
        // ward=none may rightly be empty; every other case must select some but not all.
        if query != "ward=none" {
            assert!(
                !expected.is_empty() && expected.len() < all.len(),
                "{query}: the fixture should select some of {} reports, not {}",
                all.len(),
                expected.len()
            );
        }
        let got = listed(&r, query, want).await;
        let missing: Vec<_> = expected.difference(&got).collect();
        let extra: Vec<_> = got.difference(&expected).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{query}: {} expected, {} listed; missing {missing:?}, extra {extra:?}",
            expected.len(),
            got.len()
        );
    }
}
