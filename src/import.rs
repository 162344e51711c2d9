//! Batch import of a report file: parse and validate on one thread while the store writes on
//! another, and account for every row in an [`ImportSummary`].

use crate::config::CityProfile;
use crate::ingest::csv::{AddedCategory, ParsedRow, RowError, open_input, read_reports};
use crate::ingest::mapping::Mapping;
use crate::service::{BulkWriter, Hotspots, ServiceError};
use crate::store::Inserted;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::Path;
use std::time::Instant;

mod command;
pub mod saved;
mod summary;

pub use command::{ReportsOutcome, ReportsRequest, import_reports, load_mapping};
pub use summary::{ImportSummary, Rejection, WardAgreement};

/// Rows written per store transaction.
const BATCH: usize = 10_000;
/// Rejected rows (and flagged lines) listed one by one in the summary (all are counted).
pub(crate) const LISTED_REJECTIONS: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("reading {path}: {source}")]
    Open {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Parse(#[from] crate::ingest::csv::FileError),
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error("the parser thread failed: {0}")]
    Thread(String),
    #[error("{message}")]
    Mapping { message: String },
    #[error(
        "a CSV import needs --mapping: a preset ({}) or a mapping file (copy data/mappings/example.toml)",
        crate::ingest::mapping::PRESETS.join(", ")
    )]
    NoMapping,
    #[error(transparent)]
    Profile(saved::ProfileError),
    #[error("making a city profile from the file: {0}")]
    Derive(#[from] crate::ingest::profile::DeriveError),
}

/// Options of one import.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Store nothing if any row is rejected (the file is read twice).
    pub strict: bool,
    /// Show a progress bar (only when stderr is a terminal).
    pub progress: bool,
    /// Add a category the profile lacks to it (see [`ImportSummary::new_categories`]) instead of
    /// rejecting its rows. Ignored with `strict`.
    pub add_new_categories: bool,
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
    let mut summary = ImportSummary {
        file_time_zone: mapping
            .file_time_zone
            .unwrap_or(app.profile().time_zone)
            .to_string(),
        file_time_zone_from_mapping: mapping.file_time_zone.is_some(),
        content_keys: mapping.columns.external_id.is_none(),
        ..ImportSummary::default()
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Result<ParsedRow, RowError>>>(1);
    let add_new = options.add_new_categories && !options.strict;
    let reader = {
        let (path, mapping, profile) = (path.to_path_buf(), mapping.clone(), app.profile().clone());
        tokio::task::spawn_blocking(move || -> Result<Vec<AddedCategory>, ImportError> {
            let input = open_input(&path).map_err(|source| ImportError::Open {
                path: path.display().to_string(),
                source,
            })?;
            let mut batch = Vec::with_capacity(BATCH);
            let mut rows = read_reports(input, &mapping, &profile)?;
            if add_new {
                rows = rows.adding_new_categories();
            }
            for row in &mut rows {
                batch.push(row);
                if batch.len() == BATCH && tx.blocking_send(std::mem::take(&mut batch)).is_err() {
                    return Ok(rows.finish().1);
                }
            }
            let _ = tx.blocking_send(batch);
            Ok(rows.finish().1)
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
    summary.new_categories = reader
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
                let flagged = row.flags.outside_bounds.then_some(row.line);
                reports.push((row.report, (assigned.is_none(), flagged)));
            }
        }
    }
    if agreement.compared > 0 {
        agreement.share = agreement.agreed as f64 / agreement.compared as f64;
        summary.ward_agreement = Some(agreement);
    }
    let marks: Vec<(bool, Option<u64>)> = reports.iter().map(|r| r.1).collect();
    let outcome = writer
        .submit(reports.into_iter().map(|r| r.0).collect())
        .await?;
    for (o, (outside_wards, outside_bounds)) in outcome.iter().zip(marks) {
        match o {
            Inserted::New(_) => {
                summary.stored += 1;
                summary.outside_wards += u64::from(outside_wards);
                if let Some(line) = outside_bounds {
                    summary.outside_bounds += 1;
                    if summary.outside_bounds_lines.len() < LISTED_REJECTIONS {
                        summary.outside_bounds_lines.push(line);
                    }
                }
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
