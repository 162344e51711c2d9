-- OGC GeoPackage 1.3 core tables (spec §1.1.2, §1.1.3, §2.1.5) and Hotspots' layers, for a new
-- file, applied once in one transaction. Column and geometry types are written in upper case,
-- as the spec and GDAL's validate_gpkg.py want them; table shapes follow what GDAL writes. The
-- R*Tree triggers are added by `schema.rs` (they are dropped and recreated around our writes).
-- Existing files reach this same shape through the steps in `schema.rs`; keep both in step.

create table gpkg_spatial_ref_sys (
  srs_name TEXT NOT NULL,
  srs_id INTEGER NOT NULL PRIMARY KEY,
  organization TEXT NOT NULL,
  organization_coordsys_id INTEGER NOT NULL,
  definition TEXT NOT NULL,
  description TEXT
);

insert into gpkg_spatial_ref_sys values
  ('Undefined cartesian SRS', -1, 'NONE', -1, 'undefined', 'undefined cartesian coordinate reference system'),
  ('Undefined geographic SRS', 0, 'NONE', 0, 'undefined', 'undefined geographic coordinate reference system'),
  ('WGS 84 geodetic', 4326, 'EPSG', 4326,
   'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,AUTHORITY["EPSG","7030"]],AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,AUTHORITY["EPSG","8901"]],UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]],AXIS["Latitude",NORTH],AXIS["Longitude",EAST],AUTHORITY["EPSG","4326"]]',
   'longitude/latitude coordinates in decimal degrees on the WGS 84 spheroid');

-- The default's text is compared by the validator, spaces included.
create table gpkg_contents (
  table_name TEXT NOT NULL PRIMARY KEY,
  data_type TEXT NOT NULL,
  identifier TEXT UNIQUE,
  description TEXT DEFAULT '',
  last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
  min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE,
  srs_id INTEGER,
  CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id)
);

create table gpkg_geometry_columns (
  table_name TEXT NOT NULL,
  column_name TEXT NOT NULL,
  geometry_type_name TEXT NOT NULL,
  srs_id INTEGER NOT NULL,
  z TINYINT NOT NULL,
  m TINYINT NOT NULL,
  CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),
  CONSTRAINT uk_gc_table_name UNIQUE (table_name),
  CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
  CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id)
);

create table gpkg_extensions (
  table_name TEXT,
  column_name TEXT,
  extension_name TEXT NOT NULL,
  definition TEXT NOT NULL,
  scope TEXT NOT NULL,
  CONSTRAINT ge_tce UNIQUE (table_name, column_name, extension_name)
);

-- Citizen reports. Times are UTC text (GeoPackage DATETIME). `attributes` is the source's own
-- columns as JSON. Reporter contacts are not in this file at all (see `private.rs`).
create table report (
  fid INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  geom POINT NOT NULL,
  source TEXT NOT NULL,
  external_id TEXT,
  category TEXT NOT NULL,
  description TEXT,
  address TEXT,
  ward TEXT,
  agency TEXT,
  status TEXT NOT NULL,
  created_at DATETIME NOT NULL,
  updated_at DATETIME NOT NULL,
  due_at DATETIME,
  resolved_at DATETIME,
  satisfaction INTEGER CHECK (satisfaction BETWEEN 1 AND 5),
  channel TEXT,
  attributes TEXT NOT NULL DEFAULT '{}',
  outside_bounds BOOLEAN NOT NULL DEFAULT 0,
  UNIQUE (source, external_id)
);

create table ward (
  fid INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  geom MULTIPOLYGON NOT NULL,
  code TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  area_km2 REAL NOT NULL,
  population INTEGER
);

-- Settings that travel with the data (the city profile, the schema version); not a layer.
create table hotspots_setting (key TEXT PRIMARY KEY, value TEXT NOT NULL);

-- The data version (`version.rs`); not a layer.
create table hotspots_sequence (name text primary key, value integer not null);
insert into hotspots_sequence (name, value) values ('data_version', 0);

insert into gpkg_contents (table_name, data_type, identifier, description, srs_id) values
  ('report', 'features', 'report', 'Citizen reports (field reports / 311 requests)', 4326),
  ('ward', 'features', 'ward', 'Ward boundaries', 4326);

insert into gpkg_geometry_columns values
  ('report', 'geom', 'POINT', 4326, 0, 0),
  ('ward', 'geom', 'MULTIPOLYGON', 4326, 0, 0);

-- Spatial indexes (GeoPackage extension F.3).
create virtual table rtree_report_geom using rtree(id, minx, maxx, miny, maxy);
create virtual table rtree_ward_geom using rtree(id, minx, maxx, miny, maxy);

insert into gpkg_extensions values
  ('report', 'geom', 'gpkg_rtree_index', 'http://www.geopackage.org/spec120/#extension_rtree', 'write-only'),
  ('ward', 'geom', 'gpkg_rtree_index', 'http://www.geopackage.org/spec120/#extension_rtree', 'write-only');
