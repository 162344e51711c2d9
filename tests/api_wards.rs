//! `/api/v1/wards` and `/readyz` over HTTP.

mod common;
mod support;

use common::oracle::RawWards;
use std::collections::BTreeMap;
use support::{call, demo_city, every_feature};

#[tokio::test]
async fn wards_come_with_vietnamese_names_counts_and_neighbours() {
    let city = demo_city(500).await;
    let r = city.router();
    let (status, body) = call(&r, "GET", "/api/v1/wards", None).await;
    assert_eq!(status, 200);
    let features = body["features"].as_array().expect("features");
    assert!(features.len() >= 20);
    let names: Vec<&str> = features
        .iter()
        .map(|f| f["properties"]["name"].as_str().expect("name"))
        .collect();
    for expected in ["Phú Hội", "Vĩnh Ninh", "Thủy Biều", "Đông Ba", "Vỹ Dạ"] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    let total: u64 = features
        .iter()
        .map(|f| f["properties"]["report_count"].as_u64().expect("count"))
        .sum();
    assert_eq!(
        total + body["reports_outside_wards"].as_u64().expect("outside"),
        500
    );
    assert_eq!(features[0]["geometry"]["type"], "MultiPolygon");
    // Each ward's counts from the submitted reports and a ray cast over the served polygons,
    // not from the index that counted them.
    let oracle = RawWards::from_geojson(&body, |f| f["id"].as_str().expect("code").into());
    let mut want: BTreeMap<Option<&str>, (u64, u64)> = BTreeMap::new();
    for (_, r) in &city.input {
        let tally = want
            .entry(oracle.ward_of(r.lon.get(), r.lat.get()))
            .or_default();
        tally.0 += 1;
        tally.1 += u64::from(r.status.is_open());
    }
    for f in features {
        let p = &f["properties"];
        let code = p["id"].as_str();
        assert_eq!(
            (p["report_count"].as_u64(), p["open_count"].as_u64()),
            want.get(&code)
                .map(|&(total, open)| (Some(total), Some(open)))
                .unwrap_or((Some(0), Some(0))),
            "(reports, open) of ward {code:?}"
        );
    }
    assert_eq!(
        body["reports_outside_wards"].as_u64(),
        Some(want.get(&None).map_or(0, |c| c.0))
    );
    assert!(want.len() > 10, "reports spread over many wards: {want:?}");

    let (status, one) = call(&r, "GET", "/api/v1/wards/phu-hoi", None).await;
    assert_eq!(status, 200);
    assert_eq!(one["properties"]["name"], "Phú Hội");
    assert!(one["properties"]["area_km2"].as_f64().expect("area") > 1.0);
    assert!(
        !one["properties"]["neighbours"]
            .as_array()
            .expect("neighbours")
            .is_empty()
    );

    let (status, ready) = call(&r, "GET", "/readyz", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        (ready["reports_stored"].as_u64(), ready["store"].as_str()),
        (Some(500), Some("geopackage"))
    );
}

/// Every report the API lists, walking every page of `/api/v1/reports`.
async fn every_report(r: &axum::Router) -> Vec<serde_json::Value> {
    every_feature(r, "/api/v1/reports?limit=97").await
}

fn seconds(v: &serde_json::Value) -> Option<i64> {
    v.as_str().map(|t| {
        chrono::DateTime::parse_from_rfc3339(t)
            .unwrap_or_else(|e| panic!("{t:?} is not RFC 3339: {e}"))
            .timestamp()
    })
}

/// The README's definition, written out again here as the test's own oracle: open past due, or
/// resolved after due; rejected never; at whole seconds.
fn oracle_overdue(props: &serde_json::Value, now_s: i64) -> (bool, bool) {
    let (due, resolved) = (seconds(&props["due_at"]), seconds(&props["resolved_at"]));
    let status = props["status"].as_str().expect("status");
    let open = matches!(status, "received" | "assigned" | "in_progress");
    let overdue = match status {
        _ if open => due.is_some_and(|d| d < now_s),
        "resolved" => due.zip(resolved).is_some_and(|(d, r)| r > d),
        "rejected" => false,
        other => panic!("unknown status {other}"),
    };
    (overdue, open)
}

/// A ward's counts equal the sums over its reports, computed here from the reports' own fields
/// as the API serves them (not from the index), with reports of every kind: open and overdue,
/// open and not yet due, resolved on time and late, rejected, reopened.
#[tokio::test]
async fn ward_counts_are_the_sums_over_their_reports() {
    use std::collections::HashMap;

    let city = demo_city(0).await;
    let r = city.router();
    let demo = hotspots::demo::generate(&hotspots::config::CityProfile::hue()).reports;
    let n = demo.len();
    // The oldest (mostly settled) and the newest (mostly open) reports of the demo.
    let mut batch: Vec<_> = demo[..300]
        .iter()
        .chain(&demo[n - 300..])
        .cloned()
        .collect();
    batch.reverse();
    city.app.submit_batch(batch).await.expect("stored");
    for i in 0..3 {
        let body = format!(
            r#"{{"category":"garbage","lon":{},"lat":16.4637}}"#,
            107.5905 + f64::from(i) * 0.002
        );
        let (status, _) = call(&r, "POST", "/api/v1/reports", Some(&body)).await;
        assert_eq!(status, 201);
    }
    let listed = every_report(&r).await;
    let with = |status: &str| {
        listed
            .iter()
            .find(|f| f["properties"]["status"] == status && f["properties"]["due_at"].is_string())
            .map(|f| f["id"].as_i64().expect("id"))
            .unwrap_or_else(|| panic!("the fixture has a {status} report"))
    };
    let (resolved, open) = (with("resolved"), with("assigned"));
    let reopen = format!("/api/v1/reports/{resolved}");
    let (status, _) = call(&r, "PATCH", &reopen, Some(r#"{"status":"in_progress"}"#)).await;
    assert_eq!(status, 200);
    let reject = format!("/api/v1/reports/{open}");
    let (status, _) = call(&r, "PATCH", &reject, Some(r#"{"status":"rejected"}"#)).await;
    assert_eq!(status, 200);

    let now_s = chrono::Utc::now().timestamp();
    let listed = every_report(&r).await;
    let (status, wards) = call(&r, "GET", "/api/v1/wards", None).await;
    assert_eq!(status, 200);
    assert_eq!(listed.len(), 603);

    // [total, open, overdue, open overdue] per ward code ("" = outside every ward).
    let mut sums: HashMap<String, [u64; 4]> = HashMap::new();
    let mut kinds: HashMap<(bool, &str), u64> = HashMap::new();
    for f in &listed {
        let p = &f["properties"];
        let (overdue, open) = oracle_overdue(p, now_s);
        assert_eq!(p["overdue"], overdue, "report {}: {p}", f["id"]);
        let s = sums
            .entry(p["ward"].as_str().unwrap_or_default().to_string())
            .or_default();
        for (slot, yes) in [true, open, overdue, overdue && open]
            .into_iter()
            .enumerate()
        {
            s[slot] += u64::from(yes);
        }
        *kinds
            .entry((overdue, p["status"].as_str().expect("status")))
            .or_default() += 1;
    }
    for kind in [
        (true, "assigned"),
        (false, "in_progress"),
        (true, "resolved"),
        (false, "resolved"),
        (false, "rejected"),
        (false, "received"),
    ] {
        assert!(
            kinds.contains_key(&kind),
            "no report of kind {kind:?} in {kinds:?}"
        );
    }
    let features = wards["features"].as_array().expect("features");
    let mut overdue_total = 0;
    for w in features {
        let p = &w["properties"];
        let code = p["id"].as_str().expect("code");
        let got = [
            "report_count",
            "open_count",
            "overdue_count",
            "open_overdue_count",
        ]
        .map(|k| {
            p[k].as_u64()
                .unwrap_or_else(|| panic!("ward {code} has no {k}"))
        });
        assert_eq!(got, sums.remove(code).unwrap_or_default(), "ward {code}");
        overdue_total += got[2];
    }
    let outside = sums.remove("").unwrap_or_default();
    assert_eq!(wards["reports_outside_wards"], outside[0]);
    assert!(
        sums.is_empty(),
        "reports in wards the API does not list: {sums:?}"
    );
    assert!(overdue_total > 0 && overdue_total < 603, "{overdue_total}");
}
