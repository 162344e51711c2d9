//! `GET /api/v1/reports` filters, checked both ways: every report listed matches the filter, and
//! every submitted report that matches is listed (all pages walked). What matches is worked out
//! from the submitted reports and a ray cast over the served ward polygons, not by the index.

mod common;
mod support;

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use common::oracle::RawWards;
use hotspots::model::Status;
use std::collections::BTreeSet;
use support::{TestCity, call, demo_city, every_feature};

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
    for f in every_feature(r, &format!("/api/v1/reports?{query}&limit=53")).await {
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

/// The wards the API serves, as raw rings for a ray cast (not the service's locator).
async fn ward_oracle(r: &axum::Router) -> RawWards {
    let (status, wards) = call(r, "GET", "/api/v1/wards", None).await;
    assert_eq!(status, 200);
    RawWards::from_geojson(&wards, |f| f["id"].as_str().expect("ward code").into())
}

/// Great-circle distance in metres (haversine, mean Earth radius 6,371,008.8 m), written here
/// so the check does not share the service's metric.
fn haversine_m((lon1, lat1): (f64, f64), (lon2, lat2): (f64, f64)) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let (dp, dl) = (p2 - p1, (lon2 - lon1).to_radians());
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * 6_371_008.8 * h.sqrt().asin()
}

/// `nearby` both ways: every report it returns lies within the radius (and category), at the
/// distance it says, nearest first; every submitted report within the radius comes back. Points
/// within 2 m of the circle are left out of both checks (the service measures in a local
/// projection, not on the sphere).
#[tokio::test]
async fn nearby_returns_every_report_within_the_radius_and_nothing_else() {
    let city = demo_city(1500).await;
    let r = city.router();
    let input: Vec<(i64, (f64, f64), &str)> = city
        .input
        .iter()
        .map(|(id, s)| (*id, (s.lon.get(), s.lat.get()), s.category.as_str()))
        .collect();
    let centres = [(107.5905, 16.4637), (107.578, 16.47), (107.60, 16.455)];
    for (centre, radius_m, category) in centres
        .iter()
        .flat_map(|c| [(*c, 400.0, None), (*c, 900.0, Some("garbage"))])
    {
        let mut uri = format!(
            "/api/v1/reports/nearby?lon={}&lat={}&radius_m={radius_m}&limit=500",
            centre.0, centre.1
        );
        if let Some(c) = category {
            uri.push_str(&format!("&category={c}"));
        }
        let (status, body) = call(&r, "GET", &uri, None).await;
        assert_eq!(status, 200, "{uri}: {body}");
        let features = body["features"].as_array().expect("features");
        assert!(features.len() < 500, "{uri}: the limit cut the answer");
        let mut got = BTreeSet::new();
        let mut last = 0.0;
        for f in features {
            let id = f["id"].as_i64().expect("id");
            let (_, at, cat) = input
                .iter()
                .find(|(i, _, _)| *i == id)
                .unwrap_or_else(|| panic!("{uri}: unknown report {id}"));
            let said = f["properties"]["distance_m"].as_f64().expect("distance");
            let true_m = haversine_m(centre, *at);
            assert!(
                (said - true_m).abs() <= 1.0 + true_m * 0.005,
                "{uri}: report {id} said {said} m, is {true_m:.1} m away"
            );
            assert!(said >= last, "{uri}: nearest first");
            last = said;
            assert!(
                true_m <= radius_m + 2.0,
                "{uri}: report {id} is {true_m:.1} m away"
            );
            assert!(
                category.is_none_or(|c| *cat == c),
                "{uri}: report {id} is {cat}"
            );
            got.insert(id);
        }
        let want: BTreeSet<i64> = input
            .iter()
            .filter(|(_, at, cat)| {
                haversine_m(centre, *at) < radius_m - 2.0 && category.is_none_or(|c| *cat == c)
            })
            .map(|(id, _, _)| *id)
            .collect();
        assert!(
            want.len() >= 3,
            "{uri}: the fixture should hold some, not {}",
            want.len()
        );
        let missing: Vec<_> = want.difference(&got).collect();
        assert!(missing.is_empty(), "{uri}: missing {missing:?}");
    }
}
