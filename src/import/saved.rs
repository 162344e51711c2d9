//! The city profile saved with the data, and the rule that picks the profile a command uses:
//! `--profile FILE` if given, else the profile saved with the data, else Huế's (built in).
//!
//! The first import into a store that has no profile makes one from the file and saves it; later
//! imports add the categories they find to it. `hotspots profile export|import` round-trip it
//! through a TOML file, so a city fixes a deadline or a name once, not on every run.

use crate::config::{CityProfile, ConfigError};
use crate::store::{Store, StoreError};
use std::path::Path;

/// The key under which the city profile is saved with the data (as TOML).
pub const PROFILE_SETTING: &str = "profile";

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("the profile saved with the data: {0}")]
    Saved(ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "no city profile is saved with the data yet: the first `hotspots import reports` makes one, \
         or save one with `hotspots profile import FILE`"
    )]
    NoneSaved,
}

/// The profile saved with the data, if any. Profiles saved before categories had names per
/// language (`name_vi`, `name_en`) are read as well.
pub async fn saved(store: &dyn Store) -> Result<Option<CityProfile>, ProfileError> {
    match store.setting(PROFILE_SETTING).await? {
        Some(text) => Ok(Some(
            CityProfile::from_toml(&text).map_err(ProfileError::Saved)?,
        )),
        None => Ok(None),
    }
}

/// Saves `profile` with the data, replacing the one saved before.
pub async fn save(store: &dyn Store, profile: &CityProfile) -> Result<(), ProfileError> {
    store
        .save_setting(PROFILE_SETTING, &profile.to_toml())
        .await?;
    Ok(())
}

/// `explicit` (a `--profile` file) if given, else the profile saved in `store`, else Huế's.
pub async fn choose(
    store: Option<&dyn Store>,
    explicit: Option<&Path>,
) -> Result<CityProfile, ProfileError> {
    if let Some(path) = explicit {
        return Ok(CityProfile::load(path)?);
    }
    if let Some(store) = store
        && let Some(profile) = saved(store).await?
    {
        return Ok(profile);
    }
    Ok(CityProfile::hue())
}

/// `hotspots profile export FILE`: the saved profile as TOML.
pub async fn export(store: &dyn Store) -> Result<String, ProfileError> {
    saved(store)
        .await?
        .map(|p| p.to_toml())
        .ok_or(ProfileError::NoneSaved)
}

/// `hotspots profile import FILE`: checks the TOML and saves it in place of the saved profile.
/// Returns the profile saved.
pub async fn import(store: &dyn Store, toml: &str) -> Result<CityProfile, ProfileError> {
    let profile = CityProfile::from_toml(toml)?;
    save(store, &profile).await?;
    Ok(profile)
}
