//! Scanning a table's id range in parts at once, on as many connections, for start-up.

use super::{ReportSummary, StoreError};
use std::future::Future;
use tokio::sync::mpsc;

/// What a part sends: a chunk of summaries, or the error that stopped it.
pub(crate) type Chunk = Result<Vec<ReportSummary>, StoreError>;

/// Splits ids `lo..=hi` (the table's min and max id; `None` when it is empty) into `parts`
/// ranges, runs `scan(from, to, sender)` for each at once (each sends its chunks, then returns),
/// and hands every chunk to `sink` as it arrives. Stops at the first error.
pub(crate) async fn scan_in_parts<F, Fut>(
    (lo, hi): (Option<i64>, Option<i64>),
    parts: i64,
    scan: F,
    sink: &mut (dyn FnMut(Vec<ReportSummary>) + Send),
) -> Result<(), StoreError>
where
    F: Fn(i64, i64, mpsc::Sender<Chunk>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (Some(lo), Some(hi)) = (lo, hi) else {
        return Ok(());
    };
    let step = (hi - lo) / parts + 1;
    let (tx, mut rx) = mpsc::channel(parts as usize * 2);
    for i in 0..parts {
        let (from, to) = (lo + i * step, (lo + (i + 1) * step).min(hi + 1));
        tokio::spawn(scan(from, to, tx.clone()));
    }
    drop(tx);
    while let Some(chunk) = rx.recv().await {
        sink(chunk?);
    }
    Ok(())
}
