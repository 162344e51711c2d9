//! The GeoPackage as a file other programs read: GDAL's own validator, SQLite's `rtreecheck`,
//! GDAL editing the file (the spec's triggers), contacts that never reach it, consistent
//! backups, and the upgrade of a file written by the release before schema versions
//! (`tests/fixtures/hotspots-v0.gpkg`, see `tests/fixtures/README.md`).
//!
//! GDAL's tools come from Debian's `gdal-bin` and `python3-gdal`; without them the tests that
//! need them show as ignored, with the reason (and fail under CI).

mod common;

common::harness::tests! {
    imported_and_posted_files_pass_gdal_validator_and_rtreecheck: [Need::GpkgValidator],
    bulk_batches_leave_a_packed_rtree_that_answers_window_queries,
    contacts_never_touch_the_shared_file,
    backup_copies_the_file_and_its_contacts_while_open: [Need::GpkgValidator],
    gdal_edits_keep_the_rtree_right: [Need::Ogrinfo, Need::GpkgValidator],
    a_file_of_the_previous_release_is_upgraded_in_place: [Need::GpkgValidator],
    single_post_cost_of_the_trigger_dance,
    a_contact_left_by_a_crash_never_attaches_to_a_new_report,
}

use hotspots::config::CityProfile;
use hotspots::model::NewReport;
use hotspots::store::{GeoPackageStore, Inserted, Store, private_path};
use hotspots::wards::WardSet;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, Row, SqliteConnection};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const MARKER: &str = "+84 MARKER-0912-CONTACT";

/// Runs `validate_gpkg.py -k` (the `-k` skips checks of the file's own extensions' content) and
/// fails with its report unless it finds nothing.
fn assert_valid(path: &Path) {
    let out = Command::new("python3")
        .args([common::harness::GPKG_VALIDATOR, "-k"])
        .arg(path)
        .output()
        .expect("python3 runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.trim().is_empty(),
        "validate_gpkg.py on {}:\n{text}",
        path.display()
    );
}

/// A plain SQLite connection, as any other program would open the file.
async fn raw(path: &Path) -> SqliteConnection {
    SqliteConnectOptions::new()
        .filename(path)
        .connect()
        .await
        .expect("opening the file with plain SQLite")
}

async fn rtree_check(path: &Path) {
    let mut conn = raw(path).await;
    for table in ["rtree_report_geom", "rtree_ward_geom"] {
        let check: String = sqlx::query_scalar("select rtreecheck(?)")
            .bind(table)
            .fetch_one(&mut conn)
            .await
            .expect("rtreecheck runs");
        assert_eq!(check, "ok", "{table}");
    }
    // Every report is in the R*Tree, at its own point.
    let mismatched: i64 = sqlx::query_scalar(
        "select (select count(*) from report) - (select count(*) from report r join rtree_report_geom t \
         on t.id = r.fid)",
    )
    .fetch_one(&mut conn)
    .await
    .expect("counting");
    assert_eq!(mismatched, 0, "reports missing from the R*Tree");
    conn.close().await.expect("closing");
}

fn file_bytes(path: &Path) -> Vec<u8> {
    let mut all = std::fs::read(path).expect("the file");
    for suffix in ["-wal", "-journal"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        if let Ok(more) = std::fs::read(PathBuf::from(p)) {
            all.extend(more);
        }
    }
    all
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// The demo city of Huế (30 wards, ~29,000 reports) stored as an import stores it: in batches
/// of 10,000, which take the bulk path (R*Tree built once at the end).
async fn demo_store(path: &Path) -> (GeoPackageStore, Vec<NewReport>) {
    let city = hotspots::demo::generate(&CityProfile::hue());
    let store = GeoPackageStore::open(path).await.expect("a new GeoPackage");
    store
        .replace_wards(&WardSet::new(city.wards).expect("demo wards"))
        .await
        .expect("storing wards");
    for chunk in city.reports.chunks(10_000) {
        store.insert_reports(chunk).await.expect("storing reports");
    }
    (store, city.reports)
}

fn with_contact(mut r: NewReport, id: &str) -> NewReport {
    r.external_id = Some(id.into());
    r.reporter_contact = Some(MARKER.into());
    r
}

async fn imported_and_posted_files_pass_gdal_validator_and_rtreecheck() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    // A new file is a GeoPackage at once, also to tools that read its header from the file
    // itself while the store holds it open (the header is in the write-ahead log until a
    // checkpoint).
    let empty = dir.path().join("empty.gpkg");
    let fresh = GeoPackageStore::open(&empty)
        .await
        .expect("a new GeoPackage");
    assert_valid(&empty);
    fresh.close().await;

    let path = dir.path().join("demo.gpkg");
    let (store, reports) = demo_store(&path).await;
    // A few single writes (as POSTs make them) after the bulk ones.
    for (i, r) in reports.iter().take(5).enumerate() {
        let fresh = with_contact(r.clone(), &format!("post-{i}"));
        let out = store.insert_reports(&[fresh]).await.expect("one report");
        assert!(matches!(out[..], [Inserted::New(_)]));
    }
    // While the store is open too: tools read the file's header from the file itself.
    assert_valid(&path);
    store.close().await;
    assert_valid(&path);
    rtree_check(&path).await;
}

async fn bulk_batches_leave_a_packed_rtree_that_answers_window_queries() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("bulk.gpkg");
    let (store, _) = demo_store(&path).await;
    store
        .build_rtree_if_stale()
        .await
        .expect("building the R*Tree");
    let mut conn = raw(&path).await;
    // The R*Tree's answer for a window equals a scan of the table (points read from WKB by
    // SQLite itself: x at byte 9+5 is awkward in SQL, so compare with the store's summaries).
    let summaries = store.summaries().await.expect("summaries");
    let (x0, x1, y0, y1) = (107.57, 107.60, 16.45, 16.48);
    let expected = summaries
        .iter()
        .filter(|s| s.lon >= x0 && s.lon <= x1 && s.lat >= y0 && s.lat <= y1)
        .count() as i64;
    let found: i64 = sqlx::query_scalar(
        "select count(*) from rtree_report_geom where minx >= ? and maxx <= ? and miny >= ? and maxy <= ?",
    )
    .bind(x0)
    .bind(x1)
    .bind(y0)
    .bind(y1)
    .fetch_one(&mut conn)
    .await
    .expect("a window query");
    // f32 boxes may move a point on the window's edge by under a metre: allow a handful.
    assert!(expected > 100, "the window holds reports");
    assert!(
        (found - expected).abs() <= 3,
        "R*Tree {found}, table {expected}"
    );
    conn.close().await.expect("closing");
    store.close().await;
    rtree_check(&path).await;
}

async fn contacts_never_touch_the_shared_file() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("shared.gpkg");
    let city = hotspots::demo::generate(&CityProfile::hue());
    let store = GeoPackageStore::open(&path)
        .await
        .expect("a new GeoPackage");
    // The bulk path and the single-write path.
    let bulk: Vec<NewReport> = city.reports[..10_000]
        .iter()
        .enumerate()
        .map(|(i, r)| with_contact(r.clone(), &format!("bulk-{i}")))
        .collect();
    let ids = store.insert_reports(&bulk).await.expect("a bulk batch");
    let one = with_contact(city.reports[10_000].clone(), "single");
    let single = store.insert_reports(&[one]).await.expect("one report")[0].id();
    // While the store is open (WAL not yet checkpointed) and after it closed.
    assert!(
        !contains(&file_bytes(&path), MARKER),
        "contact in the open file or its WAL"
    );
    assert_eq!(
        store
            .reporter_contact(ids[42].id())
            .await
            .expect("a contact")
            .as_deref(),
        Some(MARKER)
    );
    assert_eq!(
        store
            .reporter_contact(single)
            .await
            .expect("a contact")
            .as_deref(),
        Some(MARKER)
    );
    store.close().await;
    assert!(
        !contains(&file_bytes(&path), MARKER),
        "contact in the closed file"
    );
    assert!(
        contains(&file_bytes(&private_path(&path)), MARKER),
        "contact kept privately"
    );
}

async fn backup_copies_the_file_and_its_contacts_while_open() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("live.gpkg");
    let (store, reports) = demo_store(&path).await;
    let posted = store
        .insert_reports(&[with_contact(reports[0].clone(), "late")])
        .await
        .expect("a late report")[0]
        .id();
    let out = dir.path().join("copy.gpkg");
    // Taken while the store is open and its last write is still only in the WAL.
    store.backup(&out).await.expect("a backup");
    assert!(store.backup(&out).await.is_err(), "never overwrites");
    let total = store.count_reports().await.expect("count");
    store.close().await;
    assert_valid(&out);
    let copy = GeoPackageStore::open(&out).await.expect("the copy opens");
    assert_eq!(copy.count_reports().await.expect("count"), total);
    assert_eq!(
        copy.reporter_contact(posted)
            .await
            .expect("a contact")
            .as_deref(),
        Some(MARKER)
    );
    assert_eq!(copy.wards().await.expect("wards").len(), 30);
    copy.close().await;
}

/// QGIS edits through GDAL, which has the ST_* functions: the triggers keep the index right,
/// and the store keeps writing afterwards.
async fn gdal_edits_keep_the_rtree_right() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("edited.gpkg");
    let (store, reports) = demo_store(&path).await;
    store.close().await;
    let sql = [
        "UPDATE report SET geom = (SELECT geom FROM report WHERE fid = 2) WHERE fid = 3",
        "DELETE FROM report WHERE fid = 1",
    ];
    for statement in sql {
        let out = Command::new("ogrinfo")
            .arg("-update")
            .arg(&path)
            .args(["-sql", statement])
            .output()
            .expect("ogrinfo runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut conn = raw(&path).await;
    let boxes = sqlx::query(
        "select id, minx, miny from rtree_report_geom where id in (1, 2, 3) order by id",
    )
    .fetch_all(&mut conn)
    .await
    .expect("R*Tree rows");
    assert_eq!(boxes.len(), 2, "fid 1 left the index");
    let (b2, b3) = (&boxes[0], &boxes[1]);
    assert_eq!(
        b3.get::<f64, _>(1),
        b2.get::<f64, _>(1),
        "fid 3 moved to fid 2's point"
    );
    assert_eq!(b3.get::<f64, _>(2), b2.get::<f64, _>(2));
    conn.close().await.expect("closing");
    let store = GeoPackageStore::open(&path).await.expect("reopening");
    let again = with_contact(reports[7].clone(), "after-gdal");
    store
        .insert_reports(&[again])
        .await
        .expect("writing after GDAL");
    store.close().await;
    rtree_check(&path).await;
    assert_valid(&path);
}

async fn a_file_of_the_previous_release_is_upgraded_in_place() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("old.gpkg");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hotspots-v0.gpkg");
    std::fs::copy(&fixture, &path).expect("copying the fixture");
    assert!(
        contains(&file_bytes(&path), "OLD-CONTACT-03"),
        "the fixture holds contacts"
    );

    let store = GeoPackageStore::open(&path)
        .await
        .expect("opening an old file");
    assert_eq!(store.count_reports().await.expect("count"), 12);
    assert_eq!(store.wards().await.expect("wards").len(), 30);
    assert!(store.setting("profile").await.expect("a setting").is_some());
    assert_eq!(
        store
            .setting("schema_version")
            .await
            .expect("a setting")
            .as_deref(),
        Some("4")
    );
    for (fid, contact) in [
        (1, Some("+84 OLD-CONTACT-00")),
        (4, Some("+84 OLD-CONTACT-03")),
        (2, None),
    ] {
        assert_eq!(
            store
                .reporter_contact(fid)
                .await
                .expect("a contact")
                .as_deref(),
            contact
        );
    }
    let summaries = store.summaries().await.expect("summaries");
    let first = store.get_reports(&[1]).await.expect("report 1");
    assert_eq!(
        (first[0].lon, first[0].lat),
        (summaries[0].lon, summaries[0].lat)
    );
    // New writes continue the old ids.
    let city = hotspots::demo::generate(&CityProfile::hue());
    let next = store
        .insert_reports(&[with_contact(city.reports[100].clone(), "after-upgrade")])
        .await
        .expect("a new report");
    assert_eq!(next, vec![Inserted::New(13)]);
    store.close().await;

    assert!(
        !contains(&file_bytes(&path), "OLD-CONTACT"),
        "contacts left in the shared file"
    );
    let mut conn = raw(&path).await;
    let leftover: i64 =
        sqlx::query_scalar("select count(*) from sqlite_master where name = 'report_contact'")
            .fetch_one(&mut conn)
            .await
            .expect("schema");
    assert_eq!(leftover, 0);
    conn.close().await.expect("closing");
    assert_valid(&path);
    rtree_check(&path).await;
    // Opening again is a no-op.
    let store = GeoPackageStore::open(&path).await.expect("reopening");
    assert_eq!(store.count_reports().await.expect("count"), 13);
    store.close().await;

    // The upgraded file has the tables a new file has.
    let fresh = dir.path().join("fresh.gpkg");
    GeoPackageStore::open(&fresh)
        .await
        .expect("a new file")
        .close()
        .await;
    assert_eq!(shape(&path).await, shape(&fresh).await);
}

/// Every table's and trigger's columns, types, constraints and defaults, comparable across files.
async fn shape(path: &Path) -> Vec<String> {
    let mut conn = raw(path).await;
    let names: Vec<(String, String)> = sqlx::query_as(
        "select type, name from sqlite_master where name not like 'sqlite_%' order by type, name",
    )
    .fetch_all(&mut conn)
    .await
    .expect("schema");
    let mut out = Vec::new();
    for (kind, name) in names {
        out.push(format!("{kind} {name}"));
        if kind == "table" {
            let rows = sqlx::query(
                "select name, type, \"notnull\", dflt_value, pk from pragma_table_info(?)",
            )
            .bind(&name)
            .fetch_all(&mut conn)
            .await
            .expect("table info");
            for r in rows {
                out.push(format!(
                    "  {} {} {} {:?} {}",
                    r.get::<String, _>(0),
                    r.get::<String, _>(1),
                    r.get::<i64, _>(2),
                    r.get::<Option<String>, _>(3),
                    r.get::<i64, _>(4)
                ));
            }
        }
    }
    conn.close().await.expect("closing");
    out
}

/// Prints what a single write costs with the trigger dance (drop five triggers per indexed
/// table, write, recreate, commit); run with `--nocapture` to read it. Fails only if absurd.
async fn single_post_cost_of_the_trigger_dance() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("posts.gpkg");
    let (store, reports) = demo_store(&path).await;
    store.build_rtree_if_stale().await.expect("R*Tree");
    let n = 200;
    let started = Instant::now();
    for (i, r) in reports.iter().take(n).enumerate() {
        store
            .insert_reports(&[with_contact(r.clone(), &format!("cost-{i}"))])
            .await
            .expect("one report");
    }
    let per_post = started.elapsed() / n as u32;
    eprintln!(
        "single POST into a GeoPackage of ~29k reports: {per_post:?} per write (synchronous=FULL, with contact)"
    );
    assert!(per_post.as_millis() < 100, "{per_post:?}");
    store.close().await;
}

/// A crash between the two commits leaves a contact at an id no report has (see
/// `store/geopackage/private.rs`): it must never become the contact of the report that next
/// gets that id.
async fn a_contact_left_by_a_crash_never_attaches_to_a_new_report() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("crash.gpkg");
    let city = hotspots::demo::generate(&CityProfile::hue());
    let store = GeoPackageStore::open(&path)
        .await
        .expect("a new GeoPackage");
    let first = store
        .insert_reports(&[with_contact(city.reports[0].clone(), "kept")])
        .await
        .expect("a report")[0]
        .id();
    store.close().await;
    // What a crash after the contacts' commit and before the reports' leaves behind.
    let mut private = raw(&private_path(&path)).await;
    for id in [first + 1, first + 2] {
        sqlx::query("insert into report_contact values (?, 'ORPHAN')")
            .bind(id)
            .execute(&mut private)
            .await
            .expect("an orphan contact");
    }
    private.close().await.expect("closing");

    let store = GeoPackageStore::open(&path).await.expect("reopening");
    let mut bare = city.reports[1].clone();
    bare.reporter_contact = None;
    let next = store.insert_reports(&[bare]).await.expect("a report")[0].id();
    assert_eq!(next, first + 1);
    assert_eq!(
        store.reporter_contact(next).await.expect("no contact"),
        None
    );
    assert_eq!(
        store.reporter_contact(first + 2).await.expect("no contact"),
        None
    );
    assert_eq!(
        store
            .reporter_contact(first)
            .await
            .expect("a contact")
            .as_deref(),
        Some(MARKER)
    );
    store.close().await;
}
