//! The seeded demo city: Huế's synthetic wards and two years of synthetic reports.
//!
//! Deterministic: the same profile and seed give byte-identical output (see the tests), so demos,
//! screenshots and analytics fixtures can be reproduced anywhere.

mod reports;
mod wards;

use crate::config::{CityProfile, DemoSettings};
use crate::model::{NewReport, Ward};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

/// The generated city.
pub struct DemoCity {
    pub wards: Vec<Ward>,
    pub reports: Vec<NewReport>,
}

/// Generates wards and reports from the profile's `[demo]` settings (or Huế's defaults).
pub fn generate(profile: &CityProfile) -> DemoCity {
    let settings = profile.demo.clone().unwrap_or_else(|| DemoSettings {
        seed: 20241,
        start: chrono::NaiveDate::from_ymd_opt(2024, 11, 27).expect("valid date"),
        days: 730,
        reports_per_day: 40.0,
    });
    let mut rng = ChaCha8Rng::seed_from_u64(settings.seed);
    let mut wards = wards::generate(&profile.bounds, &mut rng);
    for w in &mut wards {
        w.area_km2 = (crate::wards::area_km2(&w.geometry) * 1000.0).round() / 1000.0;
    }
    let reports = reports::generate(profile, &settings, &mut rng);
    DemoCity { wards, reports }
}

/// The reports as a GeoJSON FeatureCollection (reporter contacts left out), for inspection and
/// for checking that generation is deterministic.
pub fn reports_geojson(reports: &[NewReport]) -> Value {
    let features: Vec<Value> = reports
        .iter()
        .map(|r| {
            json!({
                "type": "Feature",
                "geometry": { "type": "Point", "coordinates": [r.lon.get(), r.lat.get()] },
                "properties": {
                    "external_id": r.external_id, "category": r.category, "description": r.description,
                    "address": r.address, "agency": r.agency, "status": r.status,
                    "created_at": r.created_at, "due_at": r.due_at, "resolved_at": r.resolved_at,
                    "satisfaction": r.satisfaction.map(|s| s.get()), "channel": r.channel,
                }
            })
        })
        .collect();
    json!({ "type": "FeatureCollection", "features": features })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wards::{WardFields, WardSet, load_geojson, wards_to_geojson};

    #[test]
    fn same_seed_gives_identical_output_and_another_seed_does_not() {
        let profile = CityProfile::hue();
        let (a, b) = (generate(&profile), generate(&profile));
        let text = |c: &DemoCity| {
            (
                wards_to_geojson(&c.wards).to_string(),
                reports_geojson(&c.reports).to_string(),
            )
        };
        assert_eq!(text(&a), text(&b));
        let mut other = profile.clone();
        if let Some(d) = other.demo.as_mut() {
            d.seed += 1;
        }
        assert_ne!(text(&a).1, text(&generate(&other)).1);
    }

    #[test]
    fn committed_ward_file_is_the_generator_output() {
        let city = generate(&CityProfile::hue());
        let committed = include_str!("../../data/hue/wards.geojson");
        let expected = serde_json::to_string(&wards_to_geojson(&city.wards)).expect("json");
        assert_eq!(
            committed.trim_end(),
            expected,
            "regenerate with `hotspots demo --write-data data/hue`"
        );
        let loaded = load_geojson(committed, &WardFields::default()).expect("loads");
        assert_eq!(loaded.len(), 30);
    }

    #[test]
    fn city_looks_like_huế() {
        let city = generate(&CityProfile::hue());
        let set = WardSet::new(city.wards.clone()).expect("valid wards");
        assert_eq!(set.len(), 30);
        // A partition: every report lands in a ward, and wards have 2–8 neighbours.
        assert!(
            city.reports
                .iter()
                .all(|r| set.locate(r.lon.get(), r.lat.get()).is_some())
        );
        assert!((0..30).all(|i| (2..=8).contains(&set.neighbours(i).len())));
        let per_day = city.reports.len() as f64 / 730.0;
        assert!((35.0..45.0).contains(&per_day), "{per_day} reports a day");
        // Flooding is a rainy-season problem.
        let flooding = |months: &[u32]| {
            city.reports
                .iter()
                .filter(|r| r.category == "flooding")
                .filter(|r| months.contains(&chrono::Datelike::month(&r.created_at)))
                .count()
        };
        assert!(flooding(&[9, 10, 11, 12]) > 5 * flooding(&[1, 2, 3, 4]));
    }
}
