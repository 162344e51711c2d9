//! `/api/v1/wards` and `/readyz` over HTTP.

mod common;
mod support;

use common::oracle::RawWards;
use std::collections::BTreeMap;
use support::{call, demo_city};

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
