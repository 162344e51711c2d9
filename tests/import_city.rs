//! A new city's export imported as a planner would: a made-up German city's file
//! (tests/fixtures/berlin_311_*.csv, see the README there) with no id column, UTC times written
//! without an offset and German category names, for a city in Europe/Berlin.

mod common;
mod support;

use hotspots::import::{
    ImportError, ImportSummary, ReportsRequest, import_reports, load_mapping, saved,
};
use hotspots::service::Hotspots;
use hotspots::store::{GeoPackageStore, Store};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use support::{call, error_field};

common::harness::tests! {
    a_utc_file_for_a_berlin_city_stores_true_instants_and_days_are_cut_in_berlin,
    a_file_without_zones_is_read_in_the_city_zone_and_a_profile_is_still_made,
    reimport_without_an_id_column_is_idempotent_in_a_geopackage,
    reimport_without_an_id_column_is_idempotent_in_postgis: [Need::Postgis],
    categories_are_listed_with_names_and_every_filter_takes_a_code_or_a_name,
    a_later_file_adds_its_new_category_and_flags_points_outside_the_city,
    a_later_geojson_file_adds_its_new_category_too,
    the_saved_profile_exports_imports_and_old_profiles_still_read,
    a_csv_without_a_mapping_is_refused_with_the_presets,
    a_geopackage_made_before_the_flag_column_gets_it_on_open,
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

const FIRST: &str = "berlin_311_utc.csv";
const LATER: &str = "berlin_311_later.csv";

async fn gpkg(dir: &tempfile::TempDir) -> Arc<dyn Store> {
    Arc::new(
        GeoPackageStore::open(&dir.path().join("city.gpkg"))
            .await
            .expect("GeoPackage"),
    )
}

/// `hotspots import reports FILE --mapping tests/fixtures/berlin.toml` into `store`.
async fn import(store: &Arc<dyn Store>, file: &str) -> ImportSummary {
    let mapping = load_mapping(&fixture("berlin.toml").display().to_string()).expect("mapping");
    let path = fixture(file);
    let request = ReportsRequest {
        mapping: Some(&mapping),
        city: Some("Berlin".into()),
        ..ReportsRequest::new(&path)
    };
    let outcome = import_reports(store.clone(), &request)
        .await
        .expect("import runs");
    eprintln!("{}", outcome.summary.to_text());
    outcome.summary
}

/// The service `hotspots serve` would run on `store`: its saved profile.
async fn serve(store: &Arc<dyn Store>) -> axum::Router {
    let profile = saved::choose(Some(store.as_ref()), None)
        .await
        .expect("saved profile");
    let app = Hotspots::open(store.clone(), profile)
        .await
        .expect("service");
    hotspots::api::app(Arc::new(app))
}

fn descriptions(body: &Value) -> BTreeSet<String> {
    body["features"]
        .as_array()
        .expect("features")
        .iter()
        .map(|f| {
            f["properties"]["description"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

async fn a_utc_file_for_a_berlin_city_stores_true_instants_and_days_are_cut_in_berlin() {
    let dir = tempfile::tempdir().expect("dir");
    let store = gpkg(&dir).await;
    let s = import(&store, FIRST).await;
    assert_eq!((s.read, s.stored, s.rejected), (8, 7, 0));
    assert_eq!(
        (s.file_time_zone.as_str(), s.file_time_zone_from_mapping),
        ("UTC", true)
    );
    let profile = saved::saved(store.as_ref())
        .await
        .expect("read")
        .expect("saved");
    assert_eq!(profile.time_zone, chrono_tz::Europe::Berlin);

    let r = serve(&store).await;
    // Line 3 says 2024-05-31 22:30:00 in a UTC file: that instant, 00:30 on 1 June in Berlin.
    let (_, day) = call(
        &r,
        "GET",
        "/api/v1/reports?from=2024-06-01&to=2024-06-02",
        None,
    )
    .await;
    let matratze = day["features"]
        .as_array()
        .expect("features")
        .iter()
        .find(|f| f["properties"]["description"] == "Matratze im Grünstreifen")
        .expect("the report of 00:30 Berlin time is in Berlin's 1 June");
    assert_eq!(matratze["properties"]["created_at"], "2024-05-31T22:30:00Z");
    // Berlin's 1 June is 2024-05-31T22:00Z .. 2024-06-01T22:00Z: lines 3, 4 and 5, not line 6
    // (22:30 UTC on 1 June, already 2 June in Berlin), which UTC's day would hold instead.
    let expected: BTreeSet<String> = [
        "Matratze im Grünstreifen",
        "Tiefes Schlagloch",
        "Abgesackter Gehweg",
    ]
    .map(String::from)
    .into();
    assert_eq!(descriptions(&day), expected);
}

async fn a_file_without_zones_is_read_in_the_city_zone_and_a_profile_is_still_made() {
    let dir = tempfile::tempdir().expect("dir");
    let store = gpkg(&dir).await;
    let text = std::fs::read_to_string(fixture("berlin.toml")).expect("mapping");
    let bare = text
        .replace("file_time_zone = \"UTC\"\n", "")
        .replace("city_time_zone = \"Europe/Berlin\"\n", "");
    let mapping = hotspots::ingest::mapping::Mapping::from_toml(&bare).expect("valid");
    let path = fixture(FIRST);
    let request = ReportsRequest {
        mapping: Some(&mapping),
        time_zone: Some(chrono_tz::Europe::Berlin),
        ..ReportsRequest::new(&path)
    };
    let outcome = import_reports(store.clone(), &request)
        .await
        .expect("no 'a derived profile needs one'");
    let s = outcome.summary;
    assert_eq!(s.stored, 7);
    // Without file_time_zone the file is read in the city's zone (here from --time-zone).
    assert_eq!(
        (s.file_time_zone.as_str(), s.file_time_zone_from_mapping),
        ("Europe/Berlin", false)
    );
    assert!(
        s.to_text().contains("set file_time_zone"),
        "{}",
        s.to_text()
    );
    assert!(
        outcome.notes[0].contains("Europe/Berlin"),
        "{:?}",
        outcome.notes
    );
}

async fn import_twice_stores_nothing_the_second_time(store: Arc<dyn Store>) {
    let first = import(&store, FIRST).await;
    assert!(first.content_keys);
    assert!(
        first.to_text().contains("no id column is mapped"),
        "{}",
        first.to_text()
    );
    // Line 9 repeats line 2 in every mapped field: one report.
    assert_eq!((first.stored, first.duplicates), (7, 1));
    let again = import(&store, FIRST).await;
    assert_eq!((again.read, again.stored, again.duplicates), (8, 0, 8));
    assert_eq!(store.count_reports().await.expect("count"), 7);
}

async fn reimport_without_an_id_column_is_idempotent_in_a_geopackage() {
    let dir = tempfile::tempdir().expect("dir");
    import_twice_stores_nothing_the_second_time(gpkg(&dir).await).await;
}

async fn reimport_without_an_id_column_is_idempotent_in_postgis() {
    common::postgis::with_store("reimport_without_id", async |store| {
        import_twice_stores_nothing_the_second_time(Arc::new(store.clone())).await;
    })
    .await;
}

async fn categories_are_listed_with_names_and_every_filter_takes_a_code_or_a_name() {
    let dir = tempfile::tempdir().expect("dir");
    let store = gpkg(&dir).await;
    import(&store, FIRST).await;
    let r = serve(&store).await;
    let (status, body) = call(&r, "GET", "/api/v1/categories", None).await;
    assert_eq!(status, 200, "{body}");
    let categories = body["categories"].as_array().expect("categories");
    let codes: Vec<&str> = categories
        .iter()
        .filter_map(|c| c["code"].as_str())
        .collect();
    assert_eq!(
        codes,
        [
            "defekte-strassenbeleuchtung",
            "gruenflaechen",
            "strassenschaeden",
            "wilder-muell"
        ]
    );
    let muell = &categories[3];
    assert_eq!(muell["names"], serde_json::json!({"de": "Wilder Müll"}));
    assert_eq!(
        (
            muell["report_count"].as_u64(),
            muell["deadline_hours"].as_u64()
        ),
        (Some(3), Some(72))
    );

    // The code, the name, the name in capitals, with a decomposed ü, and as a slug.
    for word in [
        "wilder-muell",
        "Wilder%20M%C3%BCll",
        "WILDER%20M%C3%9CLL",
        "Wilder%20Mu%CC%88ll",
        "Wilder-M%C3%BCll",
    ] {
        let (status, list) =
            call(&r, "GET", &format!("/api/v1/reports?category={word}"), None).await;
        assert_eq!(status, 200, "{word}: {list}");
        let got: Vec<&str> = list["features"]
            .as_array()
            .expect("features")
            .iter()
            .filter_map(|f| f["properties"]["category"].as_str())
            .collect();
        assert_eq!(got, ["wilder-muell"; 3], "{word}");
        let (status, near) = call(
            &r,
            "GET",
            &format!("/api/v1/reports/nearby?lon=13.418&lat=52.501&radius_m=5000&category={word}"),
            None,
        )
        .await;
        assert_eq!(
            (status.as_u16(), near["features"].as_array().map(Vec::len)),
            (200, Some(3)),
            "{word}"
        );
    }

    // Unknown words: 422 naming the field and listing the valid codes, on every route.
    let post = r#"{"category": "Sperrmüll", "lon": 13.42, "lat": 52.50, "created_at": "2024-06-03T10:00:00Z"}"#;
    for (method, uri, body) in [
        ("GET", "/api/v1/reports?category=Sperrm%C3%BCll", None),
        (
            "GET",
            "/api/v1/reports/nearby?lon=13.42&lat=52.5&category=Sperrm%C3%BCll",
            None,
        ),
        ("POST", "/api/v1/reports", Some(post)),
    ] {
        let (status, err) = call(&r, method, uri, body).await;
        assert_eq!(
            (status.as_u16(), error_field(&err)),
            (422, "category"),
            "{uri}: {err}"
        );
        let message = err["error"]["message"].as_str().unwrap_or("");
        assert!(
            message.contains(
                "defekte-strassenbeleuchtung, gruenflaechen, strassenschaeden, wilder-muell"
            ),
            "{uri}: {message}"
        );
    }

    // A submission may name its category in German; it is stored by code.
    let post = post.replace("Sperrmüll", "Straßenschäden");
    let (status, created) = call(&r, "POST", "/api/v1/reports", Some(&post)).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        created["report"]["properties"]["category"],
        "strassenschaeden"
    );
    assert_eq!(created["report"]["properties"]["outside_bounds"], false);
}

async fn a_later_file_adds_its_new_category_and_flags_points_outside_the_city() {
    let dir = tempfile::tempdir().expect("dir");
    let store = gpkg(&dir).await;
    import(&store, FIRST).await;
    let s = import(&store, LATER).await;
    assert_eq!((s.read, s.stored, s.rejected), (4, 4, 0));
    let added: Vec<(&str, &str, u64, u64)> = s
        .new_categories
        .iter()
        .map(|c| (c.code.as_str(), c.name.as_str(), c.first_line, c.rows))
        .collect();
    assert_eq!(added, [("sperrmuell", "Sperrmüll", 3, 2)]);
    let text = s.to_text();
    assert!(text.contains("warning: 1 new categories joined"), "{text}");
    // Line 4 is in Hamburg: stored, flagged, and listed by line.
    assert_eq!(
        (s.outside_bounds, s.outside_bounds_lines.as_slice()),
        (1, &[4][..])
    );
    assert!(text.contains("    lines 4\n"), "{text}");

    let profile = saved::saved(store.as_ref())
        .await
        .expect("read")
        .expect("saved");
    let sperr = profile
        .resolve_category("SPERRMÜLL")
        .expect("joined the saved profile");
    assert_eq!((sperr.deadline_hours, sperr.name("de")), (72, "Sperrmüll"));

    let r = serve(&store).await;
    let (_, flagged) = call(&r, "GET", "/api/v1/reports?outside_bounds=true", None).await;
    let features = flagged["features"].as_array().expect("features");
    assert_eq!(features.len(), 1, "{flagged}");
    assert_eq!(features[0]["properties"]["address"], "Mönckebergstraße 1");
    assert_eq!(features[0]["properties"]["outside_bounds"], true);
    let (_, inside) = call(&r, "GET", "/api/v1/reports?outside_bounds=false", None).await;
    assert_eq!(inside["features"].as_array().map(Vec::len), Some(10));
    // (Which 4xx a malformed query gets is the query extractor's rule, not this test's.)
    let (status, _) = call(&r, "GET", "/api/v1/reports?outside_bounds=maybe", None).await;
    assert!(status.is_client_error(), "{status}");

    // With --strict a new category is refused instead, and nothing of the file is stored.
    let third = dir.path().join("third.csv");
    std::fs::write(
        &third,
        "Kategorie,Gemeldet,Erledigt,Beschreibung,Adresse,Breite,Länge\n\
         Graffiti,2024-06-12 08:00:00,,Schmiererei,Adalbertstraße 1,52.5000,13.4200\n",
    )
    .expect("write");
    let mapping = load_mapping(&fixture("berlin.toml").display().to_string()).expect("mapping");
    let request = ReportsRequest {
        mapping: Some(&mapping),
        strict: true,
        ..ReportsRequest::new(&third)
    };
    let strict = import_reports(store.clone(), &request)
        .await
        .expect("runs")
        .summary;
    assert!(strict.nothing_stored_because_strict);
    assert_eq!(strict.rejections[0].reason, "unknown_category");
    assert!(
        strict.rejections[0].message.contains("sperrmuell"),
        "{:?}",
        strict.rejections
    );
    assert_eq!(store.count_reports().await.expect("count"), 11);
}

async fn a_later_geojson_file_adds_its_new_category_too() {
    let dir = tempfile::tempdir().expect("dir");
    let store = gpkg(&dir).await;
    import(&store, FIRST).await;
    let path = dir.path().join("later.geojson");
    let feature = |category: &str, lon: f64| {
        serde_json::json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, 52.5]},
            "properties": {"category": category, "created_at": "2024-06-12T08:00:00Z"}})
    };
    let collection = serde_json::json!({"type": "FeatureCollection", "features": [
        feature("Wilder Müll", 13.42), feature("Sperrmüll", 13.421), feature("SPERRMÜLL", 13.422)
    ]});
    std::fs::write(&path, collection.to_string()).expect("write");
    let mapping = load_mapping(&fixture("berlin.toml").display().to_string()).expect("mapping");
    let request = ReportsRequest {
        mapping: Some(&mapping),
        ..ReportsRequest::new(&path)
    };
    let s = import_reports(store.clone(), &request)
        .await
        .expect("runs")
        .summary;
    assert_eq!((s.stored, s.rejected), (3, 0), "{}", s.to_text());
    let added: Vec<(&str, &str, u64)> = s
        .new_categories
        .iter()
        .map(|c| (c.code.as_str(), c.language.as_str(), c.rows))
        .collect();
    assert_eq!(added, [("sperrmuell", "de", 2)]);
    let profile = saved::saved(store.as_ref())
        .await
        .expect("read")
        .expect("saved");
    assert!(profile.category("sperrmuell").is_some());
}

async fn the_saved_profile_exports_imports_and_old_profiles_still_read() {
    let dir = tempfile::tempdir().expect("dir");
    let store = gpkg(&dir).await;
    assert!(matches!(
        saved::export(store.as_ref()).await,
        Err(saved::ProfileError::NoneSaved)
    ));
    import(&store, FIRST).await;
    let text = saved::export(store.as_ref()).await.expect("saved");
    let edited = text.replace("deadline_hours = 72", "deadline_hours = 24");
    assert_ne!(edited, text);
    saved::import(store.as_ref(), &edited).await.expect("valid");
    let profile = saved::choose(Some(store.as_ref()), None)
        .await
        .expect("profile");
    assert!(profile.categories.iter().all(|c| c.deadline_hours == 24));
    assert!(saved::import(store.as_ref(), "code = 1").await.is_err());

    // A profile saved before names were per language.
    let old = hotspots::config::HUE_PROFILE_TOML.replace(
        "names = { vi = \"Ngập úng\", en = \"Flooding\" }",
        "name_vi = \"Ngập úng\"\nname_en = \"Flooding\"",
    );
    assert!(old.contains("name_vi"));
    store
        .save_setting(saved::PROFILE_SETTING, &old)
        .await
        .expect("saved");
    let read = saved::saved(store.as_ref())
        .await
        .expect("readable")
        .expect("saved");
    assert_eq!(
        read.resolve_category("Ngập úng")
            .map(|c| c.code.as_str())
            .ok(),
        Some("flooding")
    );
}

async fn a_csv_without_a_mapping_is_refused_with_the_presets() {
    let dir = tempfile::tempdir().expect("dir");
    let store = gpkg(&dir).await;
    let path = fixture(FIRST);
    let err = import_reports(store.clone(), &ReportsRequest::new(&path))
        .await
        .expect_err("no mapping");
    assert!(matches!(err, ImportError::NoMapping));
    assert!(err.to_string().contains("chicago, boston, nyc"), "{err}");
    assert_eq!(store.count_reports().await.expect("count"), 0);
    // And from the command line.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hotspots"))
        .arg("--db")
        .arg(dir.path().join("cli.gpkg"))
        .args(["import", "reports"])
        .arg(&path)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("chicago, boston, nyc"),
        "{stderr}"
    );
}

async fn a_geopackage_made_before_the_flag_column_gets_it_on_open() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("old.gpkg");
    let store = GeoPackageStore::open(&path).await.expect("new file");
    store.close().await;
    let url = format!("sqlite://{}", path.display());
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
        .await
        .expect("sqlite");
    sqlx::query("alter table report drop column outside_bounds")
        .execute(&mut conn)
        .await
        .expect("made the old way");
    // A file without the column is one at schema version 3 (see store/geopackage/schema.rs).
    sqlx::query("update hotspots_setting set value = '3' where key = 'schema_version'")
        .execute(&mut conn)
        .await
        .expect("made the old way");
    drop(conn);
    let store: Arc<dyn Store> = Arc::new(GeoPackageStore::open(&path).await.expect("reopens"));
    let s = import(&store, LATER).await;
    // The profile made from this file holds all its points, so none is flagged.
    assert_eq!((s.stored, s.outside_bounds), (4, 0));
    let flagged = store.get_reports(&[1, 2, 3, 4]).await.expect("read back");
    assert_eq!(flagged.len(), 4);
}
