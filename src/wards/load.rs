//! Wards from and to GeoJSON FeatureCollections.

use super::WardError;
use crate::model::Ward;
use geo_types::{Geometry, MultiPolygon};
use serde_json::{Map, Value, json};

/// Which feature properties hold the ward's code, name and population.
#[derive(Debug, Clone, PartialEq)]
pub struct WardFields {
    /// Property with the ward's code; `None` uses the feature's `id`.
    pub id: Option<String>,
    /// Property with the name; `None` uses the code.
    pub name: Option<String>,
    pub population: Option<String>,
}

impl Default for WardFields {
    /// The fields Hotspots itself writes: `id`, `name`, `population`.
    fn default() -> Self {
        Self {
            id: Some("id".into()),
            name: Some("name".into()),
            population: Some("population".into()),
        }
    }
}

/// Reads wards from a GeoJSON FeatureCollection of Polygons or MultiPolygons in lon/lat degrees.
pub fn load_geojson(text: &str, fields: &WardFields) -> Result<Vec<Ward>, WardError> {
    let collection: geojson::FeatureCollection = text
        .parse()
        .map_err(|e: geojson::Error| WardError::Json(e.to_string()))?;
    collection
        .features
        .iter()
        .enumerate()
        .map(|(index, feature)| {
            let fail = |message: String| WardError::Feature { index, message };
            let props = feature.properties.clone().unwrap_or_default();
            let code = match &fields.id {
                Some(field) => props.get(field).and_then(scalar_text),
                None => feature.id.as_ref().map(|id| match id {
                    geojson::feature::Id::String(s) => s.clone(),
                    geojson::feature::Id::Number(n) => n.to_string(),
                }),
            }
            .ok_or_else(|| {
                fail(format!(
                    "no ward code in {:?}",
                    fields.id.as_deref().unwrap_or("id")
                ))
            })?;
            let name = fields
                .name
                .as_ref()
                .and_then(|f| props.get(f))
                .and_then(scalar_text)
                .unwrap_or_else(|| code.clone());
            let population = match fields.population.as_ref().and_then(|f| props.get(f)) {
                None | Some(Value::Null) => None,
                Some(v) => Some(
                    population(v).ok_or_else(|| fail(format!("population {v} is not a count")))?,
                ),
            };
            let geometry = feature
                .geometry
                .as_ref()
                .ok_or_else(|| fail("feature has no geometry".into()))?;
            let geometry = match Geometry::<f64>::try_from(geometry) {
                Ok(Geometry::Polygon(p)) => MultiPolygon(vec![p]),
                Ok(Geometry::MultiPolygon(mp)) => mp,
                Ok(_) => return Err(fail("geometry must be a Polygon or MultiPolygon".into())),
                Err(e) => return Err(fail(e.to_string())),
            };
            Ok(Ward {
                code,
                name,
                geometry,
                area_km2: 0.0,
                population,
            })
        })
        .collect()
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn population(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f.round() as u64)),
        Value::String(s) => s.trim().replace(',', "").parse().ok(),
        _ => None,
    }
}

/// A ward's geometry as a GeoJSON geometry object, coordinates rounded to 1e-7° (about 1 cm).
pub fn multipolygon_json(mp: &MultiPolygon<f64>) -> Value {
    let round = |v: f64| (v * 1e7).round() / 1e7;
    let polygons: Vec<Value> = mp
        .iter()
        .map(|p| {
            let rings: Vec<Value> = std::iter::once(p.exterior())
                .chain(p.interiors())
                .map(|r| {
                    r.coords()
                        .map(|c| json!([round(c.x), round(c.y)]))
                        .collect()
                })
                .collect();
            Value::Array(rings)
        })
        .collect();
    json!({ "type": "MultiPolygon", "coordinates": polygons })
}

/// Wards as a FeatureCollection with `id`, `name`, `area_km2` and `population` properties, the
/// layout [`WardFields::default`] reads back.
pub fn wards_to_geojson(wards: &[Ward]) -> Value {
    let features: Vec<Value> = wards
        .iter()
        .map(|w| {
            let mut props = Map::new();
            props.insert("id".into(), json!(w.code));
            props.insert("name".into(), json!(w.name));
            props.insert(
                "area_km2".into(),
                json!((w.area_km2 * 1000.0).round() / 1000.0),
            );
            props.insert("population".into(), json!(w.population));
            json!({
                "type": "Feature",
                "id": w.code,
                "properties": props,
                "geometry": multipolygon_json(&w.geometry),
            })
        })
        .collect();
    json!({ "type": "FeatureCollection", "features": features })
}
