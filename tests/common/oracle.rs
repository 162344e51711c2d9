//! Expected values computed apart from the code under test: which ward holds a point, by the
//! even-odd rule over the raw GeoJSON rings (not the crate's locator, R-tree or `geo`).

use serde_json::Value;

/// Ward polygons as plain rings, read from a GeoJSON FeatureCollection.
pub struct RawWards {
    wards: Vec<RawWard>,
}

struct RawWard {
    code: String,
    /// Every ring of every part: for polygons that do not overlap, a point is inside the
    /// multipolygon exactly when a ray from it crosses all of these an odd number of times.
    rings: Vec<Vec<(f64, f64)>>,
    bbox: (f64, f64, f64, f64),
}

impl RawWards {
    /// `code_of` gives a feature's ward code (e.g. its `id`, or a property such as `District_N`).
    pub fn from_geojson(collection: &Value, code_of: impl Fn(&Value) -> String) -> Self {
        let features = collection["features"]
            .as_array()
            .expect("a FeatureCollection");
        let wards = features
            .iter()
            .map(|f| {
                let rings = rings(&f["geometry"]);
                assert!(!rings.is_empty(), "feature without rings: {}", f["id"]);
                let points = rings.iter().flatten();
                let mut bbox = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
                for &(x, y) in points {
                    bbox = (bbox.0.min(x), bbox.1.min(y), bbox.2.max(x), bbox.3.max(y));
                }
                RawWard {
                    code: code_of(f),
                    rings,
                    bbox,
                }
            })
            .collect();
        Self { wards }
    }

    /// The code of the ward holding the point, `None` outside every ward. Panics when two wards
    /// claim the point (the fixture would be ambiguous).
    pub fn ward_of(&self, lon: f64, lat: f64) -> Option<&str> {
        let mut found = self.wards.iter().filter(|w| w.contains(lon, lat));
        let first = found.next().map(|w| w.code.as_str());
        let second = found.next();
        assert!(
            second.is_none(),
            "({lon}, {lat}) lies in {first:?} and {:?}",
            second.map(|w| &w.code)
        );
        first
    }

    pub fn codes(&self) -> impl Iterator<Item = &str> {
        self.wards.iter().map(|w| w.code.as_str())
    }
}

impl RawWard {
    fn contains(&self, x: f64, y: f64) -> bool {
        let (x0, y0, x1, y1) = self.bbox;
        if x < x0 || x > x1 || y < y0 || y > y1 {
            return false;
        }
        let mut inside = false;
        for ring in &self.rings {
            for (a, b) in ring.iter().zip(ring.iter().cycle().skip(1)) {
                // Does the edge a–b cross the horizontal ray going right from (x, y)?
                if (a.1 > y) != (b.1 > y) && x < (b.0 - a.0) * (y - a.1) / (b.1 - a.1) + a.0 {
                    inside = !inside;
                }
            }
        }
        inside
    }
}

fn rings(geometry: &Value) -> Vec<Vec<(f64, f64)>> {
    let polygons: Vec<&Value> = match geometry["type"].as_str() {
        Some("Polygon") => vec![&geometry["coordinates"]],
        Some("MultiPolygon") => geometry["coordinates"]
            .as_array()
            .expect("MultiPolygon coordinates")
            .iter()
            .collect(),
        other => panic!("not a polygon geometry: {other:?}"),
    };
    polygons
        .into_iter()
        .flat_map(|p| p.as_array().expect("polygon rings"))
        .map(|ring| {
            ring.as_array()
                .expect("ring positions")
                .iter()
                .map(|p| {
                    (
                        p[0].as_f64().expect("longitude"),
                        p[1].as_f64().expect("latitude"),
                    )
                })
                .collect()
        })
        .collect()
}
