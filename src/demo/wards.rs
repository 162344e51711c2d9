//! Thirty synthetic ward polygons over Huế.
//!
//! The names are real wards of Huế; the **shapes are synthetic**: a 6 × 5 grid over the city's
//! bounds whose inner corners are jittered and whose edges wiggle, so that wards have a few hundred
//! vertices like real boundaries. Neighbouring wards share their edge vertex for vertex, so the set
//! is a clean partition (no gaps, no overlaps).

use crate::model::{Bbox4326, Ward};
use geo_types::{Coord, LineString, MultiPolygon, Polygon};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;

const COLS: usize = 6;
const ROWS: usize = 5;
/// Vertices added along each side of a grid cell.
const STEPS_PER_SIDE: usize = 60;

/// (code, name, population) — populations are synthetic too, in the range of Huế's wards.
const NAMES: [(&str, &str); COLS * ROWS] = [
    ("huong-so", "Hương Sơ"),
    ("an-hoa", "An Hòa"),
    ("huong-vinh", "Hương Vinh"),
    ("phu-hau", "Phú Hậu"),
    ("phu-cat", "Phú Cát"),
    ("phu-hiep", "Phú Hiệp"),
    ("huong-long", "Hương Long"),
    ("kim-long", "Kim Long"),
    ("thuan-loc", "Thuận Lộc"),
    ("tay-loc", "Tây Lộc"),
    ("dong-ba", "Đông Ba"),
    ("gia-hoi", "Gia Hội"),
    ("thuy-bieu", "Thủy Biều"),
    ("phu-thuan", "Phú Thuận"),
    ("thuan-hoa", "Thuận Hòa"),
    ("thuan-thanh", "Thuận Thành"),
    ("phu-binh", "Phú Bình"),
    ("vy-da", "Vỹ Dạ"),
    ("thuy-xuan", "Thủy Xuân"),
    ("phuong-duc", "Phường Đúc"),
    ("vinh-ninh", "Vĩnh Ninh"),
    ("phu-hoi", "Phú Hội"),
    ("phu-nhuan", "Phú Nhuận"),
    ("xuan-phu", "Xuân Phú"),
    ("thuy-van", "Thủy Vân"),
    ("an-tay", "An Tây"),
    ("truong-an", "Trường An"),
    ("phuoc-vinh", "Phước Vĩnh"),
    ("an-cuu", "An Cựu"),
    ("an-dong", "An Đông"),
];

/// A grid corner: (row, column).
type Node = (usize, usize);

/// Builds the wards. Row 0 is the north of the city, column 0 the west.
pub fn generate(bounds: &Bbox4326, rng: &mut ChaCha8Rng) -> Vec<Ward> {
    let (w, h) = (
        (bounds.max_lon - bounds.min_lon) / COLS as f64,
        (bounds.max_lat - bounds.min_lat) / ROWS as f64,
    );
    // Grid corners; inner ones jittered by up to 20 % of a cell.
    let mut corner = vec![vec![Coord { x: 0.0, y: 0.0 }; COLS + 1]; ROWS + 1];
    for (r, row) in corner.iter_mut().enumerate() {
        for (c, node) in row.iter_mut().enumerate() {
            let inner = r > 0 && r < ROWS && c > 0 && c < COLS;
            let (jx, jy) = if inner {
                (
                    rng.random_range(-0.2..0.2) * w,
                    rng.random_range(-0.2..0.2) * h,
                )
            } else {
                (0.0, 0.0)
            };
            *node = Coord {
                x: bounds.min_lon + c as f64 * w + jx,
                y: bounds.max_lat - r as f64 * h + jy,
            };
        }
    }
    // Each grid edge's wiggly polyline, made once and shared by the two wards beside it.
    let mut edges: HashMap<(Node, Node), Vec<Coord<f64>>> = HashMap::new();
    let mut edge =
        |a: (usize, usize), b: (usize, usize), rng: &mut ChaCha8Rng| -> Vec<Coord<f64>> {
            let key = if a < b { (a, b) } else { (b, a) };
            let on_border = (a.0 == b.0 && (a.0 == 0 || a.0 == ROWS))
                || (a.1 == b.1 && (a.1 == 0 || a.1 == COLS));
            let line = edges
                .entry(key)
                .or_insert_with(|| {
                    wiggle(
                        corner[key.0.0][key.0.1],
                        corner[key.1.0][key.1.1],
                        !on_border,
                        rng,
                    )
                })
                .clone();
            if a < b {
                line
            } else {
                line.into_iter().rev().collect()
            }
        };
    let mut wards = Vec::with_capacity(COLS * ROWS);
    for r in 0..ROWS {
        for c in 0..COLS {
            // Counter-clockwise: south-west, south-east, north-east, north-west.
            let (sw, se, ne, nw) = ((r + 1, c), (r + 1, c + 1), (r, c + 1), (r, c));
            let mut ring: Vec<Coord<f64>> = Vec::new();
            for (a, b) in [(sw, se), (se, ne), (ne, nw), (nw, sw)] {
                let part = edge(a, b, rng);
                ring.extend_from_slice(&part[..part.len() - 1]);
            }
            ring.push(ring[0]);
            let (code, name) = NAMES[r * COLS + c];
            wards.push(Ward {
                code: code.to_string(),
                name: name.to_string(),
                geometry: MultiPolygon(vec![Polygon::new(LineString(ring), Vec::new())]),
                area_km2: 0.0,
                population: Some(rng.random_range(8_000..26_000)),
            });
        }
    }
    wards
}

/// A polyline from `a` to `b` with `STEPS_PER_SIDE` segments; inner edges bend sideways by a
/// smooth random curve (at most ~8 % of their length) that is zero at both ends.
fn wiggle(a: Coord<f64>, b: Coord<f64>, bend: bool, rng: &mut ChaCha8Rng) -> Vec<Coord<f64>> {
    let amplitudes: Vec<f64> = (1..=3)
        .map(|k| {
            if bend {
                rng.random_range(-0.04..0.04) / k as f64
            } else {
                0.0
            }
        })
        .collect();
    let (dx, dy) = (b.x - a.x, b.y - a.y);
    (0..=STEPS_PER_SIDE)
        .map(|i| {
            let t = i as f64 / STEPS_PER_SIDE as f64;
            let off: f64 = amplitudes
                .iter()
                .enumerate()
                .map(|(k, amp)| amp * ((k + 1) as f64 * std::f64::consts::PI * t).sin())
                .sum();
            // Offsets are rounded so the text form of the file is stable across platforms.
            let round = |v: f64| (v * 1e7).round() / 1e7;
            Coord {
                x: round(a.x + dx * t - dy * off),
                y: round(a.y + dy * t + dx * off),
            }
        })
        .collect()
}
