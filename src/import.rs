//! Batch import of a report file: parse and validate on one thread while the store writes on
//! another, and account for every row in an [`ImportSummary`].

use crate::config::CityProfile;
use crate::ingest::csv::{ParsedRow, RowError, open_input, read_reports};
use crate::ingest::mapping::Mapping;
use crate::service::{BulkWriter, Hotspots, ServiceError};
use crate::store::Inserted;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::Path;
use std::time::Instant;

/// Rows written per store transaction.
const BATCH: usize = 20_000;
/// Rejected rows listed one by one in the summary (all are counted).
const LISTED_REJECTIONS: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("reading {path}: {source}")]
    Open {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Parse(#[from] crate::ingest::csv::ImportError),
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error("the parser thread failed: {0}")]
    Thread(String),
}

/// One refused row.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Rejection {
    pub line: u64,
    pub reason: &'static str,
    pub message: String,
}

/// How the source's own ward column compares with the ward Hotspots assigned.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Default)]
pub struct WardAgreement {
    /// Rows compared: every stored row when the source has a ward column (its "no ward" must
    /// then match a point outside every ward), else rows with a source ward.
    pub compared: u64,
    pub agreed: u64,
    pub share: f64,
}

/// Everything that happened to the rows of one file.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct ImportSummary {
    pub read: u64,
    pub stored: u64,
    /// Already stored before (same source and external id); not stored again.
    pub duplicates: u64,
    pub rejected: u64,
    pub rejected_by_reason: BTreeMap<&'static str, u64>,
    /// The first rejected rows, with line numbers and reasons.
    pub rejections: Vec<Rejection>,
    /// Stored, but outside the city profile's bounds (flagged, not refused).
    pub outside_bounds: u64,
    /// Stored, but inside no ward.
    pub outside_wards: u64,
    /// Wards the reports were assigned against (0: no wards loaded yet).
    pub wards: u64,
    pub ward_agreement: Option<WardAgreement>,
    /// True when `strict` refused the whole file because a row was rejected.
    pub nothing_stored_because_strict: bool,
    pub seconds: f64,
}

impl ImportSummary {
    fn reject(&mut self, e: &RowError) {
        self.rejected += 1;
        *self.rejected_by_reason.entry(e.reason.code()).or_default() += 1;
        if self.rejections.len() < LISTED_REJECTIONS {
            self.rejections.push(Rejection {
                line: e.line,
                reason: e.reason.code(),
                message: e.message.clone(),
            });
        }
    }

    /// The summary as a planner reads it in a terminal.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "read {} rows: stored {}, already stored {}, rejected {} ({:.1} s)\n",
            self.read, self.stored, self.duplicates, self.rejected, self.seconds
        );
        if self.nothing_stored_because_strict {
            out.push_str("nothing was stored: --strict refuses a file with any rejected row\n");
        }
        for (reason, n) in &self.rejected_by_reason {
            out.push_str(&format!("  rejected, {reason}: {n}\n"));
        }
        for r in self.rejections.iter().take(20) {
            out.push_str(&format!(
                "    line {}: {} ({})\n",
                r.line, r.message, r.reason
            ));
        }
        if self.rejections.len() > 20 {
            out.push_str(&format!(
                "    … {} more listed with --json\n",
                self.rejections.len() - 20
            ));
        }
        out.push_str(&format!(
            "outside the city's bounds (stored, flagged): {}\n",
            self.outside_bounds
        ));
        if self.wards == 0 {
            out.push_str("no wards are loaded, so no report has a ward: run `hotspots import wards` (reports are re-assigned)\n");
        } else {
            out.push_str(&format!(
                "outside every ward (stored without a ward): {}\n",
                self.outside_wards
            ));
        }
        if let Some(a) = self.ward_agreement {
            out.push_str(&format!(
                "ward agreement with the source's own ward column: {} of {} = {:.2} %\n",
                a.agreed,
                a.compared,
                a.share * 100.0
            ));
        }
        out
    }
}

/// Options of one import.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Store nothing if any row is rejected (the file is read twice).
    pub strict: bool,
    /// Show a progress bar (only when stderr is a terminal).
    pub progress: bool,
}

/// Imports a CSV file (gzip read directly) with `mapping`.
pub async fn import_csv(
    app: &Hotspots,
    path: &Path,
    mapping: &Mapping,
    options: &ImportOptions,
) -> Result<ImportSummary, ImportError> {
    let started = Instant::now();
    if options.strict {
        let check = check_only(path, mapping, app.profile()).await?;
        if check.rejected > 0 {
            return Ok(ImportSummary {
                nothing_stored_because_strict: true,
                seconds: started.elapsed().as_secs_f64(),
                ..check
            });
        }
    }
    let bar = progress_bar(options.progress);
    let mut summary = ImportSummary::default();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Result<ParsedRow, RowError>>>(2);
    let reader = {
        let (path, mapping, profile) = (path.to_path_buf(), mapping.clone(), app.profile().clone());
        tokio::task::spawn_blocking(move || -> Result<(), ImportError> {
            let input = open_input(&path).map_err(|source| ImportError::Open {
                path: path.display().to_string(),
                source,
            })?;
            let mut batch = Vec::with_capacity(BATCH);
            for row in read_reports(input, &mapping, &profile)? {
                batch.push(row);
                if batch.len() == BATCH && tx.blocking_send(std::mem::take(&mut batch)).is_err() {
                    return Ok(());
                }
            }
            let _ = tx.blocking_send(batch);
            Ok(())
        })
    };
    let mut writer = app.bulk_writer();
    while let Some(batch) = rx.recv().await {
        let stored = store_batch(
            app,
            &mut writer,
            batch,
            mapping.columns.ward.is_some(),
            &mut summary,
        )
        .await;
        if let Err(e) = stored {
            let _ = writer.finish().await; // the batch's own error is the one to report
            return Err(e.into());
        }
        bar.set_position(summary.read);
    }
    writer.finish().await?;
    reader
        .await
        .map_err(|e| ImportError::Thread(e.to_string()))??;
    bar.finish_and_clear();
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Imports rows already parsed (e.g. a GeoJSON FeatureCollection of reports).
pub async fn import_rows(
    app: &Hotspots,
    rows: Vec<Result<ParsedRow, RowError>>,
    options: &ImportOptions,
) -> Result<ImportSummary, ServiceError> {
    let started = Instant::now();
    let mut summary = ImportSummary::default();
    if options.strict && rows.iter().any(Result::is_err) {
        for row in &rows {
            summary.read += 1;
            if let Err(e) = row {
                summary.reject(e);
            }
        }
        summary.nothing_stored_because_strict = true;
    } else {
        let mut rows = rows;
        let mut writer = app.bulk_writer();
        while !rows.is_empty() {
            let rest = rows.split_off(rows.len().min(BATCH));
            let stored = store_batch(app, &mut writer, rows, false, &mut summary).await;
            if let Err(e) = stored {
                let _ = writer.finish().await; // the batch's own error is the one to report
                return Err(e);
            }
            rows = rest;
        }
        writer.finish().await?;
    }
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Validates and stores one batch in one transaction, counting each row's fate.
async fn store_batch(
    app: &Hotspots,
    writer: &mut BulkWriter<'_>,
    batch: Vec<Result<ParsedRow, RowError>>,
    source_has_wards: bool,
    summary: &mut ImportSummary,
) -> Result<(), ServiceError> {
    let snapshot = app.snapshot();
    summary.wards = snapshot.wards.len() as u64;
    let mut reports = Vec::with_capacity(batch.len());
    let mut agreement = summary.ward_agreement.unwrap_or_default();
    for row in batch {
        summary.read += 1;
        match row {
            Err(e) => summary.reject(&e),
            Ok(row) => {
                let assigned = snapshot
                    .wards
                    .locate_code(row.report.lon.get(), row.report.lat.get());
                // With a ward column, "no ward" in the source (e.g. Chicago's "0") agreeing with a
                // point outside every ward counts as agreement too.
                let comparable = row.source_ward.is_some() || source_has_wards;
                if comparable && !snapshot.wards.is_empty() {
                    agreement.compared += 1;
                    agreement.agreed += u64::from(row.source_ward.as_deref() == assigned);
                }
                summary.outside_bounds += u64::from(row.flags.outside_bounds);
                reports.push((row.report, assigned.is_none()));
            }
        }
    }
    if agreement.compared > 0 {
        agreement.share = agreement.agreed as f64 / agreement.compared as f64;
        summary.ward_agreement = Some(agreement);
    }
    let outside: Vec<bool> = reports.iter().map(|r| r.1).collect();
    let outcome = writer
        .submit(reports.into_iter().map(|r| r.0).collect())
        .await?;
    for (o, outside) in outcome.iter().zip(outside) {
        match o {
            Inserted::New(_) => {
                summary.stored += 1;
                summary.outside_wards += u64::from(outside);
            }
            Inserted::Duplicate(_) => summary.duplicates += 1,
        }
    }
    Ok(())
}

/// Parses the whole file without storing (for `strict`), counting rejections.
async fn check_only(
    path: &Path,
    mapping: &Mapping,
    profile: &CityProfile,
) -> Result<ImportSummary, ImportError> {
    let (path, mapping, profile) = (path.to_path_buf(), mapping.clone(), profile.clone());
    tokio::task::spawn_blocking(move || -> Result<ImportSummary, ImportError> {
        let input = open_input(&path).map_err(|source| ImportError::Open {
            path: path.display().to_string(),
            source,
        })?;
        let mut summary = ImportSummary::default();
        for row in read_reports(input, &mapping, &profile)? {
            summary.read += 1;
            if let Err(e) = row {
                summary.reject(&e);
            }
        }
        Ok(summary)
    })
    .await
    .map_err(|e| ImportError::Thread(e.to_string()))?
}

fn progress_bar(wanted: bool) -> ProgressBar {
    if !wanted || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} {human_pos} rows read, {per_sec} [{elapsed}]")
    {
        bar.set_style(style);
    }
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}
