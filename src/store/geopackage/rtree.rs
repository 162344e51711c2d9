//! Building `rtree_report_geom` in one pass, as GDAL ≥ 3.7 does after a bulk load.
//!
//! Inserting points one by one into SQLite's R*Tree costs about 12 µs each (13 s for a million
//! on this machine, sorted or not). A packed tree (Sort-Tile-Recursive: Leutenegger, Lopez and
//! Edgington, ICDE 1997) of the same points is built in memory and written straight into the
//! R*Tree's three shadow tables in well under that. Imports therefore leave the R*Tree stale
//! (a setting row says so) and rebuild it once at the end ([`super::GeoPackageStore::close`]),
//! a few seconds after the last bulk batch, at the next small write, or at the next open after a
//! crash. `rtreecheck()` holds the result to SQLite's own invariants (see the tests).
//!
//! The shadow tables' format (SQLite's ext/rtree/rtree.c): `_node(nodeno, data)` with node 1
//! the root; `data` is a big-endian u16 tree depth (root only), a u16 cell count, then cells of
//! an i64 id (row id in leaves, child node number above) and minx, maxx, miny, maxy as f32,
//! padded to the table's node size. `_rowid(rowid, nodeno)` locates each row's leaf,
//! `_parent(nodeno, parentnode)` each non-root node's parent.

use super::super::{Context, StoreError, rows, wkb};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

const ROWID_MAP: &str = "insert into rtree_report_geom_rowid (rowid, nodeno) \
     select value ->> 0, value ->> 1 from jsonb_each(?)";
const PARENT_MAP: &str = "insert into rtree_report_geom_parent (nodeno, parentnode) \
     select value ->> 0, value ->> 1 from jsonb_each(?)";

/// Marks the report R*Tree as missing rows (a setting, so a crash mid-import is repaired).
pub(super) const STALE_KEY: &str = "rtree_report_stale";

/// One cell: an id and its box, already rounded to the R*Tree's f32 (down for minima, up for
/// maxima, as SQLite's `rtreeValueDown`/`rtreeValueUp` do, so boxes always contain the point).
#[derive(Clone, Copy)]
struct Cell {
    id: i64,
    b: [f32; 4],
}

fn down(d: f64) -> f32 {
    let f = d as f32;
    if f64::from(f) > d {
        (d * if d < 0.0 {
            1.0 + 1.0 / 8388608.0
        } else {
            1.0 - 1.0 / 8388608.0
        }) as f32
    } else {
        f
    }
}

fn up(d: f64) -> f32 {
    let f = d as f32;
    if f64::from(f) < d {
        (d * if d < 0.0 {
            1.0 - 1.0 / 8388608.0
        } else {
            1.0 + 1.0 / 8388608.0
        }) as f32
    } else {
        f
    }
}

fn centre(c: &Cell, axis: usize) -> f32 {
    (c.b[axis * 2] + c.b[axis * 2 + 1]) / 2.0
}

/// Groups `cells` into nodes of at most `m`, neighbours together (one STR level).
fn pack(mut cells: Vec<Cell>, m: usize) -> Vec<Vec<Cell>> {
    let nodes = cells.len().div_ceil(m);
    let slices = (nodes as f64).sqrt().ceil().max(1.0) as usize;
    let per_slice = slices * m;
    cells.sort_unstable_by(|a, b| centre(a, 0).total_cmp(&centre(b, 0)));
    let mut out = Vec::with_capacity(nodes);
    for slice in cells.chunks_mut(per_slice) {
        slice.sort_unstable_by(|a, b| centre(a, 1).total_cmp(&centre(b, 1)));
        out.extend(slice.chunks(m).map(<[Cell]>::to_vec));
    }
    out
}

fn bounds(cells: &[Cell]) -> [f32; 4] {
    cells.iter().fold(
        [f32::MAX, f32::MIN, f32::MAX, f32::MIN],
        |[a, b, c, d], x| [a.min(x.b[0]), b.max(x.b[1]), c.min(x.b[2]), d.max(x.b[3])],
    )
}

fn blob(depth: u16, cells: &[Cell], size: usize) -> Vec<u8> {
    let mut data = Vec::with_capacity(size);
    data.extend_from_slice(&depth.to_be_bytes());
    data.extend_from_slice(&(cells.len() as u16).to_be_bytes());
    for c in cells {
        data.extend_from_slice(&c.id.to_be_bytes());
        for v in c.b {
            data.extend_from_slice(&v.to_be_bytes());
        }
    }
    data.resize(size, 0);
    data
}

/// The tables' rows: nodes (number, blob), row → leaf, node → parent.
struct Tree {
    nodes: Vec<(i64, Vec<u8>)>,
    rowid: Vec<(i64, i64)>,
    parent: Vec<(i64, i64)>,
}

fn build(points: Vec<Cell>, node_size: usize) -> Tree {
    let m = (node_size - 4) / 24;
    let mut tree = Tree {
        nodes: Vec::new(),
        rowid: Vec::with_capacity(points.len()),
        parent: Vec::new(),
    };
    // Levels from the leaves up; node numbers from 2 (1 is the root, numbered last).
    let mut level = pack(points, m);
    let mut depth: u16 = 0;
    let mut next: i64 = 2;
    while level.len() > 1 {
        let mut above = Vec::with_capacity(level.len());
        for cells in &level {
            let no = next;
            next += 1;
            if depth == 0 {
                tree.rowid.extend(cells.iter().map(|c| (c.id, no)));
            } else {
                tree.parent.extend(cells.iter().map(|c| (c.id, no)));
            }
            tree.nodes.push((no, blob(0, cells, node_size)));
            above.push(Cell {
                id: no,
                b: bounds(cells),
            });
        }
        level = pack(above, m);
        depth += 1;
    }
    let root = level.pop().unwrap_or_default();
    if depth == 0 {
        tree.rowid.extend(root.iter().map(|c| (c.id, 1)));
    } else {
        tree.parent.extend(root.iter().map(|c| (c.id, 1)));
    }
    tree.nodes.push((1, blob(depth, &root, node_size)));
    tree
}

/// Every report's point as a cell. Rows come packed, 65,536 to a value (`fid:hex(geom)`
/// joined by commas): sqlx hands rows over one by one at about 3 µs each, 3 s for a million.
async fn read_points(conn: &mut SqliteConnection) -> Result<Vec<Cell>, StoreError> {
    let mut points = Vec::new();
    let mut after = i64::MIN;
    loop {
        // Pages by id, so sparse ids (rows deleted or given by a GIS user) cost nothing.
        let (packed, last): (Option<String>, Option<i64>) = sqlx::query_as(
            "select group_concat(fid || ':' || hex(geom), ','), max(fid) from \
             (select fid, geom from report where fid > ? order by fid limit 65536)",
        )
        .bind(after)
        .fetch_one(&mut *conn)
        .await
        .context("reading report locations")?;
        let Some(last) = last else {
            return Ok(points);
        };
        for item in packed.as_deref().unwrap_or_default().split(',') {
            points.push(cell(item)?);
        }
        after = last;
    }
}

fn cell(item: &str) -> Result<Cell, StoreError> {
    let corrupt = || StoreError::Corrupt {
        what: format!(
            "report location {:?}",
            item.chars().take(40).collect::<String>()
        ),
        message: "expected fid:hex".into(),
    };
    let (id, hex) = item.split_once(':').ok_or_else(corrupt)?;
    let id: i64 = id.parse().map_err(|_| corrupt())?;
    let blob = super::scan::unhex(hex).ok_or_else(corrupt)?;
    let wkb = wkb::from_gpkg(&blob).map_err(|source| StoreError::Geometry {
        what: format!("report {id}"),
        source,
    })?;
    let (x, y) = rows::point(wkb, id)?;
    Ok(Cell {
        id,
        b: [down(x), up(x), down(y), up(y)],
    })
}

/// Rebuilds the report R*Tree from the report table, inside the caller's write transaction.
pub(super) async fn rebuild(conn: &mut SqliteConnection) -> Result<(), StoreError> {
    let node_size: i64 =
        sqlx::query_scalar("select length(data) from rtree_report_geom_node where nodeno = 1")
            .fetch_one(&mut *conn)
            .await
            .context("reading the R*Tree node size")?;
    let started = std::time::Instant::now();
    let points = read_points(&mut *conn).await?;
    let read_in = started.elapsed();
    let tree = build(points, node_size.max(448) as usize);
    sqlx::raw_sql(
        "delete from rtree_report_geom_node; delete from rtree_report_geom_rowid; \
         delete from rtree_report_geom_parent;",
    )
    .execute(&mut *conn)
    .await
    .context("emptying the R*Tree")?;
    for chunk in tree.nodes.chunks(500) {
        let mut q =
            QueryBuilder::<Sqlite>::new("insert into rtree_report_geom_node (nodeno, data) ");
        q.push_values(chunk, |mut b, (no, data)| {
            b.push_bind(*no).push_bind(data.clone());
        });
        q.build()
            .execute(&mut *conn)
            .await
            .context("writing R*Tree nodes")?;
    }
    // The maps go in as JSON arrays of pairs, 100,000 to a statement: binding two million
    // values one by one costs more than SQLite's whole share of the build.
    for (sql, pairs) in [(ROWID_MAP, &tree.rowid), (PARENT_MAP, &tree.parent)] {
        for chunk in pairs.chunks(100_000) {
            let mut json = String::with_capacity(chunk.len() * 20 + 2);
            json.push('[');
            for (k, (a, n)) in chunk.iter().enumerate() {
                if k > 0 {
                    json.push(',');
                }
                json.push_str(&format!("[{a},{n}]"));
            }
            json.push(']');
            sqlx::query(sql)
                .bind(json)
                .execute(&mut *conn)
                .await
                .context("writing the R*Tree maps")?;
        }
    }
    tracing::debug!(?read_in, written_in = ?(started.elapsed() - read_in), "R*Tree rebuilt");
    sqlx::query("delete from hotspots_setting where key = ?")
        .bind(STALE_KEY)
        .execute(&mut *conn)
        .await
        .context("marking the R*Tree complete")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_keeps_the_value_inside_its_box() {
        for d in [107.6111_f64, -73.98765432, 16.4711, 0.1, -0.1, 42.0] {
            assert!(f64::from(down(d)) <= d && d <= f64::from(up(d)), "{d}");
        }
    }

    #[test]
    fn every_point_lands_in_exactly_one_leaf_and_every_node_has_a_parent() {
        let points: Vec<Cell> = (0..10_000)
            .map(|i| {
                let (x, y) = (f64::from(i % 100), f64::from(i / 100));
                Cell {
                    id: i64::from(i) + 1,
                    b: [down(x), up(x), down(y), up(y)],
                }
            })
            .collect();
        let tree = build(points, 1228);
        assert_eq!(tree.rowid.len(), 10_000);
        // 51 cells per node: 197 leaves, 4 nodes above them, then the root.
        assert_eq!(tree.nodes.len(), 197 + 4 + 1);
        assert_eq!(tree.parent.len(), tree.nodes.len() - 1);
        let root = &tree.nodes.last().expect("a root").1;
        assert_eq!(u16::from_be_bytes([root[0], root[1]]), 2, "depth");
    }
}
