//! `hotspots import reports` as a library call: pick the mapping and the city profile (making and
//! saving one from the file on the first import), import, and save the categories the file added.
//! The binary only parses arguments and prints what this returns.

use super::saved::{self, ProfileError};
use super::{ImportError, ImportOptions, ImportSummary, import_csv, import_rows};
use crate::ingest::csv::open_input;
use crate::ingest::geojson::{read_geojson_reports, read_geojson_reports_adding};
use crate::ingest::mapping::{Mapping, PRESETS, slugify};
use crate::ingest::profile::{city_zone, derive_profile};
use crate::service::Hotspots;
use crate::store::Store;
use chrono_tz::Tz;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

/// What `hotspots import reports` was asked to do.
#[derive(Debug, Clone)]
pub struct ReportsRequest<'a> {
    pub file: &'a Path,
    /// Required for CSV; for GeoJSON only its `source` is used.
    pub mapping: Option<&'a Mapping>,
    /// `--profile FILE`: use this profile, save nothing, and refuse categories it lacks.
    pub profile_file: Option<&'a Path>,
    /// City name for a profile made from the file.
    pub city: Option<String>,
    /// `--time-zone`: the city's zone for a profile made from the file.
    pub time_zone: Option<Tz>,
    pub strict: bool,
    pub progress: bool,
}

impl<'a> ReportsRequest<'a> {
    /// A request for `file` with everything else left to the defaults.
    pub fn new(file: &'a Path) -> Self {
        Self {
            file,
            mapping: None,
            profile_file: None,
            city: None,
            time_zone: None,
            strict: false,
            progress: false,
        }
    }

    /// Refuses what cannot work before anything is opened: a CSV with no mapping.
    pub fn check(&self) -> Result<(), ImportError> {
        if self.mapping.is_none() && !is_geojson(self.file) {
            return Err(ImportError::NoMapping);
        }
        Ok(())
    }
}

/// The summary, and lines for the operator about the profile (made, extended).
#[derive(Debug, Clone)]
pub struct ReportsOutcome {
    pub summary: ImportSummary,
    pub notes: Vec<String>,
}

/// A mapping by preset name or TOML file path.
pub fn load_mapping(spec: &str) -> Result<Mapping, ImportError> {
    if let Some(m) = Mapping::preset(spec) {
        return Ok(m);
    }
    let text = std::fs::read_to_string(spec).map_err(|source| ImportError::Mapping {
        message: format!(
            "--mapping {spec:?} is neither a preset ({}) nor a readable mapping file: {source}",
            PRESETS.join(", ")
        ),
    })?;
    Mapping::from_toml(&text).map_err(|e| ImportError::Mapping {
        message: format!("{spec}: {e}"),
    })
}

fn is_geojson(file: &Path) -> bool {
    file.extension()
        .is_some_and(|e| e == "geojson" || e == "json")
}

/// Runs one import into `store` (see the module documentation).
pub async fn import_reports(
    store: Arc<dyn Store>,
    request: &ReportsRequest<'_>,
) -> Result<ReportsOutcome, ImportError> {
    request.check()?;
    let geojson = is_geojson(request.file);
    let fallback;
    let mapping = match request.mapping {
        Some(m) => m,
        None => {
            fallback = geojson_mapping(request.file);
            &fallback
        }
    };
    let mut notes = Vec::new();
    let saved = saved::saved(store.as_ref()).await?;
    let (profile, managed) = match (request.profile_file, saved) {
        (Some(path), _) => (saved::choose(None, Some(path)).await?, false),
        (None, Some(profile)) => (profile, true),
        (None, None) if geojson => (crate::config::CityProfile::hue(), false),
        (None, None) => {
            let name = request
                .city
                .clone()
                .unwrap_or_else(|| mapping.source.clone());
            let (zone, from) = city_zone(mapping, request.time_zone);
            let input = open_input(request.file).map_err(|source| ImportError::Open {
                path: request.file.display().to_string(),
                source,
            })?;
            let profile = derive_profile(input, mapping, &slugify(&name), &name, zone)?;
            saved::save(store.as_ref(), &profile).await?;
            notes.push(format!(
                "made a city profile for {name} from the data ({} categories, {} agencies, time zone {zone}: {from}); \
                 it is saved with the data (`hotspots profile export FILE` shows it)",
                profile.categories.len(),
                profile.agencies.len()
            ));
            (profile, true)
        }
    };
    // The command's own instance is dropped when the file is stored: nothing reads its index.
    let app = Hotspots::open_unindexed(store.clone(), profile).await?;
    let options = ImportOptions {
        strict: request.strict,
        progress: request.progress,
        add_new_categories: managed,
    };
    let summary = if geojson {
        let mut text = String::new();
        open_input(request.file)
            .and_then(|mut r| r.read_to_string(&mut text))
            .map_err(|source| ImportError::Open {
                path: request.file.display().to_string(),
                source,
            })?;
        let mut profile = app.profile().clone();
        let (rows, added) = if options.add_new_categories && !options.strict {
            read_geojson_reports_adding(&text, &mut profile, &mapping.source, &mapping.language)?
        } else {
            (
                read_geojson_reports(&text, &profile, &mapping.source)?,
                Vec::new(),
            )
        };
        let mut summary = import_rows(&app, rows, &options).await?;
        summary.new_categories = added;
        summary
    } else {
        import_csv(&app, request.file, mapping, &options).await?
    };
    if !summary.new_categories.is_empty() {
        let mut profile = app.profile().clone();
        summary.extend_profile(&mut profile);
        saved::save(store.as_ref(), &profile).await?;
    }
    Ok(ReportsOutcome { summary, notes })
}

/// GeoJSON needs no columns; its reports' `source` is the file's name without extensions.
fn geojson_mapping(file: &Path) -> Mapping {
    let stem = file
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.split('.').next())
        .map(slugify)
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "geojson".into());
    let toml = format!(
        "source = \"{stem}\"\n[columns]\ncategory = \"category\"\ncreated_at = \"created_at\"\n\
         [[coordinates]]\nkind = \"wkt\"\ncolumn = \"geometry\"\n"
    );
    Mapping::from_toml(&toml).expect("a slug as source makes a valid mapping")
}

impl From<ProfileError> for ImportError {
    fn from(e: ProfileError) -> Self {
        ImportError::Profile(e)
    }
}
