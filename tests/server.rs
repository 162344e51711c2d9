//! The service on a real socket: huge bodies, restarts, and GDAL reading the same GeoPackage.

mod common;
mod support;

use common::oracle::RawWards;
use hotspots::config::CityProfile;
use hotspots::service::Hotspots;
use hotspots::store::PostgisStore;
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use support::{demo_city, open};

common::harness::tests! {
    a_50_mb_body_is_refused_and_the_server_keeps_serving,
    acknowledged_reports_survive_a_restart_with_their_wards,
    acknowledged_reports_survive_a_restart_on_postgis: [Need::Postgis],
    gdal_reads_the_geopackage_and_counts_what_the_api_counts: [Need::Ogrinfo],
}

async fn start(
    app: std::sync::Arc<hotspots::service::Hotspots>,
) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        axum::serve(listener, hotspots::api::app(app))
            .await
            .expect("serve");
    });
    (addr, task)
}

async fn a_50_mb_body_is_refused_and_the_server_keeps_serving() {
    let city = demo_city(5).await;
    let (addr, _task) = start(city.app.clone()).await;
    let client = reqwest::Client::new();
    let huge = format!(
        r#"{{"category":"garbage","lon":107.59,"lat":16.46,"description":"{}"}}"#,
        "x".repeat(50 << 20)
    );
    let resp = client
        .post(format!("http://{addr}/api/v1/reports"))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await;
    // The server answers 413 as soon as the limit is passed; a client still sending may see the
    // connection close instead. Either way nothing is stored and the server goes on.
    if let Ok(resp) = resp {
        assert_eq!(resp.status(), 413);
        let body: Value = resp.json().await.expect("JSON error body");
        assert_eq!(body["error"]["code"], "payload_too_large");
    }
    let health = client
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .expect("still serving");
    assert_eq!(health.status(), 200);
    assert_eq!(city.app.snapshot().len(), 5);
}

async fn acknowledged_reports_survive_a_restart_with_their_wards() {
    let city = demo_city(0).await;
    let path = city.db_path();
    survives_restart(city.app, async || open(&path).await.1).await;
}

async fn acknowledged_reports_survive_a_restart_on_postgis() {
    let test = "restart_on_postgis";
    common::postgis::with_store(test, async |store| {
        let profile = CityProfile::hue();
        let app = Hotspots::open(Arc::new(store.clone()), profile.clone())
            .await
            .expect("service opens");
        app.replace_wards(hotspots::demo::generate(&profile).wards)
            .await
            .expect("wards stored");
        survives_restart(Arc::new(app), async || {
            let url = common::postgis::database_url();
            let schema = common::postgis::schema_name(test);
            let store = PostgisStore::connect_schema(&url, &schema)
                .await
                .expect("PostGIS store reopens");
            let app = Hotspots::open(Arc::new(store), profile)
                .await
                .expect("service reopens");
            Arc::new(app)
        })
        .await;
    })
    .await;
}

/// Reports posted and updated over HTTP, then the service stopped and `reopen`ed: what the index
/// serves afterwards (every list page, ward counts, `nearby`) is what it served before, and
/// what an independent count of the acknowledged reports says it must be.
async fn survives_restart(app: Arc<Hotspots>, reopen: impl AsyncFnOnce() -> Arc<Hotspots>) {
    let (addr, task) = start(app.clone()).await;
    let client = reqwest::Client::new();
    let mut acknowledged = BTreeMap::new();
    for i in 0..25 {
        let (lon, lat) = (107.52 + f64::from(i) * 0.005, 16.42 + f64::from(i) * 0.003);
        let body = serde_json::json!({"category": "streetlight", "lon": lon, "lat": lat});
        let resp = client
            .post(format!("http://{addr}/api/v1/reports"))
            .json(&body)
            .send()
            .await
            .expect("post");
        assert_eq!(resp.status(), 201);
        let v: Value = resp.json().await.expect("json");
        let id = v["id"].as_i64().expect("id");
        let resolved = i % 4 == 0;
        if resolved {
            let resp = client
                .patch(format!("http://{addr}/api/v1/reports/{id}"))
                .json(&serde_json::json!({"status": "resolved"}))
                .send()
                .await
                .expect("patch");
            assert_eq!(resp.status(), 200);
        }
        acknowledged.insert(id, (lon, lat, v["ward"].clone(), resolved));
    }
    let before = served(&client, addr, &acknowledged).await;
    task.abort();
    app.store().close().await;
    drop(app);

    let (addr, _task) = start(reopen().await).await;
    let after = served(&client, addr, &acknowledged).await;
    assert_eq!(
        after, before,
        "the index serves after a restart what it served before"
    );

    // What it must serve, counted apart from the index: wards by a ray cast over the served
    // ward polygons, open = not resolved by us.
    let wards: Value = get(&client, addr, "/api/v1/wards").await;
    let oracle = RawWards::from_geojson(&wards, |f| f["id"].as_str().expect("code").into());
    let mut want: BTreeMap<Option<String>, (u64, u64)> = BTreeMap::new();
    for (id, (lon, lat, ward, resolved)) in &acknowledged {
        let expected = oracle.ward_of(*lon, *lat).map(str::to_string);
        assert!(expected.is_some(), "report {id} lies in a ward");
        assert_eq!(ward.as_str(), expected.as_deref(), "report {id} on POST");
        assert_eq!(
            after.list[id]["ward"].as_str(),
            expected.as_deref(),
            "report {id}"
        );
        let tally = want.entry(expected).or_default();
        tally.0 += 1;
        tally.1 += u64::from(!resolved);
    }
    let ids: Vec<&i64> = after.list.keys().collect();
    assert_eq!(
        ids,
        acknowledged.keys().collect::<Vec<_>>(),
        "every report listed once"
    );
    for (code, counts) in &after.wards {
        let expected = want.get(code).copied().unwrap_or_default();
        assert_eq!(*counts, expected, "(reports, open) of ward {code:?}");
    }
    for (id, found) in &after.nearby {
        assert_eq!(found.first(), Some(&(*id, 0.0)), "nearby its own position");
    }
}

/// What the index serves, as plain data: every listed report's properties (all pages), each
/// ward's (report, open) counts (`None`: outside every ward), and the (id, distance) list
/// `nearby` gives within 1 m of each acknowledged report.
#[derive(Debug, PartialEq)]
struct Served {
    list: BTreeMap<i64, Value>,
    wards: BTreeMap<Option<String>, (u64, u64)>,
    nearby: BTreeMap<i64, Vec<(i64, f64)>>,
}

async fn served(
    client: &reqwest::Client,
    addr: SocketAddr,
    reports: &BTreeMap<i64, (f64, f64, Value, bool)>,
) -> Served {
    let mut list = BTreeMap::new();
    let mut uri = "/api/v1/reports?limit=7".to_string();
    loop {
        let page = get(client, addr, &uri).await;
        for f in page["features"].as_array().expect("features") {
            let id = f["id"].as_i64().expect("id");
            let props = f["properties"].clone();
            assert!(list.insert(id, props).is_none(), "report {id} listed twice");
        }
        match page["links"][0]["href"].as_str() {
            Some(next) => uri = next.to_string(),
            None => break,
        }
    }
    let collection = get(client, addr, "/api/v1/wards").await;
    let mut wards: BTreeMap<Option<String>, (u64, u64)> = collection["features"]
        .as_array()
        .expect("features")
        .iter()
        .map(|f| {
            let p = &f["properties"];
            let code = p["id"].as_str().map(str::to_string);
            let counts = (
                p["report_count"].as_u64().expect("report_count"),
                p["open_count"].as_u64().expect("open_count"),
            );
            (code, counts)
        })
        .collect();
    let outside = collection["reports_outside_wards"]
        .as_u64()
        .expect("outside");
    wards.insert(None, (outside, 0)); // open outside is not served; 0 on both sides
    let mut nearby = BTreeMap::new();
    for (id, (lon, lat, _, _)) in reports {
        let found = get(
            client,
            addr,
            &format!("/api/v1/reports/nearby?lon={lon}&lat={lat}&radius_m=1"),
        )
        .await;
        let found: Vec<(i64, f64)> = found["features"]
            .as_array()
            .expect("features")
            .iter()
            .map(|f| {
                let d = f["properties"]["distance_m"].as_f64().expect("distance");
                (f["id"].as_i64().expect("id"), d)
            })
            .collect();
        nearby.insert(*id, found);
    }
    Served {
        list,
        wards,
        nearby,
    }
}

async fn get(client: &reqwest::Client, addr: SocketAddr, uri: &str) -> Value {
    let resp = client
        .get(format!("http://{addr}{uri}"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {uri}: {e}"));
    assert_eq!(resp.status(), 200, "GET {uri}");
    resp.json()
        .await
        .unwrap_or_else(|e| panic!("GET {uri}: {e}"))
}

/// `ogrinfo` (GDAL) must read our GeoPackage and count what was submitted, as the API does.
async fn gdal_reads_the_geopackage_and_counts_what_the_api_counts() {
    let city = demo_city(1234).await;
    assert_eq!(city.input.len(), 1234);
    let (_, ready) = support::call(&city.router(), "GET", "/readyz", None).await;
    assert_eq!(ready["reports_indexed"], 1234);
    let path = city.db_path();
    let out = Command::new("ogrinfo")
        .args(["-so", "-ro"])
        .arg(&path)
        .arg("report")
        .output()
        .expect("ogrinfo runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let count: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("Feature Count: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no feature count in {text}"));
    assert_eq!(count, 1234);
    assert!(text.contains("Geometry: Point"), "{text}");
    let wards = Command::new("ogrinfo")
        .args(["-so", "-ro"])
        .arg(&path)
        .arg("ward")
        .output()
        .expect("ogrinfo runs");
    let text = String::from_utf8_lossy(&wards.stdout);
    assert!(
        text.contains("Feature Count: 30") && text.contains("Multi Polygon"),
        "{text}"
    );
    // GDAL must not find anything to complain about in the file's structure.
    assert!(
        !String::from_utf8_lossy(&wards.stderr).contains("ERROR"),
        "{}",
        String::from_utf8_lossy(&wards.stderr)
    );
}
