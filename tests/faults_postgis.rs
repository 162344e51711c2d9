//! Faults on PostGIS: hostile values that PostgreSQL keeps in a form we could not read back, a
//! stored row that cannot be read, and the database going away or freezing while the API serves.
//!
//! The outage is real: the store talks to PostgreSQL through a TCP proxy in this test, which is
//! cut (new connections refused, open ones closed) or frozen (nothing relayed) and then restored.
//! Needs the PostGIS test database (see `common/postgis.rs`).

mod common;
mod support;

common::harness::tests! {
    the_big_number_post_is_refused_and_numbers_in_range_read_back: [Need::Postgis],
    an_unreadable_row_fails_no_page: [Need::Postgis],
    times_out_of_range_are_422_as_on_the_geopackage: [Need::Postgis],
    a_database_outage_fails_fast_and_recovers: [Need::Postgis],
}

use axum::Router;
use axum::http::HeaderMap;
use hotspots::config::CityProfile;
use hotspots::service::Hotspots;
use hotspots::store::{PostgisStore, Store};
use serde_json::{Value, json};
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Sends a request through the router; returns status, headers and the JSON body.
async fn send(
    router: &Router,
    method: &str,
    uri: &str,
    body: Option<Value>,
) -> (u16, HeaderMap, Value) {
    let body = body.map(|b| b.to_string());
    let (status, headers, json) = support::send(router, method, uri, body.as_deref()).await;
    (status.as_u16(), headers, json)
}

/// The service over `store`, with the demo city's wards and `reports` of its reports.
async fn city_on(store: PostgisStore, reports: usize) -> Arc<Hotspots> {
    let app = Hotspots::open(Arc::new(store), CityProfile::hue())
        .await
        .expect("service opens");
    let city = hotspots::demo::generate(&CityProfile::hue());
    app.replace_wards(city.wards).await.expect("wards stored");
    let reports: Vec<_> = city.reports.into_iter().take(reports).collect();
    app.submit_batch(reports).await.expect("reports stored");
    Arc::new(app)
}

/// A connection to the test database with `schema` first on the search path.
async fn sql_in(schema: &str) -> PgConnection {
    let mut conn = PgConnection::connect(&common::postgis::database_url())
        .await
        .expect("connecting to the test database");
    sqlx::raw_sql(AssertSqlSafe(format!("set search_path = {schema}, public")))
        .execute(&mut conn)
        .await
        .expect("search path");
    conn
}

const BIG: &str = r#"{"category":"garbage","lon":107.6111,"lat":16.4711,"attributes":{"n":1.7976931348623157e308}}"#;

/// The POST that used to break reads for good: refused by name, nothing stored. Numbers inside
/// the bound are stored and read back.
async fn the_big_number_post_is_refused_and_numbers_in_range_read_back() {
    let test = "big_number_post";
    common::postgis::with_store(test, async |store: &PostgisStore| {
        let app = city_on(store.clone(), 20).await;
        let router = hotspots::api::app(app.clone());
        let big: Value = serde_json::from_str(BIG).expect("JSON");
        let (status, _, err) = send(&router, "POST", "/api/v1/reports", Some(big)).await;
        assert_eq!(
            (status, support::error_field(&err)),
            (422, "attributes"),
            "{err}"
        );
        assert_eq!(store.count_reports().await.expect("count"), 20);

        let attributes = json!({
            "max": 1e300, "min": -1e300, "tiny": 1e-300, "u64": u64::MAX, "i64": i64::MIN,
            "tenth": 0.1, "nested": [{"x": 123456789.125}]
        });
        let body = json!({"category": "garbage", "lon": 107.6111, "lat": 16.4711,
            "attributes": attributes});
        let (status, _, made) = send(&router, "POST", "/api/v1/reports", Some(body)).await;
        assert_eq!(status, 201, "{made}");
        let id = made["id"].as_i64().expect("id");
        let (status, _, got) = send(&router, "GET", &format!("/api/v1/reports/{id}"), None).await;
        assert_eq!(status, 200, "{got}");
        let back = &got["properties"]["attributes"];
        for key in ["u64", "i64", "tenth", "max", "min", "nested"] {
            assert_eq!(back[key], attributes[key], "{key}: {back}");
        }
        let tiny = back["tiny"].as_f64().expect("tiny reads back as a number");
        assert!((tiny / 1e-300 - 1.0).abs() < 1e-9, "{tiny}");
    })
    .await;
}

/// A row that cannot be read (here: a number written into the table directly, as the old code
/// let through) is left out of pages and nearby answers, listed as unreadable; reading it alone
/// is a 500 with an error id and no SQL.
async fn an_unreadable_row_fails_no_page() {
    let test = "unreadable_row";
    common::postgis::with_store(test, async |store: &PostgisStore| {
        let app = city_on(store.clone(), 30).await;
        let router = hotspots::api::app(app.clone());
        let body = json!({"category": "garbage", "lon": 107.6111, "lat": 16.4711});
        let (_, _, made) = send(&router, "POST", "/api/v1/reports", Some(body)).await;
        let bad = made["id"].as_i64().expect("id");
        let mut sql = sql_in(&common::postgis::schema_name(test)).await;
        sqlx::query(
            "update report set attributes = '{\"n\": 1.7976931348623157e308}' where id = $1",
        )
        .bind(bad)
        .execute(&mut sql)
        .await
        .expect("corrupting one row");

        let (status, _, page) = send(&router, "GET", "/api/v1/reports?limit=1000", None).await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["unreadable"], json!([bad]), "{}", page["unreadable"]);
        let ids: Vec<i64> = page["features"]
            .as_array()
            .expect("features")
            .iter()
            .map(|f| f["id"].as_i64().expect("id"))
            .collect();
        assert_eq!(ids.len(), 30);
        assert!(!ids.contains(&bad));

        let (status, _, near) = send(
            &router,
            "GET",
            "/api/v1/reports/nearby?lon=107.6111&lat=16.4711&radius_m=5000&limit=500",
            None,
        )
        .await;
        assert_eq!(
            (status, &near["unreadable"]),
            (200, &json!([bad])),
            "{near}"
        );
        // The bad row was the nearest; every other report keeps its own distance (they used to be
        // paired by position, so each took the distance of the one before). Checked against an
        // equirectangular distance computed here from the feature's own coordinates.
        let (lon0, lat0) = (107.6111_f64, 16.4711_f64);
        let metres_per_degree = 6_371_008.8 * std::f64::consts::PI / 180.0;
        let features = near["features"].as_array().expect("features");
        assert!(features.len() >= 5, "{near}");
        for f in features {
            let lon = f["geometry"]["coordinates"][0].as_f64().expect("lon");
            let lat = f["geometry"]["coordinates"][1].as_f64().expect("lat");
            let dx = (lon - lon0) * lat0.to_radians().cos() * metres_per_degree;
            let dy = (lat - lat0) * metres_per_degree;
            let expected = dx.hypot(dy);
            let served = f["properties"]["distance_m"].as_f64().expect("distance");
            assert!(
                (served - expected).abs() <= 1.0 + expected * 0.002,
                "{served} vs {expected}: {f}"
            );
        }

        let (status, _, err) = send(&router, "GET", &format!("/api/v1/reports/{bad}"), None).await;
        assert_eq!(status, 500, "{err}");
        let id = err["error"]["details"]["error_id"]
            .as_str()
            .expect("an error id");
        let text = err.to_string();
        assert!(
            text.contains(id) && !text.to_lowercase().contains("select"),
            "{text}"
        );
    })
    .await;
}

/// Year 0 was a 503 here and accepted by the GeoPackage; now both refuse it by name.
async fn times_out_of_range_are_422_as_on_the_geopackage() {
    let test = "times_out_of_range";
    common::postgis::with_store(test, async |store: &PostgisStore| {
        let app = city_on(store.clone(), 0).await;
        let router = hotspots::api::app(app);
        for at in [
            "0000-12-31T23:59:59Z",
            "1899-12-31T23:59:59Z",
            "9999-01-01T00:00:00Z",
        ] {
            let body =
                json!({"category": "garbage", "lon": 107.59, "lat": 16.46, "created_at": at});
            let (status, _, err) = send(&router, "POST", "/api/v1/reports", Some(body)).await;
            assert_eq!(
                (status, support::error_field(&err)),
                (422, "created_at"),
                "{at}: {err}"
            );
        }
        assert_eq!(store.count_reports().await.expect("count"), 0);
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// The outage

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Link {
    Up,
    /// Nothing listens: new connections are refused, open ones closed, as when the server stops.
    Cut,
    /// Connections are accepted and kept, but nothing passes, as when the server hangs.
    Frozen,
}

/// A TCP proxy from a local port to PostgreSQL whose link the test switches.
struct Proxy {
    addr: SocketAddr,
    link: watch::Sender<Link>,
}

impl Proxy {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (link, _) = watch::channel(Link::Up);
        let watch_link = link.subscribe();
        tokio::spawn(Self::run(listener, addr, upstream, watch_link));
        Self { addr, link }
    }

    fn set(&self, link: Link) {
        self.link.send_replace(link);
    }

    /// Listens while the link is not cut; relays each connection while it is up.
    async fn run(
        mut listener: TcpListener,
        addr: SocketAddr,
        upstream: String,
        mut link: watch::Receiver<Link>,
    ) {
        loop {
            let current = *link.borrow_and_update();
            if current == Link::Cut {
                drop(listener);
                if link.wait_for(|l| *l != Link::Cut).await.is_err() {
                    return;
                }
                listener = TcpListener::bind(addr)
                    .await
                    .expect("rebinding the proxy port");
                continue;
            }
            tokio::select! {
                accepted = listener.accept() => {
                    if let Ok((client, _)) = accepted {
                        tokio::spawn(Self::relay(client, upstream.clone(), link.clone()));
                    }
                }
                _ = link.changed() => {}
            }
        }
    }

    async fn relay(mut client: TcpStream, upstream: String, mut link: watch::Receiver<Link>) {
        if *link.borrow() == Link::Frozen {
            // Held without a word until the link changes, then dropped.
            let _ = link.changed().await;
            return;
        }
        let Ok(mut server) = TcpStream::connect(&upstream).await else {
            return;
        };
        let stopped = tokio::select! {
            _ = tokio::io::copy_bidirectional(&mut client, &mut server) => None,
            // Cut or frozen: stop relaying.
            changed = link.wait_for(|l| *l != Link::Up) => changed.ok().map(|l| *l),
        };
        // Frozen connections stay open, silent, until the link changes again.
        if stopped == Some(Link::Frozen) {
            let _ = link.changed().await;
        }
    }
}

/// `postgres://user@host:port/db…` → (`host:port`, the same URL through `proxy`).
fn through(url: &str, proxy: SocketAddr) -> Option<(String, String)> {
    let start = url.find('@')? + 1;
    let end = start + url[start..].find('/')?;
    let upstream = url[start..end].to_string();
    let upstream = if upstream.contains(':') {
        upstream
    } else {
        format!("{upstream}:5432")
    };
    Some((upstream, format!("{}{proxy}{}", &url[..start], &url[end..])))
}

/// Runs `request` and returns its status, headers, body and how long it took.
async fn timed(
    router: &Router,
    method: &str,
    uri: &str,
    body: Option<Value>,
) -> (u16, HeaderMap, Value, Duration) {
    let started = Instant::now();
    let (s, h, b) = tokio::time::timeout(Duration::from_secs(20), send(router, method, uri, body))
        .await
        .unwrap_or_else(|_| panic!("{method} {uri} hung for 20 s"));
    (s, h, b, started.elapsed())
}

async fn assert_fails_fast(
    router: &Router,
    method: &str,
    uri: &str,
    body: Option<Value>,
    within: Duration,
) {
    let (status, headers, err, took) = timed(router, method, uri, body).await;
    assert_eq!(status, 503, "{method} {uri}: {err}");
    assert!(
        headers.contains_key("retry-after"),
        "{method} {uri}: no Retry-After"
    );
    assert!(took <= within, "{method} {uri} took {took:?}");
}

/// With the database cut or frozen: writes and reads of stored rows fail fast with 503 and
/// `Retry-After` (no write queues behind another), `/readyz` says so at once, and what the index
/// can answer (wards with counts, nearby ids) still answers. When the link comes back, so does
/// the service, by itself.
async fn a_database_outage_fails_fast_and_recovers() {
    let test = "database_outage";
    common::postgis::with_store(test, async |_direct: &PostgisStore| {
        let url = common::postgis::database_url();
        let placeholder: SocketAddr = "127.0.0.1:9".parse().expect("addr");
        let Some((upstream, _)) = through(&url, placeholder) else {
            panic!("cannot put a proxy in front of {url}: expected postgres://user@host:port/db");
        };
        let proxy = Proxy::start(upstream).await;
        let (_, proxied) = through(&url, proxy.addr).expect("proxied URL");
        let store = PostgisStore::connect_schema(&proxied, &common::postgis::schema_name(test))
            .await
            .expect("store through the proxy");
        let app = city_on(store, 50).await;
        let router = hotspots::api::app(app.clone());
        let some_id = app.snapshot().entries().next().expect("a report").id;
        let post = || Some(json!({"category": "garbage", "lon": 107.59, "lat": 16.46}));
        let (status, _, _) = send(&router, "POST", "/api/v1/reports", post()).await;
        assert_eq!(status, 201);

        for link in [Link::Cut, Link::Frozen] {
            proxy.set(link);
            let fast = Duration::from_millis(3500);
            assert_fails_fast(&router, "GET", "/readyz", None, Duration::from_secs(2)).await;
            assert_fails_fast(&router, "POST", "/api/v1/reports", post(), fast).await;
            assert_fails_fast(
                &router,
                "GET",
                &format!("/api/v1/reports/{some_id}"),
                None,
                fast,
            )
            .await;
            // Five writes at once: none waits for the others' time-outs.
            let started = Instant::now();
            let writes: Vec<_> = (0..5)
                .map(|_| {
                    let router = router.clone();
                    tokio::spawn(
                        async move { timed(&router, "POST", "/api/v1/reports", post()).await },
                    )
                })
                .collect();
            for w in writes {
                let (status, headers, _, _) = w.await.expect("write task");
                assert_eq!(status, 503);
                assert!(headers.contains_key("retry-after"));
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{link:?}: {:?}",
                started.elapsed()
            );

            // What the index knows still answers.
            let (status, _, wards, took) = timed(&router, "GET", "/api/v1/wards", None).await;
            assert_eq!(status, 200, "{wards}");
            assert!(took < Duration::from_secs(1));
            let counted: u64 = wards["features"]
                .as_array()
                .expect("wards")
                .iter()
                .map(|w| w["properties"]["report_count"].as_u64().expect("count"))
                .sum::<u64>()
                + wards["reports_outside_wards"].as_u64().expect("outside");
            assert_eq!(counted, 51);
            let (status, near_headers, near, took) = timed(
                &router,
                "GET",
                "/api/v1/reports/nearby?lon=107.59&lat=16.46&radius_m=5000&limit=10",
                None,
            )
            .await;
            assert_eq!(status, 200, "{near}");
            assert!(near_headers.get("etag").is_none(), "{near_headers:?}");
            assert!(took < Duration::from_millis(3500), "{took:?}");
            let features = near["features"].as_array().expect("features");
            assert!(
                !features.is_empty() && near["partial"].is_string(),
                "{near}"
            );
            assert!(
                features
                    .iter()
                    .all(|f| f["id"].is_i64() && f["properties"]["distance_m"].is_f64())
            );
            // A page of the list the same way: the newest five, from the index.
            let (status, page_headers, page, _) =
                timed(&router, "GET", "/api/v1/reports?limit=5", None).await;
            assert_eq!(status, 200, "{page}");
            // Less than its data version promises: no tag, so no client keeps it as whole.
            assert!(page_headers.get("etag").is_none(), "{page_headers:?}");
            let ids: Vec<i64> = page["features"]
                .as_array()
                .expect("features")
                .iter()
                .map(|f| f["id"].as_i64().expect("id"))
                .collect();
            assert_eq!(ids.len(), 5, "{page}");
            assert!(
                page["partial"].is_string() && !page["next_cursor"].is_null(),
                "{page}"
            );
        }

        proxy.set(Link::Up);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let (status, _, body) = send(&router, "POST", "/api/v1/reports", post()).await;
            if status == 201 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no recovery after the link came back: {body}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let (status, _, ready) = send(&router, "GET", "/readyz", None).await;
        assert_eq!(status, 200, "{ready}");
        app.store().close().await;
    })
    .await;
}
