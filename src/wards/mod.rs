//! Ward boundaries: load and repair them, find the ward of a point, and know which wards touch.
//!
//! A [`WardSet`] is immutable: replacing the wards builds a new set (and re-assigns reports).

mod load;
mod locate;
mod neighbours;

pub use load::{WardFields, load_geojson, multipolygon_json, wards_to_geojson};
pub use locate::Locator;

use crate::model::Ward;
use crate::projection::LocalProjection;
use geo::{Area, BoundingRect, Orient, orient::Direction};
use geo_types::MultiPolygon;
use std::collections::HashMap;

#[derive(Debug, thiserror::Error)]
pub enum WardError {
    #[error("ward file is not valid GeoJSON: {0}")]
    Json(String),
    #[error("feature {index}: {message}")]
    Feature { index: usize, message: String },
    #[error("ward {code}: {message}")]
    Invalid { code: String, message: String },
    #[error("ward code {0} appears twice")]
    Duplicate(String),
    #[error("too many wards: {0} (at most 65,534)")]
    TooMany(usize),
}

/// Index of a ward inside one [`WardSet`]. Only meaningful with that set.
pub type WardIx = u16;

/// Wards sorted by code, with a point locator and queen-contiguity neighbours.
#[derive(Debug, Clone)]
pub struct WardSet {
    wards: Vec<Ward>,
    by_code: HashMap<String, WardIx>,
    locator: Locator,
    neighbours: Vec<Vec<WardIx>>,
}

impl WardSet {
    /// Validates the wards, orients rings as RFC 7946 asks (exterior counter-clockwise, holes
    /// clockwise), computes areas and builds the locator and neighbour lists.
    pub fn new(mut wards: Vec<Ward>) -> Result<Self, WardError> {
        if wards.len() >= u16::MAX as usize {
            return Err(WardError::TooMany(wards.len()));
        }
        wards.sort_by(|a, b| a.code.cmp(&b.code));
        let mut by_code = HashMap::with_capacity(wards.len());
        for (i, ward) in wards.iter_mut().enumerate() {
            repair(ward)?;
            if by_code.insert(ward.code.clone(), i as WardIx).is_some() {
                return Err(WardError::Duplicate(ward.code.clone()));
            }
        }
        let polygons: Vec<MultiPolygon<f64>> = wards.iter().map(|w| w.geometry.clone()).collect();
        Ok(Self {
            locator: Locator::new(&polygons),
            neighbours: neighbours::queen(&polygons),
            wards,
            by_code,
        })
    }

    pub fn empty() -> Self {
        Self::new(Vec::new()).expect("an empty ward set is valid")
    }

    /// The ward containing the point, if any. See [`Locator`] for how boundaries are settled.
    pub fn locate(&self, lon: f64, lat: f64) -> Option<WardIx> {
        self.locator.locate(lon, lat)
    }

    pub fn locate_code(&self, lon: f64, lat: f64) -> Option<&str> {
        self.locate(lon, lat)
            .map(|i| self.wards[i as usize].code.as_str())
    }

    pub fn get(&self, ix: WardIx) -> &Ward {
        &self.wards[ix as usize]
    }

    pub fn index_of(&self, code: &str) -> Option<WardIx> {
        self.by_code.get(code).copied()
    }

    /// Wards sharing at least one boundary point with ward `ix` (queen contiguity).
    pub fn neighbours(&self, ix: WardIx) -> &[WardIx] {
        &self.neighbours[ix as usize]
    }

    pub fn wards(&self) -> &[Ward] {
        &self.wards
    }

    pub fn len(&self) -> usize {
        self.wards.len()
    }

    pub fn is_empty(&self) -> bool {
        self.wards.is_empty()
    }

    pub fn locator(&self) -> &Locator {
        &self.locator
    }
}

fn repair(ward: &mut Ward) -> Result<(), WardError> {
    let invalid = |message: &str| WardError::Invalid {
        code: ward.code.clone(),
        message: message.to_string(),
    };
    if ward.code.trim().is_empty() {
        return Err(invalid("empty code"));
    }
    let finite = ward
        .geometry
        .iter()
        .flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors()))
        .flat_map(|r| r.coords())
        .all(|c| c.x.is_finite() && c.y.is_finite() && c.x.abs() <= 180.0 && c.y.abs() <= 90.0);
    if !finite {
        return Err(invalid("coordinates must be finite lon/lat degrees"));
    }
    // Drop degenerate parts (fewer than 3 distinct points) instead of failing the whole file.
    ward.geometry.0.retain(|p| p.exterior().0.len() >= 4);
    if ward.geometry.0.is_empty() || ward.geometry.unsigned_area() == 0.0 {
        return Err(invalid("polygon has no area"));
    }
    ward.geometry = ward.geometry.orient(Direction::Default);
    ward.area_km2 = area_km2(&ward.geometry);
    Ok(())
}

/// Area in km², in a local projection centred on the polygon (within 0.1 % at ward scale).
pub fn area_km2(geometry: &MultiPolygon<f64>) -> f64 {
    let Some(rect) = geometry.bounding_rect() else {
        return 0.0;
    };
    let centre = rect.center();
    let projection = LocalProjection::new(centre.x, centre.y);
    let projected: MultiPolygon<f64> = geo::MapCoords::map_coords(geometry, |c| {
        let [x, y] = projection.to_metres(c.x, c.y);
        geo_types::Coord { x, y }
    });
    projected.unsigned_area() / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo_types::polygon;

    fn ward(code: &str, x: f64) -> Ward {
        // Clockwise on purpose: the set must re-orient it.
        let p = polygon![(x: x, y: 0.0), (x: x, y: 0.01), (x: x + 0.01, y: 0.01), (x: x + 0.01, y: 0.0)];
        Ward {
            code: code.into(),
            name: format!("Phường {code}"),
            geometry: MultiPolygon(vec![p]),
            area_km2: 0.0,
            population: None,
        }
    }

    #[test]
    fn builds_sorted_oriented_with_area_and_neighbours() {
        let set = WardSet::new(vec![ward("b", 0.01), ward("a", 0.0), ward("c", 0.05)])
            .expect("valid wards");
        assert_eq!(set.get(0).code, "a");
        let area = set.get(0).area_km2;
        // 0.01° × 0.01° at the equator is about 1.236 km².
        assert!((area - 1.2364).abs() < 0.01, "area {area}");
        assert_eq!(set.neighbours(0), &[1]);
        assert!(set.neighbours(2).is_empty());
        assert_eq!(set.locate_code(0.005, 0.005), Some("a"));
        assert_eq!(set.locate_code(0.015, 0.005), Some("b"));
    }

    #[test]
    fn rejects_duplicates_and_empty_shapes() {
        assert!(matches!(
            WardSet::new(vec![ward("a", 0.0), ward("a", 1.0)]),
            Err(WardError::Duplicate(_))
        ));
        let mut flat = ward("f", 0.0);
        flat.geometry = MultiPolygon(vec![
            polygon![(x: 0.0, y: 0.0), (x: 1.0, y: 0.0), (x: 2.0, y: 0.0)],
        ]);
        assert!(WardSet::new(vec![flat]).is_err());
    }
}
