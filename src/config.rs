//! The city profile: name, time zone, bounds, categories and agencies, read from TOML.
//!
//! Huế's profile is embedded in the binary (`data/hue/profile.toml`), so the demo needs no files.

use crate::model::{Agency, Bbox4326, Category, InvalidValue, slug};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Huế's profile, as committed in `data/hue/profile.toml`.
pub const HUE_PROFILE_TOML: &str = include_str!("../data/hue/profile.toml");

/// Deadline of a category nothing says more about (found in the data without due times).
pub const DEFAULT_DEADLINE_HOURS: u32 = 72;
/// Agency code of categories whose rows name no agency.
pub const UNASSIGNED_AGENCY: &str = "unassigned";

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
    /// The city's own zone: days, weeks and months are cut in it. (How a source file's naive
    /// timestamps are read is the import mapping's `file_time_zone`, a different setting.)
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

    /// The category `text` names: its code, or any of its names or their spellings (see
    /// [`Category::answers_to`]). An exact code wins over a name. The error names the field
    /// `category` and lists every valid code. API filters, submissions and imports all resolve
    /// category words here.
    pub fn resolve_category(&self, text: &str) -> Result<&Category, InvalidValue> {
        self.category(text)
            .or_else(|| self.categories.iter().find(|c| c.answers_to(text)))
            .ok_or_else(|| self.unknown_category(text))
    }

    /// The error for a category word that names no category: it lists the valid codes.
    pub fn unknown_category(&self, text: &str) -> InvalidValue {
        let codes: Vec<&str> = self.categories.iter().map(|c| c.code.as_str()).collect();
        InvalidValue::new(
            "category",
            format!(
                "unknown category {text:?}; valid codes: {} (a category's name in any language works too; see /api/v1/categories)",
                codes.join(", ")
            ),
        )
    }

    /// Adds a category found in the data, named `name` in `language`, with the default deadline
    /// and the `unassigned` agency (added too when the profile lists agencies). Its code is the
    /// [`slug`] of `code`. Returns the code, or `None` when that code is taken or empty.
    pub fn add_category(&mut self, code: &str, language: &str, name: &str) -> Option<String> {
        let code = slug(code);
        if code.is_empty() || self.category(&code).is_some() {
            return None;
        }
        if !self.agencies.is_empty() && self.agency(UNASSIGNED_AGENCY).is_none() {
            self.agencies.push(Agency {
                code: UNASSIGNED_AGENCY.into(),
                name: "Unassigned".into(),
            });
        }
        self.categories.push(Category {
            code: code.clone(),
            names: BTreeMap::from([(language.to_string(), name.to_string())]),
            deadline_hours: DEFAULT_DEADLINE_HOURS,
            agency: UNASSIGNED_AGENCY.into(),
        });
        Some(code)
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
        for (i, c) in self.categories.iter().enumerate() {
            if self.categories[..i].iter().any(|o| o.code == c.code) {
                return Err(ConfigError::Invalid(format!(
                    "category code {} appears twice",
                    c.code
                )));
            }
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

    #[test]
    fn categories_resolve_by_code_or_any_name_and_errors_list_the_codes() {
        let p = CityProfile::hue();
        let code = |t: &str| p.resolve_category(t).map(|c| c.code.as_str()).ok();
        assert_eq!(code("flooding"), Some("flooding"));
        assert_eq!(code("Ngập úng"), Some("flooding"));
        // The same name typed with decomposed diacritics (NFD) and in capitals.
        assert_eq!(code("NGA\u{323}\u{302}P U\u{301}NG"), Some("flooding"));
        assert_eq!(code("Broken street light"), Some("streetlight"));
        assert_eq!(code("Water-Supply"), Some("water_supply"));
        let err = p.resolve_category("volcano").expect_err("unknown");
        assert_eq!(err.field, "category");
        assert!(err.message.contains("garbage, pothole, flooding"), "{err}");
    }

    #[test]
    fn found_categories_join_with_defaults() {
        let mut p = CityProfile::hue();
        assert_eq!(
            p.add_category("Sperrmüll", "de", "Sperrmüll").as_deref(),
            Some("sperrmuell")
        );
        assert_eq!(p.add_category("sperrmuell", "de", "x"), None);
        let c = p.resolve_category("SPERRMÜLL").expect("added");
        assert_eq!(
            (c.deadline_hours, c.agency.as_str()),
            (72, UNASSIGNED_AGENCY)
        );
        assert!(p.agency(UNASSIGNED_AGENCY).is_some());
        assert_eq!(CityProfile::from_toml(&p.to_toml()).ok(), Some(p));
    }
}
