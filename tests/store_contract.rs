//! The storage contract, one suite held against both stores: each case is an `async fn` over
//! `&dyn Store`, run once on a fresh GeoPackage file (`geopackage::…`) and once in a fresh PostGIS
//! schema (`postgis::…`; see `common/postgis.rs` for the database it needs).
//!
//! Fixtures are made here: three small wards around Huế's centre (squares of 0.01°, one ward in
//! two parts with a hole) and reports built with the model's constructors.

mod common;
#[path = "store_contract/postgis_only.rs"]
mod postgis_only;
#[path = "store_contract/scan.rs"]
mod scan;

use chrono::{DateTime, TimeZone, Utc};
use common::harness::{Case, Need};
use geo_types::{LineString, MultiPolygon, Polygon};
use hotspots::model::{
    Lat, Lon, NewReport, RefusedChange, Report, ReportId, Satisfaction, Status, StatusChange, Ward,
};
use hotspots::store::{GeoPackageStore, Inserted, PostgisStore, ReportSummary, Store, StoreError};
use hotspots::wards::WardSet;
use scan::start_up_scan_hands_over_every_report_once;
use serde_json::json;
use std::time::Instant;

/// Registers each case twice, as `geopackage::NAME` and `postgis::NAME` (the latter needs the
/// PostGIS test database, see `common/harness.rs`), in `contract_cases()`.
macro_rules! contract {
    ($( $(#[ignore = $why:literal])? $name:ident ),* $(,)?) => {
        fn contract_cases() -> Vec<Case> {
            vec![$(
                Case::new(concat!("geopackage::", stringify!($name)), vec![], || {
                    on_geopackage(async |store: &dyn Store| $name(store).await)
                })
                $(.ignored($why))?,
                Case::new(concat!("postgis::", stringify!($name)), vec![Need::Postgis], || {
                    common::postgis::with_store(
                        stringify!($name),
                        async |store: &PostgisStore| $name(store).await,
                    )
                })
                $(.ignored($why))?,
            )*]
        }
    };
}

fn main() {
    let mut cases = contract_cases();
    cases.extend(postgis_only::cases());
    // Tests of one store or of neither, as in `common::harness::tests!`: `name` or
    // `name: [Need::Postgis]`.
    cases.extend(common::harness::cases![]);
    common::harness::run(
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/", file!())),
        cases,
    );
}

contract! {
    wards_round_trip,
    insert_returns_new_ids_in_input_order,
    reinsert_returns_the_original_ids_and_stores_nothing,
    in_batch_repeats_are_duplicates_of_the_first,
    get_reports_keeps_the_asked_order_and_skips_unknown_ids,
    every_field_round_trips_on_both_write_paths,
    reporter_contact_is_kept_apart,
    status_follows_the_workflow,
    replace_wards_reassigns_reports,
    summaries_match_reports,
    start_up_scan_hands_over_every_report_once,
    agency_and_satisfaction_change_without_a_status_move,
    every_write_raises_the_data_version,
    #[ignore = "slow: a million reports; run with --ignored to time bulk insert"]
    a_million_reports_in_one_batch,
}

async fn on_geopackage(body: impl AsyncFnOnce(&dyn Store)) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = GeoPackageStore::open(&dir.path().join("contract.gpkg"))
        .await
        .expect("opening a new GeoPackage");
    body(&store).await;
    store.close().await;
}

// ---------------------------------------------------------------------------------------------
// Fixtures

fn at(day: u32, hour: u32, minute: u32, millis: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, day, hour, minute, 7)
        .single()
        .expect("a valid March 2024 time")
        + chrono::Duration::milliseconds(millis)
}

fn square(lon: f64, lat: f64, size: f64) -> LineString<f64> {
    LineString::from(vec![
        (lon, lat),
        (lon + size, lat),
        (lon + size, lat + size),
        (lon, lat + size),
        (lon, lat),
    ])
}

fn ward(code: &str, name: &str, parts: Vec<Polygon<f64>>, population: Option<u64>) -> Ward {
    Ward {
        code: code.into(),
        name: name.into(),
        geometry: MultiPolygon(parts),
        area_km2: 0.0, // computed by WardSet::new
        population,
    }
}

/// Phú Hội and Vĩnh Ninh side by side; Thủy Biều in two parts, the larger with a hole.
fn hue_wards() -> Vec<Ward> {
    vec![
        ward(
            "phu_hoi",
            "Phú Hội",
            vec![Polygon::new(square(107.58, 16.46, 0.01), vec![])],
            Some(21_000),
        ),
        ward(
            "vinh_ninh",
            "Vĩnh Ninh",
            vec![Polygon::new(square(107.59, 16.46, 0.01), vec![])],
            Some(9_500),
        ),
        ward(
            "thuy_bieu",
            "Thủy Biều",
            vec![
                Polygon::new(
                    square(107.55, 16.44, 0.02),
                    vec![square(107.555, 16.445, 0.01)],
                ),
                Polygon::new(square(107.60, 16.44, 0.005), vec![]),
            ],
            None,
        ),
    ]
}

fn ward_set(wards: Vec<Ward>) -> WardSet {
    WardSet::new(wards).expect("valid fixture wards")
}

/// A received trash report from Hue-S with every optional field empty.
fn report(external_id: Option<&str>, lon: f64, lat: f64) -> NewReport {
    NewReport {
        source: "hue-s".into(),
        external_id: external_id.map(str::to_string),
        category: "trash".into(),
        description: None,
        lon: Lon::new(lon).expect("fixture longitude"),
        lat: Lat::new(lat).expect("fixture latitude"),
        address: None,
        ward: None,
        agency: None,
        status: Status::Received,
        created_at: at(1, 8, 30, 0),
        due_at: None,
        resolved_at: None,
        satisfaction: None,
        channel: None,
        reporter_contact: None,
        attributes: json!({}),
        outside_bounds: false,
    }
}

/// What the store should give back for `new` stored as `id`.
fn expected(id: ReportId, new: &NewReport) -> Report {
    Report {
        id,
        source: new.source.clone(),
        external_id: new.external_id.clone(),
        category: new.category.clone(),
        description: new.description.clone(),
        lon: new.lon.get(),
        lat: new.lat.get(),
        address: new.address.clone(),
        ward: new.ward.clone(),
        agency: new.agency.clone(),
        status: new.status,
        created_at: new.created_at,
        // A report that arrives resolved was last updated when it was resolved.
        updated_at: new.resolved_at.unwrap_or(new.created_at),
        due_at: new.due_at,
        resolved_at: new.resolved_at,
        satisfaction: new.satisfaction.map(Satisfaction::get),
        channel: new.channel.clone(),
        attributes: new.attributes.clone(),
        outside_bounds: new.outside_bounds,
    }
}

async fn insert_new(store: &dyn Store, batch: &[NewReport]) -> Vec<ReportId> {
    let out = store
        .insert_reports(batch)
        .await
        .expect("inserting reports");
    assert_eq!(out.len(), batch.len(), "one outcome per input");
    out.into_iter()
        .map(|o| match o {
            Inserted::New(id) => id,
            Inserted::Duplicate(id) => panic!("expected a new report, got a duplicate of {id}"),
        })
        .collect()
}

async fn count(store: &dyn Store) -> u64 {
    store.count_reports().await.expect("counting reports")
}

async fn one(store: &dyn Store, id: ReportId) -> Report {
    let mut got = store.get_reports(&[id]).await.expect("reading a report");
    assert_eq!(got.len(), 1, "report {id} should exist");
    got.remove(0)
}

fn change(status: Status, at: DateTime<Utc>) -> StatusChange {
    StatusChange {
        status: Some(status),
        at,
        agency: None,
        satisfaction: None,
    }
}

// ---------------------------------------------------------------------------------------------
// The contract

async fn wards_round_trip(store: &dyn Store) {
    assert!(store.wards().await.expect("reading wards").is_empty());
    let set = ward_set(hue_wards());
    assert_eq!(
        store.replace_wards(&set).await.expect("storing wards"),
        0,
        "no reports to move"
    );

    let stored = store.wards().await.expect("reading wards");
    assert_eq!(
        stored,
        set.wards(),
        "wards come back as given, in code order"
    );
    let phu_hoi = stored
        .iter()
        .find(|w| w.code == "phu_hoi")
        .expect("Phú Hội stored");
    assert_eq!(phu_hoi.name, "Phú Hội");
    assert_eq!(phu_hoi.population, Some(21_000));
    assert!(
        (1.1..1.3).contains(&phu_hoi.area_km2),
        "0.01° square ≈ 1.19 km², got {}",
        phu_hoi.area_km2
    );
    let thuy_bieu = stored
        .iter()
        .find(|w| w.code == "thuy_bieu")
        .expect("Thủy Biều stored");
    assert_eq!(thuy_bieu.name, "Thủy Biều");
    assert_eq!(thuy_bieu.population, None);
    assert_eq!(thuy_bieu.geometry.0.len(), 2);
    assert_eq!(
        thuy_bieu.geometry.0[0].interiors().len(),
        1,
        "the hole survives"
    );

    // Replacing drops the wards that are not in the new set.
    let fewer = ward_set(
        hue_wards()
            .into_iter()
            .filter(|w| w.code == "vinh_ninh")
            .collect(),
    );
    store.replace_wards(&fewer).await.expect("replacing wards");
    assert_eq!(store.wards().await.expect("reading wards"), fewer.wards());
}

async fn insert_returns_new_ids_in_input_order(store: &dyn Store) {
    assert_eq!(
        store.insert_reports(&[]).await.expect("an empty batch"),
        vec![]
    );
    let batch: Vec<NewReport> = (0..5)
        .map(|i| {
            report(
                Some(&format!("HUE-{i}")),
                107.581 + f64::from(i) * 0.001,
                16.465,
            )
        })
        .collect();
    let ids = insert_new(store, &batch).await;
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ids rise in input order: {ids:?}"
    );
    let got = store.get_reports(&ids).await.expect("reading reports");
    let got_ext: Vec<_> = got.iter().map(|r| r.external_id.clone()).collect();
    let want_ext: Vec<_> = batch.iter().map(|r| r.external_id.clone()).collect();
    assert_eq!(got_ext, want_ext);
    assert_eq!(count(store).await, 5);
}

async fn reinsert_returns_the_original_ids_and_stores_nothing(store: &dyn Store) {
    let a = report(Some("A"), 107.581, 16.461);
    let b = report(Some("B"), 107.582, 16.462);
    let c = report(Some("C"), 107.583, 16.463);
    let ids = insert_new(store, &[a.clone(), b.clone(), c.clone()]).await;

    let changed = |r: &NewReport| NewReport {
        description: Some("sent again".into()),
        ..r.clone()
    };
    let d = report(Some("D"), 107.584, 16.464);
    let again = store
        .insert_reports(&[changed(&c), changed(&a), d, changed(&b)])
        .await
        .expect("re-inserting");
    assert_eq!(again[0], Inserted::Duplicate(ids[2]));
    assert_eq!(again[1], Inserted::Duplicate(ids[0]));
    assert!(
        matches!(again[2], Inserted::New(id) if !ids.contains(&id)),
        "{again:?}"
    );
    assert_eq!(again[3], Inserted::Duplicate(ids[1]));
    assert_eq!(count(store).await, 4, "only D is new");
    assert_eq!(
        one(store, ids[0]).await.description,
        None,
        "the first copy is kept"
    );

    // The key is (source, external id): another source may reuse an id.
    let other_source = NewReport {
        source: "open311".into(),
        ..a.clone()
    };
    insert_new(store, &[other_source]).await;
    // Reports without an external id are never duplicates, even when identical.
    let anonymous = report(None, 107.585, 16.465);
    let two = insert_new(store, &[anonymous.clone(), anonymous]).await;
    assert_ne!(two[0], two[1]);
    assert_eq!(count(store).await, 7);
}

async fn in_batch_repeats_are_duplicates_of_the_first(store: &dyn Store) {
    let a = report(Some("A"), 107.581, 16.461);
    let second_a = NewReport {
        description: Some("second copy".into()),
        ..a.clone()
    };
    let b = report(Some("B"), 107.582, 16.462);
    let c = report(Some("C"), 107.583, 16.463);
    let out = store
        .insert_reports(&[a.clone(), b, second_a.clone(), c, second_a])
        .await
        .expect("inserting");
    let Inserted::New(a_id) = out[0] else {
        panic!("A is new: {out:?}")
    };
    assert!(matches!(out[1], Inserted::New(_)), "{out:?}");
    assert_eq!(out[2], Inserted::Duplicate(a_id));
    assert!(matches!(out[3], Inserted::New(_)), "{out:?}");
    assert_eq!(out[4], Inserted::Duplicate(a_id));
    assert_eq!(count(store).await, 3);
    assert_eq!(
        one(store, a_id).await.description,
        None,
        "the first occurrence is stored"
    );

    // A repeat of an already stored key, twice in one batch, points at the stored report.
    let e = report(Some("E"), 107.584, 16.464);
    let out = store
        .insert_reports(&[a.clone(), e.clone(), e, a])
        .await
        .expect("inserting");
    let Inserted::New(e_id) = out[1] else {
        panic!("E is new: {out:?}")
    };
    assert_eq!(
        out,
        vec![
            Inserted::Duplicate(a_id),
            Inserted::New(e_id),
            Inserted::Duplicate(e_id),
            Inserted::Duplicate(a_id)
        ]
    );
    assert_eq!(count(store).await, 4);
}

async fn get_reports_keeps_the_asked_order_and_skips_unknown_ids(store: &dyn Store) {
    let batch: Vec<NewReport> = (0..3)
        .map(|i| {
            report(
                Some(&format!("R{i}")),
                107.581,
                16.461 + f64::from(i) * 0.001,
            )
        })
        .collect();
    let ids = insert_new(store, &batch).await;
    let unknown = ids.iter().max().expect("three ids") + 1000;
    let got = store
        .get_reports(&[ids[2], unknown, ids[0]])
        .await
        .expect("reading reports");
    let got_ids: Vec<ReportId> = got.iter().map(|r| r.id).collect();
    assert_eq!(got_ids, vec![ids[2], ids[0]]);
    assert_eq!(got[0], expected(ids[2], &batch[2]));
    assert!(store.get_reports(&[]).await.expect("no ids").is_empty());
    assert!(
        store
            .get_reports(&[unknown])
            .await
            .expect("unknown id")
            .is_empty()
    );
}

/// A small batch and a large one (PostGIS stores them by different statements: an `insert` and a
/// `COPY`) keep every field alike.
async fn every_field_round_trips_on_both_write_paths(store: &dyn Store) {
    let full = NewReport {
        source: "open311".into(),
        external_id: Some("SR-2024-000123".into()),
        category: "pothole".into(),
        // Tab, newline, backslash and quotes: the characters bulk loaders must escape.
        description: Some("Ổ gà lớn\ttrước số 12\nLê Lợi \\ \"nguy hiểm\", 'gấp'\r\n".into()),
        lon: Lon::new(107.591_234_567_890_1).expect("lon"),
        lat: Lat::new(16.462_345_678_901_2).expect("lat"),
        address: Some("12 Lê Lợi, Phú Hội, Huế".into()),
        ward: Some("phu_hoi".into()),
        agency: Some("urban_works".into()),
        status: Status::Resolved,
        created_at: at(1, 1, 2, 456),
        due_at: Some(at(4, 1, 2, 456)),
        resolved_at: Some(at(2, 10, 0, 5)),
        satisfaction: Some(Satisfaction::new(4).expect("1..5")),
        channel: Some("app".into()),
        reporter_contact: Some("0905 123 456".into()),
        attributes: json!({
            "photos": ["a.jpg", "b.jpg"],
            "priority": 2,
            "ratio": 0.25,
            "nested": { "ok": true, "note": "Phường Phú Hội", "none": null }
        }),
        outside_bounds: true,
    };
    let bare = report(None, -0.000_001, -89.5);
    let ids = insert_new(store, &[full.clone(), bare.clone()]).await;
    let got = store.get_reports(&ids).await.expect("reading reports");
    assert_eq!(got, vec![expected(ids[0], &full), expected(ids[1], &bare)]);
    assert_eq!(
        store.reporter_contact(ids[0]).await.expect("contact"),
        full.reporter_contact
    );

    let large: Vec<NewReport> = (0..200)
        .map(|i| NewReport {
            external_id: Some(format!("SR-2024-{i:06}-large")),
            ..full.clone()
        })
        .chain([bare.clone()])
        .collect();
    let ids = insert_new(store, &large).await;
    let got = store.get_reports(&ids).await.expect("reading reports");
    let want: Vec<Report> = ids
        .iter()
        .zip(&large)
        .map(|(&id, r)| expected(id, r))
        .collect();
    assert_eq!(got, want);
    assert_eq!(
        store.reporter_contact(ids[7]).await.expect("contact"),
        full.reporter_contact
    );
}

async fn reporter_contact_is_kept_apart(store: &dyn Store) {
    let with = NewReport {
        reporter_contact: Some("0905 123 456".into()),
        ..report(Some("W"), 107.581, 16.461)
    };
    let without = report(Some("WO"), 107.582, 16.462);
    let ids = insert_new(store, &[with, without]).await;
    assert_eq!(
        store.reporter_contact(ids[0]).await.expect("contact"),
        Some("0905 123 456".into())
    );
    assert_eq!(
        store.reporter_contact(ids[1]).await.expect("no contact"),
        None
    );
    assert_eq!(
        store
            .reporter_contact(ids[1] + 1000)
            .await
            .expect("unknown report"),
        None
    );
    let public = serde_json::to_string(&one(store, ids[0]).await).expect("serialising a report");
    assert!(
        !public.contains("0905"),
        "a report's public form carries no contact: {public}"
    );
}

async fn status_follows_the_workflow(store: &dyn Store) {
    let id = insert_new(store, &[report(Some("S"), 107.581, 16.461)]).await[0];

    let assign = StatusChange {
        agency: Some("urban_works".into()),
        ..change(Status::Assigned, at(1, 9, 0, 250))
    };
    let assigned = store
        .update_status(id, &assign)
        .await
        .expect("received → assigned");
    assert_eq!(
        (assigned.status, assigned.agency.as_deref()),
        (Status::Assigned, Some("urban_works"))
    );
    assert_eq!(
        (assigned.updated_at, assigned.resolved_at),
        (at(1, 9, 0, 250), None)
    );

    let resolve = StatusChange {
        satisfaction: Some(Satisfaction::new(5).expect("1..5")),
        ..change(Status::Resolved, at(2, 14, 30, 999))
    };
    let resolved = store
        .update_status(id, &resolve)
        .await
        .expect("assigned → resolved");
    assert_eq!(resolved.status, Status::Resolved);
    assert_eq!(resolved.resolved_at, Some(at(2, 14, 30, 999)));
    assert_eq!(resolved.updated_at, at(2, 14, 30, 999));
    assert_eq!(resolved.satisfaction, Some(5));
    assert_eq!(
        resolved.agency.as_deref(),
        Some("urban_works"),
        "kept when the change names none"
    );
    assert_eq!(
        one(store, id).await,
        resolved,
        "the returned report is the stored one"
    );

    let illegal = store
        .update_status(id, &change(Status::Received, at(3, 8, 0, 0)))
        .await;
    match illegal {
        Err(StoreError::Refused(RefusedChange::IllegalMove { id: i, from, to })) => {
            assert_eq!((i, from, to), (id, Status::Resolved, Status::Received));
        }
        other => panic!("expected an illegal transition, got {other:?}"),
    }
    assert_eq!(
        one(store, id).await,
        resolved,
        "a refused change stores nothing"
    );

    let reopened = store
        .update_status(id, &change(Status::InProgress, at(3, 8, 0, 0)))
        .await
        .expect("reopening");
    assert_eq!(
        (reopened.status, reopened.resolved_at, reopened.satisfaction),
        (Status::InProgress, None, None),
        "reopening clears the resolution and its rating"
    );
    assert_eq!(one(store, id).await, reopened);

    let missing = id + 1000;
    let unknown = store
        .update_status(missing, &change(Status::Assigned, at(3, 9, 0, 0)))
        .await;
    assert!(
        matches!(unknown, Err(StoreError::NotFound(i)) if i == missing),
        "{unknown:?}"
    );
}

async fn replace_wards_reassigns_reports(store: &dyn Store) {
    let set = ward_set(hue_wards());
    let with_ward = |ext: &str, lon: f64, lat: f64, ward: Option<&str>| NewReport {
        ward: ward.map(str::to_string),
        ..report(Some(ext), lon, lat)
    };
    let batch = [
        with_ward("in_phu_hoi", 107.585, 16.465, Some("phu_hoi")), // right already
        with_ward("in_vinh_ninh", 107.595, 16.465, None),          // wrong: inside Vĩnh Ninh
        with_ward("outside", 107.70, 16.60, Some("phu_hoi")),      // wrong: outside every ward
        with_ward("in_the_hole", 107.56, 16.45, None),             // right: the hole is no ward
        with_ward("in_thuy_bieu", 107.552, 16.442, Some("vinh_ninh")), // wrong
    ];
    let ids = insert_new(store, &batch).await;
    let wards_of = async || -> Vec<Option<String>> {
        let got = store.get_reports(&ids).await.expect("reading reports");
        got.into_iter().map(|r| r.ward).collect()
    };

    assert_eq!(store.replace_wards(&set).await.expect("replacing wards"), 3);
    let want = [
        Some("phu_hoi"),
        Some("vinh_ninh"),
        None,
        None,
        Some("thuy_bieu"),
    ];
    assert_eq!(wards_of().await, want.map(|w| w.map(str::to_string)));
    assert_eq!(
        store.replace_wards(&set).await.expect("same wards again"),
        0
    );

    let only_vinh_ninh = ward_set(
        hue_wards()
            .into_iter()
            .filter(|w| w.code == "vinh_ninh")
            .collect(),
    );
    assert_eq!(
        store
            .replace_wards(&only_vinh_ninh)
            .await
            .expect("fewer wards"),
        2
    );
    let want = [None, Some("vinh_ninh"), None, None, None];
    assert_eq!(wards_of().await, want.map(|w| w.map(str::to_string)));
    assert_eq!(count(store).await, 5);
}

async fn summaries_match_reports(store: &dyn Store) {
    assert!(store.summaries().await.expect("no reports yet").is_empty());
    let batch: Vec<NewReport> = (0..6)
        .map(|i| NewReport {
            category: if i % 2 == 0 {
                "trash".into()
            } else {
                "flooding".into()
            },
            agency: (i % 3 == 0).then(|| "urban_works".to_string()),
            ward: (i < 4).then(|| "phu_hoi".to_string()),
            due_at: (i % 2 == 1).then(|| at(9, 8, 0, 125)),
            created_at: at(1 + i, 7, 15, i64::from(i) * 111),
            ..report(
                Some(&format!("SUM-{i}")),
                107.581 + f64::from(i) * 0.001,
                16.465,
            )
        })
        .collect();
    let ids = insert_new(store, &batch).await;
    store
        .update_status(ids[1], &change(Status::Resolved, at(12, 10, 0, 42)))
        .await
        .expect("resolving one");

    let summaries = store.summaries().await.expect("reading summaries");
    let reports = store.get_reports(&ids).await.expect("reading reports");
    let want: Vec<ReportSummary> = reports.iter().map(ReportSummary::from).collect();
    assert_eq!(summaries, want, "one summary per report, in id order");
    assert_eq!(summaries[1].resolved_at, Some(at(12, 10, 0, 42)));
}

async fn agency_and_satisfaction_change_without_a_status_move(store: &dyn Store) {
    let id = insert_new(store, &[report(Some("P"), 107.581, 16.461)]).await[0];
    let only = |agency: Option<&str>, satisfaction: Option<i64>, at| StatusChange {
        status: None,
        at,
        agency: agency.map(str::to_string),
        satisfaction: satisfaction.map(|s| Satisfaction::new(s).expect("1..5")),
    };
    // A change time finer than either store keeps: what comes back is what was stored.
    let fine = at(1, 9, 0, 0) + chrono::Duration::nanoseconds(123_456_789);
    let moved = store
        .update_status(id, &only(Some("hepco"), None, fine))
        .await
        .expect("a new agency without a status move");
    assert_eq!(
        (moved.status, moved.agency.as_deref()),
        (Status::Received, Some("hepco"))
    );
    assert!((moved.updated_at - fine).abs() < chrono::Duration::milliseconds(1));
    assert_eq!(
        one(store, id).await,
        moved,
        "the returned report is the stored one"
    );

    let early = store
        .update_status(id, &only(None, Some(4), at(1, 10, 0, 0)))
        .await;
    assert!(
        matches!(
            early,
            Err(StoreError::Refused(RefusedChange::NotResolved { id: i, status: Status::Received }))
                if i == id
        ),
        "a rating of an unresolved report is refused: {early:?}"
    );
    assert_eq!(
        one(store, id).await,
        moved,
        "a refused change stores nothing"
    );

    store
        .update_status(id, &change(Status::Resolved, at(2, 8, 0, 0)))
        .await
        .expect("resolving");
    let rated = store
        .update_status(id, &only(None, Some(2), at(3, 8, 0, 0)))
        .await
        .expect("a late rating of a resolved report");
    assert_eq!(
        (rated.status, rated.satisfaction, rated.resolved_at),
        (Status::Resolved, Some(2), Some(at(2, 8, 0, 0))),
        "rating keeps the resolution time"
    );
    assert_eq!(one(store, id).await, rated);
}

async fn every_write_raises_the_data_version(store: &dyn Store) {
    let version = async || {
        store
            .data_version()
            .await
            .expect("reading the data version")
    };
    let v0 = version().await;
    assert_eq!(version().await, v0, "reading does not raise it");

    store
        .replace_wards(&ward_set(hue_wards()))
        .await
        .expect("storing wards");
    let v1 = version().await;
    assert!(v1 > v0, "wards: {v0} → {v1}");

    let id = insert_new(store, &[report(Some("V"), 107.581, 16.461)]).await[0];
    let v2 = version().await;
    assert!(v2 > v1, "reports: {v1} → {v2}");

    store
        .update_status(id, &change(Status::Assigned, at(1, 9, 0, 0)))
        .await
        .expect("assigning");
    let v3 = version().await;
    assert!(v3 > v2, "status: {v2} → {v3}");

    let refused = store
        .update_status(id, &change(Status::Received, at(1, 9, 0, 0)))
        .await;
    assert!(refused.is_err());
    assert_eq!(version().await, v3, "a refused change is no write");
    assert_eq!(
        store.get_reports(&[id]).await.expect("reading").len(),
        1,
        "reading is no write"
    );
    assert_eq!(version().await, v3);
}

async fn a_million_reports_in_one_batch(store: &dyn Store) {
    const N: u32 = 1_000_000;
    let batch: Vec<NewReport> = (0..N)
        .map(|i| NewReport {
            description: Some(format!("report number {i}")),
            reporter_contact: (i % 10 == 0).then(|| format!("090{i:07}")),
            attributes: json!({ "n": i }),
            outside_bounds: false,
            ..report(
                Some(&format!("M-{i}")),
                107.50 + f64::from(i % 1000) * 0.0002,
                16.40 + f64::from(i / 1000) * 0.0002,
            )
        })
        .collect();
    let started = Instant::now();
    let ids = insert_new(store, &batch).await;
    eprintln!(
        "{}: {N} new reports in {:?}",
        store.kind(),
        started.elapsed()
    );
    assert_eq!(count(store).await, u64::from(N));
    assert!(ids.windows(2).all(|w| w[0] < w[1]));

    let started = Instant::now();
    let again = store.insert_reports(&batch).await.expect("re-inserting");
    eprintln!(
        "{}: {N} duplicates recognised in {:?}",
        store.kind(),
        started.elapsed()
    );
    assert!(
        again
            .iter()
            .zip(&ids)
            .all(|(o, id)| *o == Inserted::Duplicate(*id))
    );
    assert_eq!(count(store).await, u64::from(N));

    let started = Instant::now();
    let changed = store
        .replace_wards(&ward_set(hue_wards()))
        .await
        .expect("replacing wards");
    eprintln!(
        "{}: wards replaced, {changed} reports moved, in {:?}",
        store.kind(),
        started.elapsed()
    );
    let started = Instant::now();
    assert_eq!(
        store.summaries().await.expect("summaries").len(),
        N as usize
    );
    eprintln!(
        "{}: {N} summaries read in {:?}",
        store.kind(),
        started.elapsed()
    );
}
