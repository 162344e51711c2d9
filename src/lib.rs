//! Hotspots: a city's geolocated citizen reports, assigned to wards, stored durably, indexed in
//! memory and served as GeoJSON.
//!
//! The modules follow the data flow; each uses only those above it.

/// Reports, wards, categories, statuses — plain data, checked at construction.
pub mod model;

/// The city profile: time zone, bounds, categories, agencies.
pub mod config;

/// Metres from degrees, in a local projection centred on the city.
pub mod projection;

/// Well-known binary geometry and the GeoPackage header around it (points and multipolygons).
pub mod wkb;

/// API JSON, GeoJSON and CSV (with mapping presets) into validated new reports.
pub mod ingest;

/// Ward boundaries: loading, point-in-polygon assignment, neighbours.
pub mod wards;

/// The durable record, a GeoPackage file or PostGIS, behind one contract.
pub mod store;

/// The in-memory snapshot that readers query without waiting on writers.
pub mod index;

/// The write path (ingest → wards → store → index) and the read queries.
pub mod service;

/// Batch import of report files, with a summary of every row's fate; the city profile saved with
/// the data and the rule that picks a command's profile.
pub mod import;

/// The seeded synthetic city of Huế.
pub mod demo;

/// The HTTP API (axum): the only module that knows HTTP.
pub mod api;
