//! Queen contiguity: two wards are neighbours when their boundaries share at least one point.
//!
//! Boundaries digitised separately rarely share vertices exactly, so "share" allows a tolerance of
//! about a metre: a vertex of one ward within [`TOLERANCE_DEG`] of an edge of another.

use super::WardIx;
use geo_types::MultiPolygon;
use rstar::{AABB, PointDistance, RTree, primitives::GeomWithData, primitives::Line};

/// About 1.1 m of latitude.
pub const TOLERANCE_DEG: f64 = 1e-5;

type Segment = GeomWithData<Line<[f64; 2]>, WardIx>;

/// Neighbour lists, sorted, for wards `0..polygons.len()`.
pub fn queen(polygons: &[MultiPolygon<f64>]) -> Vec<Vec<WardIx>> {
    let segments: Vec<Segment> = polygons
        .iter()
        .enumerate()
        .flat_map(|(ix, mp)| {
            rings(mp).flat_map(move |ring| {
                ring.lines().map(move |l| {
                    let line = Line::new([l.start.x, l.start.y], [l.end.x, l.end.y]);
                    GeomWithData::new(line, ix as WardIx)
                })
            })
        })
        .collect();
    let tree = RTree::bulk_load(segments);
    let mut out = vec![Vec::new(); polygons.len()];
    for (ix, mp) in polygons.iter().enumerate() {
        let mut found: Vec<WardIx> = Vec::new();
        for c in rings(mp).flat_map(|r| r.coords()) {
            let near = AABB::from_corners(
                [c.x - TOLERANCE_DEG, c.y - TOLERANCE_DEG],
                [c.x + TOLERANCE_DEG, c.y + TOLERANCE_DEG],
            );
            for seg in tree.locate_in_envelope_intersecting(&near) {
                let other = seg.data;
                if other as usize != ix
                    && !found.contains(&other)
                    && seg.geom().distance_2(&[c.x, c.y]) <= TOLERANCE_DEG * TOLERANCE_DEG
                {
                    found.push(other);
                }
            }
        }
        out[ix] = found;
    }
    // Make the relation symmetric (a vertex of A near an edge of B, but not the reverse).
    for a in 0..out.len() {
        for b in out[a].clone() {
            if !out[b as usize].contains(&(a as WardIx)) {
                out[b as usize].push(a as WardIx);
            }
        }
    }
    for list in &mut out {
        list.sort_unstable();
    }
    out
}

fn rings(mp: &MultiPolygon<f64>) -> impl Iterator<Item = &geo_types::LineString<f64>> {
    mp.iter()
        .flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors()))
}
