//! The start-up scan (`Store::scan_summaries`) against what was stored: every report once, with
//! the fields the input gave it.

use super::{NewReport, ReportId, ReportSummary, Status, Store, at, insert_new, report};

/// What the start-up scan should hand over for `new` stored as `id`, made from the input.
pub fn summary_of(id: ReportId, new: &NewReport) -> ReportSummary {
    ReportSummary {
        id,
        lon: new.lon.get(),
        lat: new.lat.get(),
        ward: new.ward.clone(),
        category: new.category.clone(),
        agency: new.agency.clone(),
        status: new.status,
        created_at: new.created_at,
        due_at: new.due_at,
        resolved_at: new.resolved_at,
        outside_bounds: new.outside_bounds,
    }
}

/// `n` reports with every summary field varied, spread over a few hundred metres.
pub fn varied_reports(prefix: &str, n: u32) -> Vec<NewReport> {
    let statuses = [
        Status::Received,
        Status::Assigned,
        Status::InProgress,
        Status::Resolved,
        Status::Rejected,
    ];
    (0..n)
        .map(|i| {
            let status = statuses[i as usize % statuses.len()];
            let created_at = at(1 + i % 20, i % 24, i % 60, i64::from(i % 1000));
            NewReport {
                category: ["trash", "flooding", "pothole"][i as usize % 3].into(),
                ward: (i % 4 != 0).then(|| format!("w{}", i % 7)),
                agency: (i % 5 == 0).then(|| "urban_works".to_string()),
                status,
                created_at,
                due_at: (i % 2 == 0).then(|| created_at + chrono::Duration::hours(72)),
                resolved_at: (status == Status::Resolved)
                    .then(|| created_at + chrono::Duration::hours(i64::from(i % 100))),
                outside_bounds: i % 3 == 1,
                ..report(
                    Some(&format!("{prefix}-{i}")),
                    107.55 + f64::from(i % 400) * 0.0001,
                    16.44 + f64::from(i / 400) * 0.0001,
                )
            }
        })
        .collect()
}

/// Every chunk the store's start-up scan hands over, in arrival order.
pub async fn scan_chunks(store: &dyn Store) -> Vec<Vec<ReportSummary>> {
    let mut chunks = Vec::new();
    store
        .scan_summaries(&mut |chunk| chunks.push(chunk))
        .await
        .expect("the start-up scan");
    chunks
}

/// `got` sorted by id equals `want`; on failure, names the first report that differs.
pub fn assert_same_summaries(mut got: Vec<ReportSummary>, want: &[ReportSummary]) {
    got.sort_by_key(|s| s.id);
    if let Some((g, w)) = got.iter().zip(want).find(|(g, w)| g != w) {
        panic!("the scan differs from the input first at\n got {g:?}\nwant {w:?}");
    }
    assert_eq!(got.len(), want.len(), "every report once, and no other");
}

/// The production start-up scan (`Store::scan_summaries`: id range split into parts read at
/// once, handed over in chunks) against what was stored, from an empty table to one large
/// enough that every part holds several chunks.
pub async fn start_up_scan_hands_over_every_report_once(store: &dyn Store) {
    let all: Vec<ReportSummary> = scan_chunks(store).await.into_iter().flatten().collect();
    assert!(all.is_empty(), "an empty table: {all:?}");

    let first = varied_reports("ONE", 1);
    let ids = insert_new(store, &first).await;
    let all: Vec<ReportSummary> = scan_chunks(store).await.into_iter().flatten().collect();
    assert_eq!(all, vec![summary_of(ids[0], &first[0])], "min id = max id");

    // 4 parts × 16,384-row chunks in both stores today: 70,000 rows give every part more than
    // one chunk, and the last id sits at the edge of the last range.
    let more = varied_reports("SCAN", 70_000);
    let more_ids = insert_new(store, &more).await;
    let chunks = scan_chunks(store).await;
    assert!(
        chunks.len() > 1,
        "70,001 summaries must come in several chunks, not {}",
        chunks.len()
    );
    let want: Vec<ReportSummary> = ids
        .iter()
        .chain(&more_ids)
        .zip(first.iter().chain(&more))
        .map(|(id, r)| summary_of(*id, r))
        .collect();
    assert_same_summaries(chunks.into_iter().flatten().collect(), &want);
}
