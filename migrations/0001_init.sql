-- Hotspots' PostGIS schema: citizen reports, their reporters' contacts, and ward boundaries.
--
-- The postgis extension is not created here: that needs a superuser, so whoever provisions the
-- database runs `create extension postgis` once (the store checks for it at connect and says so).
-- Tables are not schema-qualified: they land in the first schema of the connection's search_path,
-- which lets tests give each case a schema of its own while postgis's types stay in `public`.

-- Citizen reports. Coordinates are WGS84 lon/lat (EPSG:4326); times are UTC instants.
-- `attributes` keeps the source's own columns that have no place below, as they came.
-- The reporter's contact is not here (see report_contact).
create table report (
  id bigserial primary key,
  geom geometry(Point, 4326) not null,
  source text not null,
  external_id text,
  category text not null,
  description text,
  address text,
  -- ward code, or null when the point lies outside every ward; kept current by replace_wards
  ward text,
  agency text,
  status text not null
    check (status in ('received', 'assigned', 'in_progress', 'resolved', 'rejected')),
  created_at timestamptz not null,
  updated_at timestamptz not null,
  due_at timestamptz,
  resolved_at timestamptz,
  satisfaction smallint check (satisfaction between 1 and 5),
  channel text,
  attributes jsonb not null default '{}',
  -- a source's report is stored once; reports without an external id are never merged
  -- (nulls are distinct in a unique constraint)
  unique (source, external_id)
);
create index report_geom on report using gist (geom);
create index report_ward on report (ward, id);
create index report_created on report (created_at);

-- Kept apart so that no layer or query over `report` shows who reported what.
create table report_contact (
  report_id bigint primary key references report (id) on delete cascade,
  contact text not null
);

-- Ward boundaries. `code` is the public id; `name` keeps its diacritics (e.g. 'Phú Hội').
create table ward (
  id serial primary key,
  code text not null unique,
  name text not null,
  area_km2 double precision not null,
  population bigint check (population >= 0),
  geom geometry(MultiPolygon, 4326) not null
);
create index ward_geom on ward using gist (geom);
