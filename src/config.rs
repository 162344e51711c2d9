//! The city profile: name, time zone, bounds, categories and agencies, read from TOML.
//!
//! Huế's profile is embedded in the binary (`data/hue/profile.toml`), so the demo needs no files.

use crate::model::{Agency, Bbox4326, Category};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Huế's profile, as committed in `data/hue/profile.toml`.
pub const HUE_PROFILE_TOML: &str = include_str!("../data/hue/profile.toml");

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading profile {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("profile is not valid TOML: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("profile: {0}")]
    Invalid(String),
}

/// Settings of the seeded demo city generator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DemoSettings {
    pub seed: u64,
    /// First day of generated reports, `YYYY-MM-DD` in the city's zone.
    pub start: chrono::NaiveDate,
    pub days: u32,
    pub reports_per_day: f64,
}

/// One city's settings. Categories and agencies are the vocabulary reports are checked against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CityProfile {
    pub code: String,
    pub name: String,
    pub time_zone: chrono_tz::Tz,
    pub bounds: Bbox4326,
    #[serde(default)]
    pub agencies: Vec<Agency>,
    #[serde(default)]
    pub categories: Vec<Category>,
    #[serde(default)]
    pub demo: Option<DemoSettings>,
}

impl CityProfile {
    pub fn hue() -> Self {
        Self::from_toml(HUE_PROFILE_TOML).expect("the embedded Huế profile is valid (tested)")
    }

    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let profile: CityProfile = toml::from_str(text)?;
        profile.check()?;
        Ok(profile)
    }

    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml(&text)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a profile always serialises to TOML")
    }

    pub fn category(&self, code: &str) -> Option<&Category> {
        self.categories.iter().find(|c| c.code == code)
    }

    pub fn agency(&self, code: &str) -> Option<&Agency> {
        self.agencies.iter().find(|a| a.code == code)
    }

    fn check(&self) -> Result<(), ConfigError> {
        Bbox4326::new(
            self.bounds.min_lon,
            self.bounds.min_lat,
            self.bounds.max_lon,
            self.bounds.max_lat,
        )
        .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        for c in &self.categories {
            if !self.agencies.is_empty() && self.agency(&c.agency).is_none() {
                return Err(ConfigError::Invalid(format!(
                    "category {} names unknown agency {}",
                    c.code, c.agency
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_hue_profile_is_valid() {
        let p = CityProfile::hue();
        assert_eq!(p.time_zone, chrono_tz::Asia::Ho_Chi_Minh);
        assert!(p.categories.len() >= 6);
        assert!(p.category("flooding").is_some());
        assert_eq!(CityProfile::from_toml(&p.to_toml()).ok(), Some(p));
    }
}
