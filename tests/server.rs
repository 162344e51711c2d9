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
    idle_connections_cannot_starve_the_server,
    a_slow_header_client_is_dropped_after_the_timeout,
    a_stalled_body_is_408_and_an_oversized_declared_body_413_at_once,
    protocol_errors_are_answered_and_the_server_goes_on,
    shutdown_finishes_within_its_deadline_with_a_slow_client_connected,
    a_taken_address_says_how_to_choose_another,
    a_client_past_the_connection_limit_waits_for_a_free_slot,
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

// ---------------------------------------------------------------------------------------------
// Limits of the serving loop (`hotspots::api::serve_with`), over real sockets.

use hotspots::api::ServerLimits;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A server with `limits`, stopped by sending on the returned channel.
async fn start_limited(
    app: std::sync::Arc<hotspots::service::Hotspots>,
    limits: ServerLimits,
) -> (
    SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        hotspots::api::serve_with(app, listener, limits, async {
            let _ = stopped.await;
        })
        .await
        .expect("serve");
    });
    (addr, stop, task)
}

fn limits(header_timeout_ms: u64) -> ServerLimits {
    ServerLimits {
        max_connections: 1000,
        header_timeout: Duration::from_millis(header_timeout_ms),
        body_timeout: Duration::from_secs(1),
        shutdown_deadline: Duration::from_secs(1),
    }
}

/// Everything the server sends until it closes the connection, or `None` if it is still open
/// at the deadline.
async fn read_to_close(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let mut out = Vec::new();
    let read = tokio::time::timeout(within, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok()
        .map(|()| String::from_utf8_lossy(&out).into_owned())
}

/// The status code and JSON body of a raw HTTP/1.1 answer.
fn parse_answer(text: &str) -> (u16, Value) {
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// The soft limit on open files, raised towards the hard one with `prlimit` (util-linux) when it
/// is low: no `unsafe` needed.
fn open_file_limit() -> u64 {
    let read = || -> Option<(u64, String)> {
        let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
        let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
        let mut numbers = line.split_whitespace().skip(3);
        let soft = numbers.next()?.parse().ok()?;
        Some((soft, numbers.next()?.to_string()))
    };
    let Some((soft, hard)) = read() else {
        return 1024;
    };
    if soft < 4096 {
        let _ = Command::new("prlimit")
            .args(["--pid", &std::process::id().to_string()])
            .arg(format!(
                "--nofile={}:{hard}",
                hard.parse::<u64>().map_or(4096, |h| h.min(4096))
            ))
            .output();
    }
    read().map_or(soft, |(s, _)| s)
}

/// 1,100 idle sockets used to exhaust the file limit and stop /healthz for good. Now idle
/// connections are closed after the header timeout, at most `max_connections` are open at once,
/// and /healthz answers.
async fn idle_connections_cannot_starve_the_server() {
    let city = demo_city(0).await;
    // Two descriptors per connection in this process (client and server side), plus slack.
    let idle = (open_file_limit().saturating_sub(200) / 2).min(1100) as usize;
    let limits = ServerLimits {
        max_connections: idle.saturating_sub(100).max(10),
        ..limits(1000)
    };
    let (addr, _stop, _task) = start_limited(city.app.clone(), limits).await;
    let mut held = Vec::with_capacity(idle);
    for _ in 0..idle {
        held.push(TcpStream::connect(addr).await.expect("connect"));
    }
    let client = reqwest::Client::new();
    let started = Instant::now();
    let health = tokio::time::timeout(
        Duration::from_secs(15),
        client.get(format!("http://{addr}/healthz")).send(),
    )
    .await
    .expect("/healthz answers within 15 s while idle clients hold sockets")
    .expect("answer");
    assert_eq!(health.status(), 200);
    eprintln!(
        "{idle} idle connections: /healthz answered in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // And the idle clients were closed by the server.
    let first = held.first_mut().expect("a held connection");
    assert!(read_to_close(first, Duration::from_secs(5)).await.is_some());
}

async fn a_slow_header_client_is_dropped_after_the_timeout() {
    let city = demo_city(0).await;
    let (addr, _stop, _task) = start_limited(city.app.clone(), limits(500)).await;
    let mut slow = TcpStream::connect(addr).await.expect("connect");
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let started = Instant::now();
    let closed = read_to_close(&mut slow, Duration::from_secs(5)).await;
    assert!(
        closed.is_some(),
        "a client that never finished its headers is still connected"
    );
    assert!(started.elapsed() >= Duration::from_millis(300));

    // A keep-alive connection idle after its request is closed the same way.
    let mut idle = TcpStream::connect(addr).await.expect("connect");
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let answer = read_to_close(&mut idle, Duration::from_secs(5))
        .await
        .expect("the idle keep-alive connection is closed");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

async fn a_stalled_body_is_408_and_an_oversized_declared_body_413_at_once() {
    let city = demo_city(0).await;
    let (addr, _stop, _task) = start_limited(city.app.clone(), limits(5000)).await;
    let mut stalled = TcpStream::connect(addr).await.expect("connect");
    stalled
        .write_all(
            b"POST /api/v1/reports HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n\
              content-length: 100\r\n\r\n{\"category\"",
        )
        .await
        .expect("write");
    let answer = read_to_close(&mut stalled, Duration::from_secs(5))
        .await
        .expect("answered and closed");
    let (status, body) = parse_answer(&answer);
    assert_eq!(
        (status, &body["error"]["code"]),
        (408, &Value::from("request_timeout"))
    );

    // 50 MiB declared, with and without `Expect: 100-continue`: 413 before a byte is sent.
    for expect in ["", "expect: 100-continue\r\n"] {
        let mut huge = TcpStream::connect(addr).await.expect("connect");
        let head = format!(
            "POST /api/v1/reports HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n\
             content-length: {}\r\n{expect}\r\n",
            50 << 20
        );
        huge.write_all(head.as_bytes()).await.expect("write");
        let answer = read_to_close(&mut huge, Duration::from_secs(3))
            .await
            .expect("answered and closed without reading the body");
        let (status, body) = parse_answer(&answer);
        assert_eq!(status, 413, "{answer}");
        assert_eq!(body["error"]["code"], "payload_too_large");
        assert!(!answer.contains("100 Continue"), "{answer}");
    }
}

async fn protocol_errors_are_answered_and_the_server_goes_on() {
    let city = demo_city(0).await;
    let (addr, _stop, _task) = start_limited(city.app.clone(), limits(5000)).await;
    // A head over the API's limit (but within hyper's buffer): the API's own JSON 431.
    let mut big = TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nx-filler: {}\r\n\r\n",
        "a".repeat(hotspots::api::HEAD_LIMIT_BYTES)
    );
    big.write_all(head.as_bytes()).await.expect("write");
    let mut buf = vec![0u8; 8192];
    let n = tokio::time::timeout(Duration::from_secs(3), big.read(&mut buf))
        .await
        .expect("answered")
        .expect("read");
    let (status, body) = parse_answer(&String::from_utf8_lossy(&buf[..n]));
    assert_eq!(
        (status, &body["error"]["code"]),
        (431, &Value::from("header_too_large"))
    );

    // A request hyper cannot parse: hyper answers 400 itself (it offers no hook for the body)
    // and closes the connection.
    let mut garbage = TcpStream::connect(addr).await.expect("connect");
    garbage
        .write_all(b"GARBAGE / \x01\x02\r\n\r\n")
        .await
        .expect("write");
    let answer = read_to_close(&mut garbage, Duration::from_secs(3))
        .await
        .expect("closed");
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 400"),
        "{answer}"
    );

    let health = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .expect("still serving");
    assert_eq!(health.status(), 200);
}

/// SIGTERM never finished while one slow client was connected. Now the shutdown ends within
/// its deadline, whatever the client does.
async fn shutdown_finishes_within_its_deadline_with_a_slow_client_connected() {
    let city = demo_city(0).await;
    // Header timeout far beyond the deadline: only the deadline can end the slow client.
    let (addr, stop, task) = start_limited(city.app.clone(), limits(60_000)).await;
    let mut slow = TcpStream::connect(addr).await.expect("connect");
    slow.write_all(b"POST /api/v1/reports HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    // Make sure the server has the connection before asking it to stop.
    let health = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .expect("serving");
    assert_eq!(health.status(), 200);
    let started = Instant::now();
    stop.send(()).expect("server running");
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the server stops within 5 s (deadline 1 s)")
        .expect("serve ends cleanly");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(
        read_to_close(&mut slow, Duration::from_secs(2))
            .await
            .is_some()
    );
}

/// `--bind` works before and after the subcommand, and a taken address says how to pick another.
async fn a_taken_address_says_how_to_choose_another() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("city.gpkg");
    let db = db.to_str().expect("utf-8 path");
    for args in [
        vec!["--bind", &addr, "--db", db, "serve"],
        vec!["serve", "--bind", &addr, "--db", db],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_hotspots"))
            .args(&args)
            .env_remove("HOTSPOTS_BIND")
            .env_remove("DATABASE_URL")
            .output()
            .expect("hotspots runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(
            stderr.contains(&addr) && stderr.contains("--bind") && stderr.contains("HOTSPOTS_BIND"),
            "{args:?}: {stderr}"
        );
    }
}

/// At the limit, a further client waits (in the listen backlog) until a connection closes.
async fn a_client_past_the_connection_limit_waits_for_a_free_slot() {
    let city = demo_city(0).await;
    let limits = ServerLimits {
        max_connections: 10,
        ..limits(3000)
    };
    let (addr, _stop, _task) = start_limited(city.app.clone(), limits).await;
    let mut held = Vec::new();
    for _ in 0..10 {
        held.push(TcpStream::connect(addr).await.expect("connect"));
    }
    let mut late = TcpStream::connect(addr)
        .await
        .expect("the kernel queues it");
    late.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nconnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut buf = [0u8; 1];
    let early = tokio::time::timeout(Duration::from_millis(1000), late.read(&mut buf)).await;
    assert!(
        early.is_err(),
        "an 11th connection was served while 10 were open"
    );
    // Closing one held connection frees a slot at once.
    held.pop();
    let answer = read_to_close(&mut late, Duration::from_secs(2))
        .await
        .expect("served once a slot was free");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}
