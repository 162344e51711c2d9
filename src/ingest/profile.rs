//! A city profile derived from a 311 export itself, for a city Hotspots has no profile for yet:
//! the planner gives the file and its mapping, and gets bounds, categories, deadlines and agencies
//! to review and save as TOML.

use super::csv::{FileError, SourceRow, read_source_rows};
use super::mapping::Mapping;
use crate::config::{CityProfile, ConfigError};
pub use crate::config::{DEFAULT_DEADLINE_HOURS, UNASSIGNED_AGENCY};
use crate::model::{Agency, Bbox4326, Category};
use chrono_tz::Tz;
use std::collections::BTreeMap;
use std::io::Read;
use unicode_normalization::UnicodeNormalization;

/// Where a derived profile's city zone came from (see [`city_zone`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZoneSource {
    /// `--time-zone`.
    Flag,
    /// The mapping's `city_time_zone`.
    CityKey,
    /// The mapping's `file_time_zone` (the file is taken to be written in the city's zone).
    FileKey,
    /// Nothing said: UTC.
    Default,
}

impl std::fmt::Display for ZoneSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Flag => "from --time-zone",
            Self::CityKey => "from the mapping's city_time_zone",
            Self::FileKey => {
                "from the mapping's file_time_zone; pass --time-zone if the city's differs"
            }
            Self::Default => "nothing named one; pass --time-zone or set city_time_zone",
        })
    }
}

/// The city's zone for a profile derived from a file: `flag` (`--time-zone`), else the mapping's
/// `city_time_zone`, else its `file_time_zone`, else UTC.
pub fn city_zone(mapping: &Mapping, flag: Option<Tz>) -> (Tz, ZoneSource) {
    if let Some(zone) = flag {
        (zone, ZoneSource::Flag)
    } else if let Some(zone) = mapping.city_time_zone {
        (zone, ZoneSource::CityKey)
    } else if let Some(zone) = mapping.file_time_zone {
        (zone, ZoneSource::FileKey)
    } else {
        (chrono_tz::UTC, ZoneSource::Default)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DeriveError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error("no row could be read with the mapping (all {rejected} rejected)")]
    NoRows { rejected: usize },
    #[error("the derived profile is invalid: {0}")]
    Invalid(#[from] ConfigError),
}

/// What one category's rows tell.
#[derive(Default)]
struct CategoryStats {
    rows: usize,
    /// Source values mapped to this code, with their counts.
    names: BTreeMap<String, usize>,
    agencies: BTreeMap<String, usize>,
    due_hours: Vec<f64>,
}

/// Scans an export and derives a city profile from the rows the mapping can read:
/// - bounds: the 0.1 and 99.9 percentiles of longitude and latitude (so placeholder points and
///   strays do not stretch them), widened by 5 % of the span on each side (at least 0.01°);
/// - categories: one per mapped code, named after its most frequent source value (in both
///   the mapping's `language`); the deadline is the median of due − created, in whole hours, when
///   at least a tenth of the category's rows (and five or more) carry a due time, else
///   [`DEFAULT_DEADLINE_HOURS`]; the agency is the one most of its rows name, else
///   [`UNASSIGNED_AGENCY`];
/// - agencies: each agency code with its most frequent source name;
/// - time zone: `zone`, the city's (see [`city_zone`]); the file's naive times are read in the
///   mapping's `file_time_zone`, or in `zone` when it names none.
///
/// The result passes `CityProfile::from_toml(&profile.to_toml())`.
pub fn derive_profile<R: Read>(
    input: R,
    mapping: &Mapping,
    city_code: &str,
    city_name: &str,
    zone: Tz,
) -> Result<CityProfile, DeriveError> {
    let (mut lons, mut lats) = (Vec::new(), Vec::new());
    let mut categories: BTreeMap<String, CategoryStats> = BTreeMap::new();
    let mut agency_names: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    let mut rejected = 0;
    for row in read_source_rows(input, mapping, zone)?.without_attributes() {
        let Ok(SourceRow {
            report,
            source_category,
            source_agency,
            ..
        }) = row
        else {
            rejected += 1;
            continue;
        };
        lons.push(report.lon.get());
        lats.push(report.lat.get());
        let stats = categories.entry(report.category.clone()).or_default();
        stats.rows += 1;
        // One name whether the file spells "ü" composed or decomposed (ASCII is NFC already).
        let name = if source_category.is_ascii() {
            source_category
        } else {
            source_category.nfc().collect()
        };
        *stats.names.entry(name).or_default() += 1;
        if let (Some(code), Some(name)) = (report.agency, source_agency) {
            *stats.agencies.entry(code.clone()).or_default() += 1;
            *agency_names
                .entry(code)
                .or_default()
                .entry(name)
                .or_default() += 1;
        }
        if let Some(due) = report.due_at {
            stats
                .due_hours
                .push((due - report.created_at).num_seconds() as f64 / 3600.0);
        }
    }
    if lons.is_empty() {
        return Err(DeriveError::NoRows { rejected });
    }
    let (min_lon, max_lon) = robust_range(&mut lons, 180.0);
    let (min_lat, max_lat) = robust_range(&mut lats, 90.0);
    let bounds = Bbox4326::new(min_lon, min_lat, max_lon, max_lat)
        .map_err(|e| ConfigError::Invalid(e.to_string()))?;

    let categories: Vec<Category> = categories
        .into_iter()
        .map(|(code, stats)| {
            let name = most_frequent(&stats.names).unwrap_or(&code).to_string();
            Category {
                deadline_hours: deadline_hours(&stats),
                agency: most_frequent(&stats.agencies)
                    .unwrap_or(UNASSIGNED_AGENCY)
                    .to_string(),
                names: BTreeMap::from([(mapping.language.clone(), name)]),
                code,
            }
        })
        .collect();
    let mut agencies: Vec<Agency> = agency_names
        .iter()
        .map(|(code, names)| Agency {
            code: code.clone(),
            name: most_frequent(names).unwrap_or(code).to_string(),
        })
        .collect();
    if categories.iter().any(|c| c.agency == UNASSIGNED_AGENCY)
        && !agencies.iter().any(|a| a.code == UNASSIGNED_AGENCY)
    {
        agencies.push(Agency {
            code: UNASSIGNED_AGENCY.into(),
            name: "Unassigned".into(),
        });
    }
    let profile = CityProfile {
        code: city_code.to_string(),
        name: city_name.to_string(),
        time_zone: zone,
        bounds,
        agencies,
        categories,
        demo: None,
    };
    Ok(CityProfile::from_toml(&profile.to_toml())?)
}

/// The 0.1–99.9 percentile range of `values` (nearest rank), widened by 5 % of the span on each
/// side and at least 0.01°, kept within ±`limit`.
fn robust_range(values: &mut [f64], limit: f64) -> (f64, f64) {
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    let (lo, hi) = (at(0.001), at(0.999));
    let margin = ((hi - lo) * 0.05).max(0.01);
    ((lo - margin).max(-limit), (hi + margin).min(limit))
}

fn deadline_hours(stats: &CategoryStats) -> u32 {
    let n = stats.due_hours.len();
    if n < 5 || n * 10 < stats.rows {
        return DEFAULT_DEADLINE_HOURS;
    }
    let mut hours = stats.due_hours.clone();
    hours.sort_by(f64::total_cmp);
    let median = if n % 2 == 1 {
        hours[n / 2]
    } else {
        (hours[n / 2 - 1] + hours[n / 2]) / 2.0
    };
    // Saturating float-to-int cast; a deadline under an hour is rounded up to one.
    (median.round() as u32).max(1)
}

/// The key with the highest count; the first in key order on ties, so results are stable.
fn most_frequent(counts: &BTreeMap<String, usize>) -> Option<&str> {
    let mut best: Option<(&str, usize)> = None;
    for (key, &n) in counts {
        if best.is_none_or(|(_, m)| n > m) {
            best = Some((key, n));
        }
    }
    best.map(|(key, _)| key)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: &str = "\
id,type,opened,due,dept,lat,lon
1,Pothole,2024-01-01 08:00:00,2024-01-02 08:00:00,Streets Dept,41.80,-87.70
2,Pothole,2024-01-01 09:00:00,2024-01-02 11:00:00,Streets Dept,41.90,-87.60
3,Pothole,2024-01-01 10:00:00,2024-01-02 10:00:00,Streets Dept,41.85,-87.65
4,Pothole,2024-01-01 11:00:00,2024-01-02 09:00:00,Streets Dept,41.86,-87.66
5,Pothole,2024-01-01 12:00:00,2024-01-02 12:00:00,Streets Dept,41.87,-87.67
6,Graffiti,2024-01-01 12:00:00,,,41.88,-87.68
7,Graffiti,2024-01-01 12:00:00,,,0,0
";

    fn mapping() -> Mapping {
        Mapping::from_toml(
            "source = \"t\"\nfile_time_zone = \"America/Chicago\"\ncategory_default_slug = true\n\
             [columns]\nexternal_id = \"id\"\ncategory = \"type\"\ncreated_at = \"opened\"\ndue_at = \"due\"\nagency = \"dept\"\n\
             [[coordinates]]\nkind = \"lat_lon\"\nlat = \"lat\"\nlon = \"lon\"\n",
        )
        .expect("valid mapping")
    }

    #[test]
    fn derives_deadlines_agencies_and_bounds() {
        let (zone, from) = city_zone(&mapping(), None);
        assert_eq!(from, ZoneSource::FileKey);
        let p = derive_profile(CSV.as_bytes(), &mapping(), "test", "Test City", zone)
            .expect("derivable");
        assert_eq!(p.time_zone, chrono_tz::America::Chicago);
        let pothole = p.category("pothole").expect("pothole");
        assert_eq!(
            (pothole.name("en"), pothole.deadline_hours),
            ("Pothole", 24)
        );
        assert_eq!(pothole.agency, "streets-dept");
        let graffiti = p.category("graffiti").expect("graffiti");
        assert_eq!(
            (graffiti.deadline_hours, graffiti.agency.as_str()),
            (72, UNASSIGNED_AGENCY)
        );
        assert_eq!(
            p.agency("streets-dept").map(|a| a.name.as_str()),
            Some("Streets Dept")
        );
        assert!(p.bounds.contains(-87.70, 41.80) && p.bounds.contains(-87.60, 41.90));
        assert!(!p.bounds.contains(0.0, 0.0));
        assert_eq!(CityProfile::from_toml(&p.to_toml()).ok(), Some(p));
    }

    #[test]
    fn without_a_zone_the_city_is_utc_and_rows_are_needed() {
        let no_zone = Mapping {
            file_time_zone: None,
            ..mapping()
        };
        assert_eq!(
            city_zone(&no_zone, None),
            (chrono_tz::UTC, ZoneSource::Default)
        );
        let berlin = chrono_tz::Europe::Berlin;
        assert_eq!(
            city_zone(&no_zone, Some(berlin)),
            (berlin, ZoneSource::Flag)
        );
        let p = derive_profile(CSV.as_bytes(), &no_zone, "t", "T", chrono_tz::UTC)
            .expect("a file without file_time_zone derives a profile");
        assert_eq!(p.time_zone, chrono_tz::UTC);
        let header_only = "id,type,opened,due,dept,lat,lon\n";
        assert!(matches!(
            derive_profile(header_only.as_bytes(), &mapping(), "t", "T", chrono_tz::UTC),
            Err(DeriveError::NoRows { rejected: 0 })
        ));
    }
}
