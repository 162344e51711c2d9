//! Point-in-polygon for many points against a few dozen ward polygons, in O(1) per point.
//!
//! A uniform grid covers the wards' extent. Each cell is classified once, when the locator is built:
//! *empty* (in no ward), *inside* one ward (no boundary crosses it), or *mixed* (a boundary crosses it;
//! it keeps the short list of candidate wards). Most points land in an inside cell and are answered
//! by one array read. For mixed cells, each candidate is tested by even-odd ray casting over only the
//! polygon edges that cross the point's grid row, so a test touches a handful of edges, not all.
//!
//! Boundaries: the crossing test is half-open (an edge counts when `y1 > y` differs from `y2 > y`),
//! and candidates are tried in ward order, so a point on a shared boundary always goes to the same
//! ward: the first (by ward order) whose polygon contains it under that rule.

use geo_types::MultiPolygon;

/// One polygon edge, in degrees.
#[derive(Debug, Clone, Copy)]
struct Edge {
    x1: f64,
    y1: f64,
    x2: f64,
    y2: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Cell {
    Empty,
    Inside(u16),
    /// Candidates are `candidates[start..start + len]`.
    Mixed {
        start: u32,
        len: u16,
    },
}

/// The grid and, per ward, its edges bucketed by grid row.
#[derive(Debug, Clone)]
pub struct Locator {
    x0: f64,
    y0: f64,
    inv_w: f64,
    inv_h: f64,
    cols: usize,
    rows: usize,
    cells: Vec<Cell>,
    candidates: Vec<u16>,
    /// `rows_of[ward][row]` = edges of that ward whose y-range meets the row.
    rows_of: Vec<Vec<Vec<Edge>>>,
}

/// The longer side of the grid, in cells. 512 keeps mixed cells rare for city wards while the grid
/// stays under a megabyte.
const MAX_CELLS_PER_SIDE: usize = 512;

impl Locator {
    /// Builds the locator. `polygons[i]` is ward `i`; at most `u16::MAX` wards.
    pub fn new(polygons: &[MultiPolygon<f64>]) -> Self {
        let edges: Vec<Vec<Edge>> = polygons.iter().map(edges_of).collect();
        let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
        for e in edges.iter().flatten() {
            x0 = x0.min(e.x1.min(e.x2));
            x1 = x1.max(e.x1.max(e.x2));
            y0 = y0.min(e.y1.min(e.y2));
            y1 = y1.max(e.y1.max(e.y2));
        }
        if x0 > x1 {
            (x0, y0, x1, y1) = (0.0, 0.0, 1.0, 1.0);
        }
        // A small margin so points on the outermost boundary fall inside the grid.
        let pad = ((x1 - x0).max(y1 - y0)) * 1e-6 + 1e-12;
        (x0, y0, x1, y1) = (x0 - pad, y0 - pad, x1 + pad, y1 + pad);
        let (width, height) = (x1 - x0, y1 - y0);
        let side = width.max(height) / MAX_CELLS_PER_SIDE as f64;
        let cols = ((width / side).ceil() as usize).clamp(1, MAX_CELLS_PER_SIDE);
        let rows = ((height / side).ceil() as usize).clamp(1, MAX_CELLS_PER_SIDE);
        let mut locator = Locator {
            x0,
            y0,
            inv_w: cols as f64 / width,
            inv_h: rows as f64 / height,
            cols,
            rows,
            cells: vec![Cell::Empty; cols * rows],
            candidates: Vec::new(),
            rows_of: Vec::with_capacity(edges.len()),
        };
        for ward_edges in &edges {
            let mut by_row = vec![Vec::new(); rows];
            for e in ward_edges {
                let (r0, r1) = (locator.row(e.y1.min(e.y2)), locator.row(e.y1.max(e.y2)));
                for bucket in &mut by_row[r0..=r1] {
                    bucket.push(*e);
                }
            }
            locator.rows_of.push(by_row);
        }
        locator.classify_cells(&edges);
        locator
    }

    fn row(&self, y: f64) -> usize {
        (((y - self.y0) * self.inv_h) as usize).min(self.rows - 1)
    }

    fn col(&self, x: f64) -> usize {
        (((x - self.x0) * self.inv_w) as usize).min(self.cols - 1)
    }

    fn classify_cells(&mut self, edges: &[Vec<Edge>]) {
        // Which wards have an edge touching each cell (conservatively, by the edge's bounding box).
        let mut touching: Vec<Vec<u16>> = vec![Vec::new(); self.cells.len()];
        for (ward, ward_edges) in edges.iter().enumerate() {
            let ward = ward as u16;
            for e in ward_edges {
                let (c0, c1) = (self.col(e.x1.min(e.x2)), self.col(e.x1.max(e.x2)));
                let (r0, r1) = (self.row(e.y1.min(e.y2)), self.row(e.y1.max(e.y2)));
                for r in r0..=r1 {
                    for c in c0..=c1 {
                        let list = &mut touching[r * self.cols + c];
                        if list.last() != Some(&ward) {
                            list.push(ward);
                        }
                    }
                }
            }
        }
        let (cell_w, cell_h) = (1.0 / self.inv_w, 1.0 / self.inv_h);
        for r in 0..self.rows {
            for c in 0..self.cols {
                let i = r * self.cols + c;
                let cx = self.x0 + (c as f64 + 0.5) * cell_w;
                let cy = self.y0 + (r as f64 + 0.5) * cell_h;
                let mut list = std::mem::take(&mut touching[i]);
                list.sort_unstable();
                list.dedup();
                // A ward with no edge in the cell that holds any of it holds all of it, centre included.
                let holding_centre = (0..edges.len() as u16)
                    .filter(|w| list.binary_search(w).is_err())
                    .find(|&w| self.ward_contains(w, cx, cy));
                self.cells[i] = match (list.is_empty(), holding_centre) {
                    (true, None) => Cell::Empty,
                    (true, Some(w)) => Cell::Inside(w),
                    (false, extra) => {
                        list.extend(extra);
                        list.sort_unstable();
                        let start = self.candidates.len() as u32;
                        self.candidates.extend_from_slice(&list);
                        Cell::Mixed {
                            start,
                            len: list.len() as u16,
                        }
                    }
                };
            }
        }
    }

    /// Even-odd test of ward `ward` against (`x`, `y`), using only the edges of the point's row.
    fn ward_contains(&self, ward: u16, x: f64, y: f64) -> bool {
        let mut inside = false;
        for e in &self.rows_of[ward as usize][self.row(y)] {
            if (e.y1 > y) != (e.y2 > y) {
                let x_cross = e.x1 + (y - e.y1) * (e.x2 - e.x1) / (e.y2 - e.y1);
                if x < x_cross {
                    inside = !inside;
                }
            }
        }
        inside
    }

    /// The index of the ward containing (`lon`, `lat`), or `None` when it is in none.
    pub fn locate(&self, lon: f64, lat: f64) -> Option<u16> {
        let (fx, fy) = ((lon - self.x0) * self.inv_w, (lat - self.y0) * self.inv_h);
        // Negated comparisons also send NaN to `None`.
        if !(fx >= 0.0 && fy >= 0.0 && fx < self.cols as f64 && fy < self.rows as f64) {
            return None;
        }
        match self.cells[fy as usize * self.cols + fx as usize] {
            Cell::Empty => None,
            Cell::Inside(w) => Some(w),
            Cell::Mixed { start, len } => {
                let list = &self.candidates[start as usize..start as usize + len as usize];
                list.iter()
                    .copied()
                    .find(|&w| self.ward_contains(w, lon, lat))
            }
        }
    }

    /// Share of grid cells that need a polygon test (for benchmarks and tuning).
    pub fn mixed_share(&self) -> f64 {
        let mixed = self
            .cells
            .iter()
            .filter(|c| matches!(c, Cell::Mixed { .. }))
            .count();
        mixed as f64 / self.cells.len() as f64
    }
}

fn edges_of(polygons: &MultiPolygon<f64>) -> Vec<Edge> {
    let mut out = Vec::new();
    for polygon in polygons {
        for ring in std::iter::once(polygon.exterior()).chain(polygon.interiors()) {
            for line in ring.lines() {
                if line.start != line.end {
                    out.push(Edge {
                        x1: line.start.x,
                        y1: line.start.y,
                        x2: line.end.x,
                        y2: line.end.y,
                    });
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::Contains;
    use geo_types::{MultiPolygon, Point, polygon};

    fn square(x: f64, y: f64, s: f64) -> MultiPolygon<f64> {
        MultiPolygon(vec![polygon![
            (x: x, y: y), (x: x + s, y: y), (x: x + s, y: y + s), (x: x, y: y + s), (x: x, y: y)
        ]])
    }

    #[test]
    fn matches_geo_contains_on_a_ring_with_a_hole() {
        let outer = polygon![
            exterior: [(x: 0.0, y: 0.0), (x: 10.0, y: 0.0), (x: 10.0, y: 10.0), (x: 0.0, y: 10.0)],
            interiors: [[(x: 3.0, y: 3.0), (x: 6.0, y: 3.0), (x: 6.0, y: 6.0), (x: 3.0, y: 6.0)]],
        ];
        let hole = square(3.0, 3.0, 3.0);
        let wards = vec![MultiPolygon(vec![outer.clone()]), hole];
        let locator = Locator::new(&wards);
        for i in 0..400 {
            let (x, y) = (-1.0 + (i % 20) as f64 * 0.61, -1.0 + (i / 20) as f64 * 0.63);
            let expected = if outer.contains(&Point::new(x, y)) {
                Some(0)
            } else if wards[1].contains(&Point::new(x, y)) {
                Some(1)
            } else {
                None
            };
            assert_eq!(locator.locate(x, y), expected, "point ({x}, {y})");
        }
    }

    #[test]
    fn shared_boundary_goes_to_one_ward_every_time() {
        let wards = vec![square(0.0, 0.0, 1.0), square(1.0, 0.0, 1.0)];
        let locator = Locator::new(&wards);
        let first = locator.locate(1.0, 0.5);
        assert!(first.is_some());
        for _ in 0..3 {
            assert_eq!(locator.locate(1.0, 0.5), first);
        }
        assert_eq!(locator.locate(0.5, 0.5), Some(0));
        assert_eq!(locator.locate(1.5, 0.5), Some(1));
        assert_eq!(locator.locate(f64::NAN, 0.5), None);
        assert_eq!(locator.locate(5.0, 0.5), None);
    }
}
