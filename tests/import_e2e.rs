//! Real 311 exports imported end to end (parse, validate, assign wards, store, index) into both
//! stores, as `hotspots import` does, and read back the way a GIS user would (psql, the API).

mod common;

use hotspots::import::{ImportOptions, ImportSummary, import_csv};
use hotspots::ingest::csv::open_input;
use hotspots::ingest::mapping::Mapping;
use hotspots::ingest::profile::{city_zone, derive_profile};
use hotspots::service::Hotspots;
use hotspots::store::{GeoPackageStore, Store};
use hotspots::wards::{WardFields, load_geojson};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn shared(relative: &str) -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(relative);
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{} is missing",
        path.display()
    );
    eprintln!("\n*** SKIPPED: {} is missing ***\n", path.display());
    None
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

fn check_chicago(s: &ImportSummary) {
    eprintln!("Chicago: {s:?}");
    assert_eq!((s.read, s.stored, s.rejected), (1007, 1006, 1));
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

#[tokio::test]
async fn chicago_wards_agree_with_the_citys_own_column_in_a_geopackage() {
    let (Some(wards), Some(file)) = (shared(CHICAGO_WARDS), shared(CHICAGO)) else {
        return;
    };
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
}

#[tokio::test]
async fn chicago_into_postgis_matches_what_psql_counts() {
    let (Some(wards), Some(file)) = (shared(CHICAGO_WARDS), shared(CHICAGO)) else {
        return;
    };
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
    })
    .await;
}

#[tokio::test]
async fn boston_imports_every_row_with_coordinates_once() {
    let Some(file) = shared(BOSTON) else { return };
    let dir = tempfile::tempdir().expect("dir");
    let mapping = Mapping::preset("boston").expect("preset");
    let app = city(gpkg(&dir).await, &file, &mapping, None).await;
    let first = import(&app, &file, &mapping).await;
    eprintln!("Boston: {first:?}");
    assert_eq!(first.read, 62_165);
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

#[tokio::test]
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
