//! Real 311 exports imported end to end (parse, validate, assign wards, store, index) into both
//! stores, as `hotspots import` does, and read back the way a GIS user would (psql, the API).

mod common;

use common::oracle::RawWards;
use hotspots::import::{ImportOptions, ImportSummary, import_csv};
use hotspots::ingest::csv::open_input;
use hotspots::ingest::mapping::Mapping;
use hotspots::ingest::profile::{city_zone, derive_profile};
use hotspots::model::ReportId;
use hotspots::service::Hotspots;
use hotspots::store::{GeoPackageStore, Store};
use hotspots::wards::{WardFields, load_geojson};
use sqlx::Connection;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

common::harness::tests! {
    chicago_wards_agree_with_the_citys_own_column_in_a_geopackage:
        [Need::Data(CHICAGO_WARDS), Need::Data(CHICAGO)],
    chicago_into_postgis_matches_what_psql_counts:
        [Need::Postgis, Need::Data(CHICAGO_WARDS), Need::Data(CHICAGO)],
    boston_imports_every_row_with_coordinates_once: [Need::Data(BOSTON)],
    broken_rows_are_reported_by_line_and_the_good_ones_stored_or_none_with_strict,
}

/// A file under `../shared/data`; the runner has checked that it exists (list it as
/// `Need::Data` of the test).
fn shared(relative: &str) -> PathBuf {
    let path = common::harness::shared_data(relative);
    assert!(path.exists(), "{} is missing", path.display());
    path
}

const CHICAGO_WARDS: &str = "chicago-311-potholes-2018/chicago_wards_2015-2023.geojson.gz";
const CHICAGO: &str = "chicago-311-potholes-2018/potholes_2018-12.csv.gz";
const BOSTON: &str = "boston-311-animal-2013-2023/boston_311_animal_2013-2023.csv.gz";

/// A service over `store` with a profile made from `file`, and (optionally) wards loaded.
async fn city(
    store: Arc<dyn Store>,
    file: &Path,
    mapping: &Mapping,
    wards: Option<(&Path, &str)>,
) -> Hotspots {
    let profile = derive_profile(
        open_input(file).expect("input"),
        mapping,
        "test",
        "Test city",
        city_zone(mapping, None).0,
    )
    .expect("profile");
    let app = Hotspots::open(store, profile).await.expect("service");
    if let Some((path, id_field)) = wards {
        let mut text = String::new();
        open_input(path)
            .expect("wards")
            .read_to_string(&mut text)
            .expect("read");
        let fields = WardFields {
            id: Some(id_field.into()),
            name: None,
            population: None,
        };
        app.replace_wards(load_geojson(&text, &fields).expect("ward file"))
            .await
            .expect("wards stored");
    }
    app
}

async fn gpkg(dir: &tempfile::TempDir) -> Arc<dyn Store> {
    Arc::new(
        GeoPackageStore::open(&dir.path().join("city.gpkg"))
            .await
            .expect("GeoPackage"),
    )
}

async fn import(app: &Hotspots, file: &Path, mapping: &Mapping) -> ImportSummary {
    import_csv(app, file, mapping, &ImportOptions::default())
        .await
        .expect("import runs")
}

/// (rows, rows whose `latitude` and `longitude` are numbers), by a plain scan of the gzipped
/// CSV with the csv crate: the count the import must reach, found without the importer.
fn plain_count(path: &Path) -> (u64, u64) {
    let file = std::fs::File::open(path).expect("data file");
    let mut csv = csv::Reader::from_reader(flate2::read::MultiGzDecoder::new(file));
    let headers = csv.headers().expect("header").clone();
    let column = |name| headers.iter().position(|h| h == name).expect("column");
    let (lat, lon) = (column("latitude"), column("longitude"));
    let (mut rows, mut located) = (0, 0);
    for record in csv.records() {
        let record = record.expect("a CSV record");
        let number = |i: usize| record.get(i).is_some_and(|v| v.parse::<f64>().is_ok());
        rows += 1;
        located += u64::from(number(lat) && number(lon));
    }
    (rows, located)
}

fn check_chicago(s: &ImportSummary) {
    eprintln!("Chicago: {s:?}");
    let (rows, located) = plain_count(&shared(CHICAGO));
    assert_eq!((rows, located), (1007, 1006), "a plain scan of the export");
    assert_eq!(
        (s.read, s.stored, s.rejected),
        (rows, located, rows - located)
    );
    assert_eq!(s.rejected_by_reason.get("no_coordinates"), Some(&1));
    let agreement = s
        .ward_agreement
        .expect("the Chicago export has a ward column");
    assert_eq!(
        agreement.compared, 1006,
        "every row with coordinates is compared"
    );
    assert!(
        agreement.share >= 0.99,
        "ward agreement {:.4}",
        agreement.share
    );
}

async fn chicago_wards_agree_with_the_citys_own_column_in_a_geopackage() {
    let (wards, file) = (shared(CHICAGO_WARDS), shared(CHICAGO));
    let dir = tempfile::tempdir().expect("dir");
    let mapping = Mapping::preset("chicago").expect("preset");
    let app = city(
        gpkg(&dir).await,
        &file,
        &mapping,
        Some((&wards, "District_N")),
    )
    .await;
    check_chicago(&import(&app, &file, &mapping).await);
    assert_eq!(app.snapshot().len(), 1006);
    // Each stored ward against an even-odd ray cast over the raw GeoJSON, not our locator.
    let oracle = chicago_wards_oracle(&wards);
    let stored = app
        .store()
        .get_reports(&(1..=2000).collect::<Vec<ReportId>>())
        .await
        .expect("reports");
    assert_eq!(stored.len(), 1006);
    let wrong: Vec<_> = stored
        .iter()
        .filter(|r| r.ward.as_deref() != oracle.ward_of(r.lon, r.lat))
        .map(|r| (r.id, r.lon, r.lat, &r.ward, oracle.ward_of(r.lon, r.lat)))
        .collect();
    assert!(wrong.is_empty(), "stored ward ≠ ray cast: {wrong:?}");
    // 6 of the 1006 points lie outside every 2015–2023 ward (the ray cast agrees, above).
    let located = stored.iter().filter(|r| r.ward.is_some()).count();
    assert_eq!(located, 1000, "reports inside a ward");
    // What any SQLite client counts in the file.
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(dir.path().join("city.gpkg"))
        .read_only(true);
    let mut file = sqlx::SqliteConnection::connect_with(&options)
        .await
        .expect("the GeoPackage opens read-only");
    let counted: (i64, i64) = sqlx::query_as("select count(*), count(ward) from report")
        .fetch_one(&mut file)
        .await
        .expect("counting in SQL");
    assert_eq!(counted, (1006, 1000));
}

/// Chicago's wards read straight from the export, ward code = `District_N`.
fn chicago_wards_oracle(path: &Path) -> RawWards {
    let mut text = String::new();
    open_input(path)
        .expect("wards")
        .read_to_string(&mut text)
        .expect("read");
    let json: serde_json::Value = serde_json::from_str(&text).expect("GeoJSON");
    RawWards::from_geojson(&json, |f| {
        let code = &f["properties"]["District_N"];
        code.as_str()
            .map_or_else(|| code.to_string(), str::to_string)
    })
}

async fn chicago_into_postgis_matches_what_psql_counts() {
    let (wards, file) = (shared(CHICAGO_WARDS), shared(CHICAGO));
    let test = "chicago_into_postgis";
    common::postgis::with_store(test, async |store| {
        let mapping = Mapping::preset("chicago").expect("preset");
        let app = city(Arc::new(store.clone()), &file, &mapping, Some((&wards, "District_N"))).await;
        let summary = import(&app, &file, &mapping).await;
        check_chicago(&summary);
        // What a GIS user sees in psql.
        let schema = common::postgis::schema_name(test);
        let sql = format!("set search_path to {schema}, public; select count(*), bool_and(st_isvalid(geom)) from report");
        let out = std::process::Command::new("psql")
            .args([&common::postgis::database_url(), "-tA", "-c", &sql])
            .output()
            .expect("psql runs");
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(text.trim().lines().last(), Some(format!("{}|t", summary.stored).as_str()), "{text}");
        // Every report's ward as PostGIS sees it: its ward covers it, and a report without one
        // lies in no ward.
        let sql = format!(
            "set search_path to {schema}, public; \
             select count(*) filter (where r.ward is not null), \
               count(*) filter (where r.ward is not null and not exists \
                 (select 1 from ward w where w.code = r.ward and st_covers(w.geom, r.geom))), \
               count(*) filter (where r.ward is null and exists \
                 (select 1 from ward w where st_contains(w.geom, r.geom))) \
             from report r"
        );
        let out = std::process::Command::new("psql")
            .args([&common::postgis::database_url(), "-tA", "-c", &sql])
            .output()
            .expect("psql runs");
        let text = String::from_utf8_lossy(&out.stdout);
        let counts: Vec<u64> = text
            .trim()
            .lines()
            .last()
            .map(|l| l.split('|').filter_map(|n| n.parse().ok()).collect())
            .unwrap_or_default();
        assert_eq!(counts.len(), 3, "{text}{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(counts[0], 1000, "reports with a ward");
        assert_eq!((counts[1], counts[2]), (0, 0), "wards PostGIS disagrees with (wrong, missed)");
    })
    .await;
}

async fn boston_imports_every_row_with_coordinates_once() {
    let file = shared(BOSTON);
    let dir = tempfile::tempdir().expect("dir");
    let mapping = Mapping::preset("boston").expect("preset");
    let app = city(gpkg(&dir).await, &file, &mapping, None).await;
    let first = import(&app, &file, &mapping).await;
    eprintln!(
        "Boston: read {}, stored {}, rejected {:?}",
        first.read, first.stored, first.rejected_by_reason
    );
    let (rows, located) = plain_count(&file);
    assert_eq!(
        (rows, located),
        (62_165, 62_075),
        "a plain scan of the export"
    );
    assert_eq!((first.read, first.stored), (rows, located));
    assert_eq!(
        first.rejected_by_reason.keys().copied().collect::<Vec<_>>(),
        vec!["no_coordinates"]
    );
    assert_eq!(first.stored + first.rejected, 62_165);
    assert_eq!(first.stored, 62_075, "every row with coordinates is stored");
    let again = import(&app, &file, &mapping).await;
    assert_eq!(
        (again.stored, again.duplicates),
        (0, 62_075),
        "re-import stores nothing new"
    );
    assert_eq!(app.store().count_reports().await.expect("count"), 62_075);
    // Wards as the city wrote them ("Ward 8", "08", "0", "") end up as plain numbers or nothing.
    let reports = app
        .store()
        .get_reports(&(1..=2000).collect::<Vec<_>>())
        .await
        .expect("reports");
    for r in &reports {
        if let Some(w) = r.attributes.get("source_ward").and_then(|w| w.as_str()) {
            assert!(
                w.parse::<u32>().is_ok_and(|n| (1..=22).contains(&n)),
                "ward {w:?}"
            );
        }
    }
}

const BROKEN: &str = "\
creation_date,status,completion_date,service_request_number,type_of_service_request,street_address,ward,latitude,longitude,location
2018-12-18T00:00:00.000,Open,,SR-1,Pothole in Street,1 A ST,24,41.85,-87.70,
2018-12-32T00:00:00.000,Open,,SR-2,Pothole in Street,2 A ST,24,41.85,-87.70,
2018-12-18T00:00:00.000,Open,,SR-3,Pothole in Street,3 A ST,24,abc,-87.70,
2018-12-18T00:00:00.000,Open,,SR-4,,4 A ST,24,41.85,-87.70,
2018-12-18T00:00:00.000,Open,,SR-5,Pothole in Street,5 A ST,24,41.85
2018-12-17T00:00:00.000,Completed,2018-12-18T00:00:00.000,SR-6,Pothole in Street,6 A ST,25,41.86,-87.71,
";

async fn broken_rows_are_reported_by_line_and_the_good_ones_stored_or_none_with_strict() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("broken.csv");
    std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(BROKEN.as_bytes()))
        .expect("write");
    let mapping = Mapping::preset("chicago").expect("preset");
    let zone = chrono_tz::America::Chicago;
    let profile =
        derive_profile(BROKEN.as_bytes(), &mapping, "chi", "Chicago", zone).expect("profile");
    let store = gpkg(&dir).await;
    let app = Hotspots::open(store.clone(), profile)
        .await
        .expect("service");

    let strict = import_csv(
        &app,
        &path,
        &mapping,
        &ImportOptions {
            strict: true,
            ..ImportOptions::default()
        },
    )
    .await
    .expect("import");
    assert!(strict.nothing_stored_because_strict);
    assert_eq!(
        (strict.stored, store.count_reports().await.expect("count")),
        (0, 0)
    );

    let s = import(&app, &path, &mapping).await;
    let lines: Vec<(u64, &str)> = s.rejections.iter().map(|r| (r.line, r.reason)).collect();
    assert_eq!(
        lines,
        vec![
            (3, "bad_date"),
            (4, "bad_coordinates"),
            (5, "missing_category"),
            (6, "wrong_column_count")
        ]
    );
    assert_eq!((s.read, s.stored, s.rejected), (6, 2, 4));
    assert_eq!(store.count_reports().await.expect("count"), 2);
}
