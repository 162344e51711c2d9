-- OGC GeoPackage 1.3 core tables (spec §1.1.2, §1.1.3, §2.1.5) and Hotspots' layers.
-- Applied once, in one transaction, when the file is new.

create table gpkg_spatial_ref_sys (
  srs_name text not null,
  srs_id integer primary key,
  organization text not null,
  organization_coordsys_id integer not null,
  definition text not null,
  description text
);

insert into gpkg_spatial_ref_sys values
  ('Undefined cartesian SRS', -1, 'NONE', -1, 'undefined', 'undefined cartesian coordinate reference system'),
  ('Undefined geographic SRS', 0, 'NONE', 0, 'undefined', 'undefined geographic coordinate reference system'),
  ('WGS 84 geodetic', 4326, 'EPSG', 4326,
   'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,AUTHORITY["EPSG","7030"]],AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,AUTHORITY["EPSG","8901"]],UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]],AXIS["Latitude",NORTH],AXIS["Longitude",EAST],AUTHORITY["EPSG","4326"]]',
   'longitude/latitude coordinates in decimal degrees on the WGS 84 spheroid');

create table gpkg_contents (
  table_name text not null primary key,
  data_type text not null,
  identifier text unique,
  description text default '',
  last_change datetime not null default (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  min_x double, min_y double, max_x double, max_y double,
  srs_id integer references gpkg_spatial_ref_sys(srs_id)
);

create table gpkg_geometry_columns (
  table_name text not null unique references gpkg_contents(table_name),
  column_name text not null,
  geometry_type_name text not null,
  srs_id integer not null references gpkg_spatial_ref_sys(srs_id),
  z tinyint not null,
  m tinyint not null,
  primary key (table_name, column_name)
);

create table gpkg_extensions (
  table_name text,
  column_name text,
  extension_name text not null,
  definition text not null,
  scope text not null,
  unique (table_name, column_name, extension_name)
);

-- Citizen reports. Times are UTC text (GeoPackage DATETIME). `attributes` is the source's own
-- columns as JSON. The reporter's contact is not here (see report_contact).
create table report (
  fid integer primary key autoincrement,
  geom point not null,
  source text not null,
  external_id text,
  category text not null,
  description text,
  address text,
  ward text,
  agency text,
  status text not null,
  created_at datetime not null,
  updated_at datetime not null,
  due_at datetime,
  resolved_at datetime,
  satisfaction integer check (satisfaction between 1 and 5),
  channel text,
  attributes text not null default '{}',
  outside_bounds BOOLEAN not null default 0,
  unique (source, external_id)
);

-- Kept apart so that no layer a GIS user opens shows who reported what; not a registered layer.
create table report_contact (
  report_fid integer primary key references report(fid) on delete cascade,
  contact text not null
);

create table ward (
  fid integer primary key autoincrement,
  geom multipolygon not null,
  code text not null unique,
  name text not null,
  area_km2 real not null,
  population integer
);

insert into gpkg_contents (table_name, data_type, identifier, description, srs_id) values
  ('report', 'features', 'report', 'Citizen reports (field reports / 311 requests)', 4326),
  ('ward', 'features', 'ward', 'Ward boundaries', 4326);

insert into gpkg_geometry_columns values
  ('report', 'geom', 'POINT', 4326, 0, 0),
  ('ward', 'geom', 'MULTIPOLYGON', 4326, 0, 0);

-- Spatial indexes (GeoPackage extension F.3). Hotspots keeps them current itself, in the same
-- transaction as each write, because the spec's triggers call ST_* functions plain SQLite lacks.
create virtual table rtree_report_geom using rtree(id, minx, maxx, miny, maxy);
create virtual table rtree_ward_geom using rtree(id, minx, maxx, miny, maxy);

insert into gpkg_extensions values
  ('report', 'geom', 'gpkg_rtree_index', 'http://www.geopackage.org/spec120/#extension_rtree', 'write-only'),
  ('ward', 'geom', 'gpkg_rtree_index', 'http://www.geopackage.org/spec120/#extension_rtree', 'write-only');
