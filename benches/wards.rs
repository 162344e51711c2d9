//! Ward assignment throughput: points per second on one core.
//!
//! Target (issue 2): ≥ 5 million points/s against 30–50 wards with realistic vertex counts.
//! Run: `cargo bench --bench wards`. Uses Huế's 30 synthetic wards and, when `../shared/data` is
//! present, Chicago's 50 real ward polygons (about 25,000 vertices in all).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hotspots::config::CityProfile;
use hotspots::wards::{WardFields, WardSet, load_geojson};
use rand::{Rng, SeedableRng};
use std::hint::black_box;
use std::io::Read;

const POINTS: usize = 1_000_000;

fn points(set: &WardSet, rng: &mut rand_chacha::ChaCha8Rng) -> Vec<(f64, f64)> {
    let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for w in set.wards() {
        for c in w.geometry.iter().flat_map(|p| p.exterior().coords()) {
            (x0, y0, x1, y1) = (x0.min(c.x), y0.min(c.y), x1.max(c.x), y1.max(c.y));
        }
    }
    (0..POINTS)
        .map(|_| (rng.random_range(x0..x1), rng.random_range(y0..y1)))
        .collect()
}

fn chicago() -> Option<WardSet> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/data/chicago-311-potholes-2018/chicago_wards_2015-2023.geojson.gz"
    );
    let file = std::fs::File::open(path).ok()?;
    let mut text = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut text)
        .ok()?;
    let fields = WardFields {
        id: Some("District_N".into()),
        name: None,
        population: None,
    };
    WardSet::new(load_geojson(&text, &fields).ok()?).ok()
}

fn bench(c: &mut Criterion) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let hue =
        WardSet::new(hotspots::demo::generate(&CityProfile::hue()).wards).expect("demo wards");
    let mut sets = vec![("hue_30_synthetic", hue)];
    sets.extend(chicago().map(|s| ("chicago_50_real", s)));
    let mut group = c.benchmark_group("ward_assignment");
    group.throughput(Throughput::Elements(POINTS as u64));
    group.sample_size(20);
    for (name, set) in &sets {
        let vertices: usize = set
            .wards()
            .iter()
            .map(|w| {
                w.geometry
                    .iter()
                    .map(|p| p.exterior().0.len())
                    .sum::<usize>()
            })
            .sum();
        eprintln!(
            "{name}: {} wards, {vertices} vertices, {:.1} % of grid cells need a polygon test",
            set.len(),
            set.locator().mixed_share() * 100.0
        );
        let pts = points(set, &mut rng);
        group.bench_function(*name, |b| {
            b.iter(|| {
                pts.iter()
                    .filter(|(x, y)| set.locate(black_box(*x), black_box(*y)).is_some())
                    .count()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
