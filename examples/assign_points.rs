//! Assigns every point of a CSV to its ward and times only the assignment.
//!
//! ```sh
//! cargo run --release --example assign_points -- WARDS.geojson[.gz] ID_FIELD POINTS.csv
//! ```
//!
//! `POINTS.csv` has a header and the columns `id,lon,lat` (as `benches/compare/make_data.py`
//! writes them). The wards are loaded with [`hotspots::wards::load_geojson`] and built into a
//! [`WardSet`]; the points are read into memory; then one loop calls [`WardSet::locate`] for every
//! point and keeps the result, and only that loop is timed. Prints
//! `assigned N of M points in X s (Y points/s)`, then `ward_counts {…}`: a JSON object of points
//! per ward code (sorted by code, plus `"none"` for points in no ward), which
//! `benches/compare/wards.sh` compares with PostGIS and geopandas.

use hotspots::ingest::csv::open_input;
use hotspots::wards::{WardFields, WardSet, load_geojson};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [wards_path, id_field, points_path] = args.as_slice() else {
        eprintln!("usage: assign_points WARDS.geojson[.gz] ID_FIELD POINTS.csv");
        std::process::exit(2);
    };

    let started = Instant::now();
    let mut text = String::new();
    open_input(&PathBuf::from(wards_path))
        .and_then(|mut r| r.read_to_string(&mut text))
        .expect("reading the ward file");
    let fields = WardFields {
        id: (id_field != "-").then(|| id_field.clone()),
        name: None,
        population: None,
    };
    let wards = WardSet::new(load_geojson(&text, &fields).expect("a ward FeatureCollection"))
        .expect("valid wards");
    let wards_s = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let mut reader = csv::Reader::from_path(points_path).expect("opening the points CSV");
    let headers = reader.headers().expect("a header row").clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("the points CSV has no {name:?} column"))
    };
    let (lon_ix, lat_ix) = (column("lon"), column("lat"));
    let mut points: Vec<(f64, f64)> = Vec::with_capacity(1_000_000);
    let mut record = csv::StringRecord::new();
    while reader.read_record(&mut record).expect("a CSV record") {
        let number = |i: usize| -> f64 {
            record
                .get(i)
                .and_then(|v| v.trim().parse().ok())
                .expect("a number in lon/lat")
        };
        points.push((number(lon_ix), number(lat_ix)));
    }
    let read_s = started.elapsed().as_secs_f64();
    eprintln!(
        "loaded {} wards in {wards_s:.3} s and {} points in {read_s:.3} s",
        wards.len(),
        points.len()
    );

    // The timed part: one ward index (or none) per point, kept in a vector as a store would.
    let started = Instant::now();
    let assigned: Vec<Option<u16>> = points
        .iter()
        .map(|&(lon, lat)| wards.locate(lon, lat))
        .collect();
    let seconds = started.elapsed().as_secs_f64();
    let assigned = std::hint::black_box(assigned);

    let found = assigned.iter().filter(|a| a.is_some()).count();
    println!(
        "assigned {found} of {} points in {seconds:.4} s ({:.0} points/s)",
        points.len(),
        points.len() as f64 / seconds
    );
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for a in &assigned {
        let code = a.map_or("none", |ix| wards.get(ix).code.as_str());
        *counts.entry(code.to_string()).or_default() += 1;
    }
    println!(
        "ward_counts {}",
        serde_json::to_string(&counts).expect("counts as JSON")
    );
}
