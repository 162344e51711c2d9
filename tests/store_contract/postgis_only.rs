//! PostGIS cases the shared contract cannot state: checks made behind the store's back with
//! plain SQL on the test schema.

use super::common::harness::{Case, Need};
use super::common::postgis::{connect, schema_name, with_store};
use super::scan::{assert_same_summaries, scan_chunks, summary_of, varied_reports};
use super::{ReportSummary, Store, insert_new};
use sqlx::AssertSqlSafe;

pub fn cases() -> Vec<Case> {
    vec![Case::new(
        "postgis::start_up_scan_matches_a_plain_select_over_a_gappy_id_range",
        vec![Need::Postgis],
        start_up_scan_matches_a_plain_select_over_a_gappy_id_range,
    )]
}

/// The chunked, parallel start-up scan over ids with holes (rolled-back inserts and deletes
/// leave them in production), one of its ranges empty: it must hand over exactly the rows a
/// plain `select` finds.
async fn start_up_scan_matches_a_plain_select_over_a_gappy_id_range() {
    let test = "scan_gappy_ids";
    with_store(test, async |store| {
        let batch = varied_reports("GAP", 40_000);
        let ids = insert_new(store, &batch).await;
        let schema = schema_name(test);
        let mut sql = connect().await;
        // Every id ending in 3..=7 goes, and a block of 12,000 ids in the middle: with the range
        // cut in 4 parts of about 10,000 ids, the second part holds no row at all.
        let (lo, hi) = (ids[0], ids[ids.len() - 1]);
        let gone = sqlx::query(AssertSqlSafe(format!(
            "delete from {schema}.report where id % 10 between 3 and 7 or id between $1 and $2"
        )))
        .bind(lo + 9_000)
        .bind(lo + 21_000)
        .execute(&mut sql)
        .await
        .expect("deleting rows");
        assert!(gone.rows_affected() > 20_000, "{gone:?}");
        assert!(hi > lo + 21_000);

        let plain: Vec<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
            "select id from {schema}.report order by id"
        )))
        .fetch_all(&mut sql)
        .await
        .expect("a plain select of every id");
        let want: Vec<ReportSummary> = ids
            .iter()
            .zip(&batch)
            .filter(|(id, _)| plain.binary_search(id).is_ok())
            .map(|(id, r)| summary_of(*id, r))
            .collect();
        assert_eq!(
            want.len(),
            plain.len(),
            "the plain select finds only stored ids"
        );
        assert_eq!(
            store.count_reports().await.expect("count"),
            plain.len() as u64
        );
        assert_same_summaries(
            scan_chunks(store).await.into_iter().flatten().collect(),
            &want,
        );
    })
    .await;
}
