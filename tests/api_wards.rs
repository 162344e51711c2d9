//! `/api/v1/wards` and `/readyz` over HTTP.

mod support;

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
