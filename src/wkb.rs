//! A small WKB codec (OGC Simple Features, 2D) and the GeoPackage binary header around it.
//!
//! Only the shapes Hotspots stores cross the boundary: points (reports) and multipolygons (wards).
//! Reading accepts both byte orders, Polygon as well as MultiPolygon, and PostGIS EWKB's SRID flag.

use geo_types::{Coord, LineString, MultiPolygon, Polygon};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum WkbError {
    #[error("geometry blob ends early at byte {0}")]
    Truncated(usize),
    #[error("unsupported WKB geometry type {0}")]
    UnsupportedType(u32),
    #[error("not a GeoPackage geometry blob (bad magic or version)")]
    NotGeoPackage,
    #[error("bad WKB byte order marker {0}")]
    ByteOrder(u8),
}

const POINT: u32 = 1;
const POLYGON: u32 = 3;
const MULTIPOLYGON: u32 = 6;
const EWKB_SRID_FLAG: u32 = 0x2000_0000;

pub fn point(lon: f64, lat: f64) -> Vec<u8> {
    let mut out = Vec::with_capacity(21);
    out.push(1);
    out.extend_from_slice(&POINT.to_le_bytes());
    out.extend_from_slice(&lon.to_le_bytes());
    out.extend_from_slice(&lat.to_le_bytes());
    out
}

pub fn multipolygon(mp: &MultiPolygon<f64>) -> Vec<u8> {
    let mut out = vec![1];
    out.extend_from_slice(&MULTIPOLYGON.to_le_bytes());
    out.extend_from_slice(&(mp.0.len() as u32).to_le_bytes());
    for polygon in mp {
        out.push(1);
        out.extend_from_slice(&POLYGON.to_le_bytes());
        let rings: Vec<&LineString<f64>> = std::iter::once(polygon.exterior())
            .chain(polygon.interiors())
            .collect();
        out.extend_from_slice(&(rings.len() as u32).to_le_bytes());
        for ring in rings {
            out.extend_from_slice(&(ring.0.len() as u32).to_le_bytes());
            for c in ring.coords() {
                out.extend_from_slice(&c.x.to_le_bytes());
                out.extend_from_slice(&c.y.to_le_bytes());
            }
        }
    }
    out
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    little: bool,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], WkbError> {
        let slice = self
            .bytes
            .get(self.pos..self.pos + N)
            .ok_or(WkbError::Truncated(self.pos))?;
        self.pos += N;
        Ok(slice.try_into().expect("slice has length N"))
    }
    fn byte_order(&mut self) -> Result<(), WkbError> {
        match self.take::<1>()?[0] {
            0 => self.little = false,
            1 => self.little = true,
            b => return Err(WkbError::ByteOrder(b)),
        }
        Ok(())
    }
    fn u32(&mut self) -> Result<u32, WkbError> {
        let b = self.take::<4>()?;
        Ok(if self.little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    }
    fn f64(&mut self) -> Result<f64, WkbError> {
        let b = self.take::<8>()?;
        Ok(if self.little {
            f64::from_le_bytes(b)
        } else {
            f64::from_be_bytes(b)
        })
    }
    /// Reads byte order and type; skips an EWKB SRID.
    fn header(&mut self) -> Result<u32, WkbError> {
        self.byte_order()?;
        let raw = self.u32()?;
        if raw & EWKB_SRID_FLAG != 0 {
            self.u32()?;
        }
        Ok(raw & 0x0FFF_FFFF)
    }
    fn polygon(&mut self) -> Result<Polygon<f64>, WkbError> {
        let n_rings = self.u32()? as usize;
        let mut rings = Vec::with_capacity(n_rings.min(1024));
        for _ in 0..n_rings {
            let n = self.u32()? as usize;
            let mut coords = Vec::with_capacity(n.min(1 << 16));
            for _ in 0..n {
                coords.push(Coord {
                    x: self.f64()?,
                    y: self.f64()?,
                });
            }
            rings.push(LineString(coords));
        }
        let mut rings = rings.into_iter();
        let exterior = rings.next().unwrap_or_else(|| LineString(Vec::new()));
        Ok(Polygon::new(exterior, rings.collect()))
    }
}

/// Reads a WKB point as (lon, lat).
pub fn read_point(bytes: &[u8]) -> Result<(f64, f64), WkbError> {
    let mut r = Reader {
        bytes,
        pos: 0,
        little: true,
    };
    match r.header()? {
        POINT => Ok((r.f64()?, r.f64()?)),
        other => Err(WkbError::UnsupportedType(other)),
    }
}

/// Reads a WKB Polygon or MultiPolygon as a MultiPolygon.
pub fn read_multipolygon(bytes: &[u8]) -> Result<MultiPolygon<f64>, WkbError> {
    let mut r = Reader {
        bytes,
        pos: 0,
        little: true,
    };
    match r.header()? {
        POLYGON => Ok(MultiPolygon(vec![r.polygon()?])),
        MULTIPOLYGON => {
            let n = r.u32()? as usize;
            let mut polygons = Vec::with_capacity(n.min(1024));
            for _ in 0..n {
                match r.header()? {
                    POLYGON => polygons.push(r.polygon()?),
                    other => return Err(WkbError::UnsupportedType(other)),
                }
            }
            Ok(MultiPolygon(polygons))
        }
        other => Err(WkbError::UnsupportedType(other)),
    }
}

/// Wraps WKB in a GeoPackage geometry header (GeoPackage 1.3 §2.1.3), little-endian, with an
/// `[minx, maxx, miny, maxy]` envelope when one is given.
pub fn to_gpkg(wkb: &[u8], srs_id: i32, envelope: Option<[f64; 4]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + 32 + wkb.len());
    out.extend_from_slice(b"GP");
    out.push(0); // version 1
    let envelope_code: u8 = if envelope.is_some() { 1 } else { 0 };
    out.push((envelope_code << 1) | 1); // flags: envelope kind, little-endian
    out.extend_from_slice(&srs_id.to_le_bytes());
    for v in envelope.into_iter().flatten() {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(wkb);
    out
}

/// The WKB inside a GeoPackage geometry blob.
pub fn from_gpkg(blob: &[u8]) -> Result<&[u8], WkbError> {
    if blob.len() < 8 || &blob[..2] != b"GP" || blob[2] != 0 {
        return Err(WkbError::NotGeoPackage);
    }
    let envelope_len = match (blob[3] >> 1) & 0b111 {
        0 => 0,
        1 => 32,
        2 | 3 => 48,
        4 => 64,
        _ => return Err(WkbError::NotGeoPackage),
    };
    blob.get(8 + envelope_len..)
        .ok_or(WkbError::Truncated(blob.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo_types::polygon;

    #[test]
    fn point_round_trips_through_gpkg() {
        let blob = to_gpkg(&point(107.59, 16.46), 4326, None);
        assert_eq!(&blob[..4], &[b'G', b'P', 0, 1]);
        let wkb = from_gpkg(&blob).expect("valid header");
        assert_eq!(read_point(wkb), Ok((107.59, 16.46)));
    }

    #[test]
    fn multipolygon_round_trips_with_envelope() {
        let p = polygon![
            exterior: [(x: 0.0, y: 0.0), (x: 4.0, y: 0.0), (x: 4.0, y: 4.0), (x: 0.0, y: 4.0)],
            interiors: [[(x: 1.0, y: 1.0), (x: 2.0, y: 1.0), (x: 2.0, y: 2.0)]],
        ];
        let mp = MultiPolygon(vec![p]);
        let blob = to_gpkg(&multipolygon(&mp), 4326, Some([0.0, 4.0, 0.0, 4.0]));
        let back = read_multipolygon(from_gpkg(&blob).expect("header")).expect("wkb");
        assert_eq!(back, mp);
    }

    #[test]
    fn reads_big_endian_ewkb_with_srid() {
        // SRID=4326;POINT(1 2), big-endian EWKB as PostGIS can emit it.
        let mut b = vec![0u8];
        b.extend_from_slice(&(POINT | EWKB_SRID_FLAG).to_be_bytes());
        b.extend_from_slice(&4326u32.to_be_bytes());
        b.extend_from_slice(&1.0f64.to_be_bytes());
        b.extend_from_slice(&2.0f64.to_be_bytes());
        assert_eq!(read_point(&b), Ok((1.0, 2.0)));
        assert_eq!(read_point(&b[..10]), Err(WkbError::Truncated(9)));
    }
}
