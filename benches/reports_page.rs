//! A million reports: start-up (index ready, resident memory) and the first page of
//! `GET /api/v1/reports?ward=…` through the real router and GeoPackage store.
//!
//! Targets: first page ≤ 10 ms (issue 2); index ready ≤ 3 s and ≤ 300 MB resident (issue 3).
//! Run: `cargo bench --bench reports_page`. The 1M-report GeoPackage is built once into
//! `target/bench-1m.gpkg` (its build time and rate are printed: the GeoPackage import rate).

use axum::body::Body;
use axum::http::Request;
use criterion::{Criterion, criterion_group, criterion_main};
use hotspots::config::CityProfile;
use hotspots::service::Hotspots;
use hotspots::store::GeoPackageStore;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use tower::ServiceExt;

const REPORTS: usize = 1_000_000;

fn resident_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

async fn build(path: &Path, profile: &CityProfile) {
    let mut big = profile.clone();
    if let Some(d) = big.demo.as_mut() {
        d.reports_per_day = REPORTS as f64 / f64::from(d.days);
    }
    let city = hotspots::demo::generate(&big);
    let store = GeoPackageStore::open(path).await.expect("open");
    let app = Hotspots::open(Arc::new(store.clone()), profile.clone())
        .await
        .expect("service");
    app.replace_wards(city.wards).await.expect("wards");
    let started = Instant::now();
    let n = city.reports.len();
    for chunk in city.reports.chunks(50_000) {
        app.submit_batch(chunk.to_vec()).await.expect("insert");
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "built {n} reports into the GeoPackage in {secs:.1} s = {:.0} rows/s (validated reports, ward assignment, index update)",
        n as f64 / secs
    );
    store.close().await;
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let profile = CityProfile::hue();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-1m.gpkg");
    if !path.exists() {
        rt.block_on(build(&path, &profile));
    }
    let before = resident_mb();
    let started = Instant::now();
    let app = rt.block_on(async {
        let store = GeoPackageStore::open(&path).await.expect("open");
        Arc::new(
            Hotspots::open(Arc::new(store), profile.clone())
                .await
                .expect("service"),
        )
    });
    eprintln!(
        "start-up: {} reports indexed in {:.2} s; resident memory {:.0} MB (was {before:.0} MB before opening)",
        app.snapshot().len(),
        started.elapsed().as_secs_f64(),
        resident_mb()
    );
    let router = hotspots::api::app(app.clone());
    let get = |uri: &'static str| {
        let router = router.clone();
        async move {
            let resp = router
                .oneshot(Request::get(uri).body(Body::empty()).expect("request"))
                .await
                .expect("response");
            assert_eq!(resp.status(), 200);
            axum::body::to_bytes(resp.into_body(), usize::MAX)
                .await
                .expect("body")
                .len()
        }
    };
    let mut group = c.benchmark_group("reports_1m");
    group.bench_function("first_page_ward_filter_http", |b| {
        b.to_async(&rt)
            .iter(|| get("/api/v1/reports?ward=phu-hoi&limit=100"))
    });
    group.bench_function("first_page_ward_and_category_http", |b| {
        b.to_async(&rt)
            .iter(|| get("/api/v1/reports?ward=vinh-ninh&category=flooding&limit=100"))
    });
    group.bench_function("nearby_100m_http", |b| {
        b.to_async(&rt)
            .iter(|| get("/api/v1/reports/nearby?lon=107.585&lat=16.465&radius_m=100"))
    });
    let snapshot = app.snapshot();
    let ward = snapshot.wards.index_of("phu-hoi");
    let filter = hotspots::index::ReportFilter {
        ward: Some(ward),
        ..Default::default()
    };
    group.bench_function("first_page_ward_filter_index_only", |b| {
        b.iter(|| snapshot.page(&filter, None, 100))
    });
    group.finish();
}

criterion_group! { name = benches; config = Criterion::default().sample_size(30); targets = bench }
criterion_main!(benches);
