//! Metres from degrees: a local equirectangular projection centred on the city.
//!
//! At city scale (tens of km) it is within 0.1 % of geodesic distance, and it keeps lon/lat boxes
//! as boxes, so R-tree envelopes project exactly. Never measure in raw degrees.

/// Mean Earth radius in metres (IUGG), as used by the haversine formula.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Equirectangular projection about (`lon0`, `lat0`): x east and y north, in metres.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LocalProjection {
    lon0: f64,
    lat0: f64,
    metres_per_deg_x: f64,
    metres_per_deg_y: f64,
}

impl LocalProjection {
    pub fn new(lon0: f64, lat0: f64) -> Self {
        let metres_per_deg_y = EARTH_RADIUS_M.to_radians();
        Self {
            lon0,
            lat0,
            metres_per_deg_x: metres_per_deg_y * lat0.to_radians().cos(),
            metres_per_deg_y,
        }
    }

    /// Projects lon/lat degrees to local metres.
    ///
    /// ```
    /// let p = hotspots::projection::LocalProjection::new(107.59, 16.46);
    /// let [x, y] = p.to_metres(107.60, 16.46);
    /// assert!((x - 1066.7).abs() < 1.0 && y.abs() < 1e-9);
    /// ```
    pub fn to_metres(&self, lon: f64, lat: f64) -> [f64; 2] {
        [
            (lon - self.lon0) * self.metres_per_deg_x,
            (lat - self.lat0) * self.metres_per_deg_y,
        ]
    }

    pub fn to_degrees(&self, x_m: f64, y_m: f64) -> (f64, f64) {
        (
            self.lon0 + x_m / self.metres_per_deg_x,
            self.lat0 + y_m / self.metres_per_deg_y,
        )
    }

    /// Distance in metres between two lon/lat points, measured in this projection.
    pub fn distance_m(&self, a: (f64, f64), b: (f64, f64)) -> f64 {
        let [ax, ay] = self.to_metres(a.0, a.1);
        let [bx, by] = self.to_metres(b.0, b.1);
        (ax - bx).hypot(ay - by)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_haversine_at_city_scale() {
        use geo::{Distance, Haversine, Point};
        let p = LocalProjection::new(107.58, 16.46);
        let (a, b) = ((107.52, 16.42), (107.64, 16.50));
        let ours = p.distance_m(a, b);
        let reference = Haversine.distance(Point::new(a.0, a.1), Point::new(b.0, b.1));
        assert!(
            (ours - reference).abs() / reference < 1e-3,
            "{ours} vs {reference}"
        );
    }

    #[test]
    fn round_trips() {
        let p = LocalProjection::new(107.58, 16.46);
        let [x, y] = p.to_metres(107.61, 16.44);
        let (lon, lat) = p.to_degrees(x, y);
        assert!((lon - 107.61).abs() < 1e-12 && (lat - 16.44).abs() < 1e-12);
    }
}
