-- Schema step 2: the GeoPackage tables of files written before schema versions get the spec's
-- upper-case types and GDAL's table shapes (SQLite cannot change a declared type in place, so
-- each table is rebuilt: the old one renamed away, the new one filled, the old one dropped).
-- Runs with legacy_alter_table on (so renaming leaves other tables' references alone) and
-- foreign keys off; the shapes are those of geopackage.sql. Type affinities do not change
-- (upper and lower case name the same affinity), so the values are copied as they are.
-- These are the shapes *at version 2*: columns added by later steps are added by those steps,
-- never here (`select *` copies exactly the version-1 columns).

alter table gpkg_spatial_ref_sys rename to old_gpkg_spatial_ref_sys;
create table gpkg_spatial_ref_sys (
  srs_name TEXT NOT NULL,
  srs_id INTEGER NOT NULL PRIMARY KEY,
  organization TEXT NOT NULL,
  organization_coordsys_id INTEGER NOT NULL,
  definition TEXT NOT NULL,
  description TEXT
);
insert into gpkg_spatial_ref_sys select * from old_gpkg_spatial_ref_sys;
drop table old_gpkg_spatial_ref_sys;

alter table gpkg_contents rename to old_gpkg_contents;
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
insert into gpkg_contents select * from old_gpkg_contents;
drop table old_gpkg_contents;

alter table gpkg_geometry_columns rename to old_gpkg_geometry_columns;
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
insert into gpkg_geometry_columns select * from old_gpkg_geometry_columns;
drop table old_gpkg_geometry_columns;

alter table report rename to old_report;
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
  UNIQUE (source, external_id)
);
insert into report select * from old_report;
drop table old_report;

alter table ward rename to old_ward;
create table ward (
  fid INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  geom MULTIPOLYGON NOT NULL,
  code TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  area_km2 REAL NOT NULL,
  population INTEGER
);
insert into ward select * from old_ward;
drop table old_ward;
