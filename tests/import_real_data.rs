//! CSV import against real city exports in `../shared/data` (see each folder's PROVENANCE.md),
//! plus a small inline file of broken rows.
//!
//! When the data folder is missing the real-data tests show as ignored (the line before the run
//! says which file is missing), except under `CI=true`, where they fail.

mod common;

use hotspots::config::CityProfile;
use hotspots::ingest::csv::{ParsedRow, RejectReason, RowError, open_input, read_reports};
use hotspots::ingest::mapping::Mapping;
use hotspots::ingest::profile::{city_zone, derive_profile};
use hotspots::wards::{WardFields, WardSet, load_geojson};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

const CHICAGO: &str = "chicago-311-potholes-2018/potholes_2018-12.csv.gz";
const CHICAGO_WARDS: &str = "chicago-311-potholes-2018/chicago_wards_2015-2023.geojson.gz";
const BOSTON: &str = "boston-311-animal-2013-2023/boston_311_animal_2013-2023.csv.gz";

common::harness::tests! {
    chicago_wards_from_points_agree_with_the_citys_own:
        [Need::Data(CHICAGO), Need::Data(CHICAGO_WARDS)],
    boston_reads_every_row_and_normalises_wards: [Need::Data(BOSTON)],
    broken_rows_are_reported_with_their_line_and_reason,
}

/// The path of a shared data file; the runner has checked that it exists (list it as
/// `Need::Data` of the test).
fn shared_data(relative: &str) -> PathBuf {
    let path = common::harness::shared_data(relative);
    assert!(path.exists(), "{} is missing", path.display());
    path
}

fn read_all(path: &Path) -> String {
    let mut text = String::new();
    open_input(path)
        .and_then(|mut r| r.read_to_string(&mut text))
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    text
}

fn parse(
    path: &Path,
    mapping: &Mapping,
    profile: &CityProfile,
) -> Vec<Result<ParsedRow, RowError>> {
    let input = open_input(path).expect("data file opens");
    read_reports(input, mapping, profile)
        .expect("header has the mapped columns")
        .collect()
}

fn derive(path: &Path, mapping: &Mapping, code: &str, name: &str) -> CityProfile {
    let input = open_input(path).expect("data file opens");
    let zone = city_zone(mapping, None).0;
    let profile = derive_profile(input, mapping, code, name, zone).expect("profile derivable");
    assert_eq!(
        CityProfile::from_toml(&profile.to_toml()).ok().as_ref(),
        Some(&profile)
    );
    profile
}

fn reject_counts(rows: &[Result<ParsedRow, RowError>]) -> BTreeMap<&'static str, usize> {
    let mut counts = BTreeMap::new();
    for e in rows.iter().filter_map(|r| r.as_ref().err()) {
        *counts.entry(e.reason.code()).or_insert(0) += 1;
    }
    counts
}

async fn chicago_wards_from_points_agree_with_the_citys_own() {
    let (csv, wards_file) = (shared_data(CHICAGO), shared_data(CHICAGO_WARDS));
    let fields = WardFields {
        id: Some("District_N".into()),
        name: None,
        population: None,
    };
    let wards =
        WardSet::new(load_geojson(&read_all(&wards_file), &fields).expect("ward file loads"))
            .expect("wards are valid");
    assert_eq!(wards.len(), 50);

    let mapping = Mapping::preset("chicago").expect("preset");
    let profile = derive(&csv, &mapping, "chicago", "Chicago");
    assert_eq!(profile.categories.len(), 1);
    let rows = parse(&csv, &mapping, &profile);
    let parsed: Vec<&ParsedRow> = rows.iter().filter_map(|r| r.as_ref().ok()).collect();
    // The city writes ward 0 for points outside every ward (normalised to none): a point that
    // falls in no polygon agrees with it.
    let (mut located, mut agree, mut agree_located) = (0, 0, 0);
    for row in &parsed {
        let ward = wards.locate_code(row.report.lon.get(), row.report.lat.get());
        let same = ward == row.source_ward.as_deref();
        located += usize::from(ward.is_some());
        agree += usize::from(same);
        agree_located += usize::from(same && ward.is_some());
    }
    let share = agree as f64 / parsed.len() as f64;
    eprintln!(
        "Chicago: {} rows, {} with coordinates, {located} inside a ward; the record's ward agrees \
         for {agree} = {:.2} % of rows with coordinates ({agree_located} of {located} located = \
         {:.2} %); rejected: {:?}",
        rows.len(),
        parsed.len(),
        share * 100.0,
        agree_located as f64 / located as f64 * 100.0,
        reject_counts(&rows)
    );
    assert_eq!(rows.len(), 1007);
    assert_eq!(parsed.len(), 1006);
    assert_eq!(
        reject_counts(&rows),
        BTreeMap::from([("no_coordinates", 1)])
    );
    assert!(share >= 0.99, "ward agreement {share}");
    assert!(
        parsed
            .iter()
            .all(|r| r.report.due_at.is_some() && r.report.agency.is_some())
    );
}

async fn boston_reads_every_row_and_normalises_wards() {
    let csv = shared_data(BOSTON);
    let mapping = Mapping::preset("boston").expect("preset");
    let profile = derive(&csv, &mapping, "boston", "Boston");
    let rows = parse(&csv, &mapping, &profile);
    let parsed: Vec<&ParsedRow> = rows.iter().filter_map(|r| r.as_ref().ok()).collect();
    let rejects = reject_counts(&rows);
    let mut wards: BTreeMap<Option<u32>, usize> = BTreeMap::new();
    for row in &parsed {
        let ward = row
            .source_ward
            .as_deref()
            .map(|w| w.parse::<u32>().expect("numeric ward"));
        *wards.entry(ward).or_insert(0) += 1;
    }
    let outside = parsed.iter().filter(|r| r.flags.outside_bounds).count();
    let clamped = parsed.iter().filter(|r| r.flags.times_clamped).count();
    eprintln!(
        "Boston: {} rows, {} parsed, rejected {rejects:?}; {outside} outside the derived bounds {:?}; \
         {clamped} closed a few seconds before opening (clamped); wards {wards:?}",
        rows.len(),
        parsed.len(),
        profile.bounds,
    );
    for c in &profile.categories {
        eprintln!(
            "  category {} ({}): {} h, agency {}",
            c.code,
            c.name("en"),
            c.deadline_hours,
            c.agency
        );
    }
    assert_eq!(rows.len(), 62_165);
    assert_eq!(
        rejects.keys().copied().collect::<Vec<_>>(),
        ["no_coordinates"]
    );
    assert!(
        (80..=100).contains(&rejects["no_coordinates"]),
        "{rejects:?}"
    );
    assert_eq!(parsed.len() + rejects["no_coordinates"], 62_165);
    assert!(
        wards.keys().flatten().all(|w| (1..=22).contains(w)),
        "{wards:?}"
    );
    assert_eq!(wards.keys().flatten().count(), 22);
    // Deadlines learnt from sla_target_dt: a dead animal is due in about a day and a half.
    assert_eq!(
        profile.category("dead-animal").map(|c| c.deadline_hours),
        Some(37)
    );
    assert_eq!(
        profile.category("dead-animal").map(|c| c.agency.as_str()),
        Some("public-works-department")
    );
    let first = parsed
        .iter()
        .find(|r| r.report.external_id.as_deref() == Some("101000729509"))
        .expect("first case");
    assert_eq!(
        first.report.created_at.to_rfc3339(),
        "2013-01-01T11:32:33+00:00"
    );
    assert_eq!(first.report.attributes["on_time"], "ONTIME");
    assert_eq!(first.source_ward.as_deref(), Some("14"));
}

async fn broken_rows_are_reported_with_their_line_and_reason() {
    // Line 1 is the header; line 6 holds a quoted description spanning two physical lines.
    let csv = "\
id,type,opened,closed,lat,lon,notes
1,Pothole,2024-03-01 08:00:00,,41.88,-87.63,ok
2,Pothole,2024-13-01 08:00:00,,41.88,-87.63,bad month
3,Pothole,2024-03-01 08:00:00,,abc,-87.63,bad latitude
4,,2024-03-01 08:00:00,,41.88,-87.63,no category
5,Pothole,2024-03-01 08:00:00,,41.88,-87.63,\"two
lines\"
6,Pothole,2024-03-01 08:00:00,41.88,-87.63,one field short
7,Pothole,2024-03-01 08:00:00,2024-02-01 08:00:00,41.88,-87.63,closed before opened
8,Pothole,2024-03-01 08:00:00,,0,0,placeholder point
9,Pothole,2024-03-01T08:00:00-06:00,2024-03-02,41.88,-87.63,ok
";
    let mapping = Mapping::from_toml(
        r#"
        source = "test-311"
        file_time_zone = "America/Chicago"
        [columns]
        external_id = "id"
        category = "type"
        created_at = "opened"
        resolved_at = "closed"
        [[coordinates]]
        kind = "lat_lon"
        lat = "lat"
        lon = "lon"
        [categories]
        Pothole = "pothole"
        "#,
    )
    .expect("valid mapping");
    let mut profile = CityProfile::hue();
    profile.time_zone = chrono_tz::America::Chicago;
    profile.bounds = hotspots::model::Bbox4326::new(-88.0, 41.6, -87.5, 42.1).expect("bounds");
    profile.categories[0].code = "pothole".into();
    let rows: Vec<_> = read_reports(csv.as_bytes(), &mapping, &profile)
        .expect("header")
        .collect();
    let outcome: Vec<(u64, Option<RejectReason>)> = rows
        .iter()
        .map(|r| match r {
            Ok(row) => (row.line, None),
            Err(e) => (e.line, Some(e.reason)),
        })
        .collect();
    use RejectReason::*;
    assert_eq!(
        outcome,
        [
            (2, None),
            (3, Some(BadDate)),
            (4, Some(BadCoordinates)),
            (5, Some(MissingCategory)),
            (6, None),
            (8, Some(WrongColumnCount)),
            (9, Some(DatesOutOfOrder)),
            (10, Some(NoCoordinates)),
            (11, None),
        ],
        "{rows:#?}"
    );
    let good: Vec<&ParsedRow> = rows.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(
        good[0].report.created_at.to_rfc3339(),
        "2024-03-01T14:00:00+00:00"
    );
    assert_eq!(good[0].report.attributes["notes"], "ok");
    assert_eq!(good[1].report.attributes["notes"], "two\nlines");
    assert_eq!(good[2].report.status, hotspots::model::Status::Resolved);
    assert!(
        rows[1]
            .as_ref()
            .expect_err("bad date")
            .message
            .contains("opened")
    );
}
