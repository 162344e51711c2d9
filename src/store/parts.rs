//! Scanning a table's id range in parts at once, on as many connections, for start-up.

use super::{ReportSummary, StoreError};
use std::future::Future;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// What a part sends: a chunk of summaries, or the error that stopped it.
pub(crate) type Chunk = Result<Vec<ReportSummary>, StoreError>;

/// Splits ids `lo..=hi` (the table's min and max id; `None` when it is empty) into `parts`
/// ranges, runs `scan(from, to, sender)` for each at once (each sends its chunks, then returns),
/// and hands every chunk to `sink` as it arrives.
///
/// All or nothing: the first error a part sends stops the scan (the other parts are cancelled),
/// and so does a part that ends without finishing (a panic), which sends nothing to say so. An
/// index built from a partial scan would serve wrong counts and lists without a word.
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
    let mut running = JoinSet::new();
    for i in 0..parts {
        let (from, to) = (lo + i * step, (lo + (i + 1) * step).min(hi + 1));
        running.spawn(scan(from, to, tx.clone()));
    }
    drop(tx);
    while let Some(chunk) = rx.recv().await {
        // Returning drops `running`, which cancels the parts still scanning.
        sink(chunk?);
    }
    while let Some(ended) = running.join_next().await {
        if let Err(e) = ended {
            return Err(StoreError::Corrupt {
                what: "the start-up scan".into(),
                message: format!("a part of the scan did not finish: {e}"),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Status;
    use chrono::Utc;

    fn summary(id: i64) -> ReportSummary {
        ReportSummary {
            id,
            lon: 107.6,
            lat: 16.5,
            ward: None,
            category: "garbage".into(),
            agency: None,
            status: Status::Received,
            created_at: Utc::now(),
            due_at: None,
            resolved_at: None,
            outside_bounds: false,
        }
    }

    /// Scans ids 1..=100 in 4 parts; the part starting at `bad_from` misbehaves as `fault` says.
    async fn scan(fault: &'static str) -> (Result<(), StoreError>, usize) {
        let mut seen = 0;
        let result = scan_in_parts(
            (Some(1), Some(100)),
            4,
            |from, to, tx| async move {
                if from > 1 {
                    match fault {
                        "error" => {
                            let _ = tx
                                .send(Err(StoreError::Corrupt {
                                    what: "a row".into(),
                                    message: "unreadable".into(),
                                }))
                                .await;
                            return;
                        }
                        "panic" => panic!("a part fails without a word"),
                        _ => {}
                    }
                }
                let _ = tx.send(Ok((from..to).map(summary).collect())).await;
            },
            &mut |chunk| seen += chunk.len(),
        )
        .await;
        (result, seen)
    }

    #[tokio::test]
    async fn every_id_arrives_when_every_part_succeeds() {
        let (result, seen) = scan("none").await;
        assert!(result.is_ok());
        assert_eq!(seen, 100);
    }

    #[tokio::test]
    async fn a_part_that_fails_fails_the_scan() {
        assert!(scan("error").await.0.is_err());
    }

    #[tokio::test]
    async fn a_part_that_panics_fails_the_scan() {
        let (result, seen) = scan("panic").await;
        assert!(result.is_err(), "a partial scan ({seen} of 100) passed");
    }
}
