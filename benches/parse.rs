//! CSV parsing speed without a store: gunzip alone, the pass that derives a city profile, and the
//! pass that reads and validates every row, over the 1M-row Boston-layout file the side-by-side
//! benchmarks use (`python3 benches/compare/make_data.py` writes it).
//!
//! `cargo bench --bench parse [-- FILE]`. CPU seconds are this thread's (from /proc), so other
//! work on the machine does not inflate them as it does wall time.

use hotspots::ingest::csv::{open_input, read_reports};
use hotspots::ingest::mapping::Mapping;
use hotspots::ingest::profile::{city_zone, derive_profile};
use std::io::Read;
use std::time::Instant;

/// User + system CPU seconds of the calling thread (Linux), 0 elsewhere.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/thread-self/stat") else {
        return 0.0;
    };
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<f64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse().ok())
        .collect();
    fields.iter().sum::<f64>() / 100.0 // clock ticks of 10 ms
}

/// Runs `run`; returns its output, wall seconds and CPU seconds.
fn measure<T>(run: impl FnOnce() -> T) -> (T, f64, f64) {
    let (wall, cpu) = (Instant::now(), cpu_seconds());
    let out = run();
    (out, wall.elapsed().as_secs_f64(), cpu_seconds() - cpu)
}

fn report(what: &str, rows: u64, wall: f64, cpu: f64) {
    println!(
        "{what:<26} wall {wall:6.2} s  cpu {cpu:6.2} s  = {:5.2} cpu-s per million rows",
        cpu * 1e6 / rows.max(1) as f64
    );
}

fn main() {
    let path = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .unwrap_or_else(|| "target/compare/reports_1m.csv.gz".into());
    let path = std::path::Path::new(&path);
    if !path.exists() {
        eprintln!(
            "{} is missing: run `python3 benches/compare/make_data.py` first",
            path.display()
        );
        return;
    }
    let mapping = Mapping::preset("boston").expect("preset");
    let input = || open_input(path).expect("input opens");
    let (_, gunzip_wall, gunzip_cpu) = measure(|| {
        let mut buf = vec![0u8; 1 << 16];
        let mut r = input();
        while let Ok(1..) = r.read(&mut buf) {}
    });
    let zone = city_zone(&mapping, None).0;
    let (profile, derive_wall, derive_cpu) =
        measure(|| derive_profile(input(), &mapping, "boston", "Boston", zone).expect("profile"));
    let ((ok, bad), read_wall, read_cpu) = measure(|| {
        let (mut ok, mut bad) = (0u64, 0u64);
        for row in read_reports(input(), &mapping, &profile).expect("header") {
            match row {
                Ok(_) => ok += 1,
                Err(_) => bad += 1,
            }
        }
        (ok, bad)
    });
    let rows = ok + bad;
    println!(
        "{} rows ({ok} read, {bad} rejected) of {}",
        rows,
        path.display()
    );
    report("gunzip alone", rows, gunzip_wall, gunzip_cpu);
    report("derive profile (pass 1)", rows, derive_wall, derive_cpu);
    report("read + validate (pass 2)", rows, read_wall, read_cpu);
}
