//! Hotspots: a city's geolocated citizen reports, assigned to wards, stored durably, indexed in
//! memory and served as GeoJSON.
//!
//! The modules follow the data flow, each using only those above it:
//!
//! 1. [`model`]: reports, wards, categories, statuses — plain data, checked at construction.
//! 2. [`config`]: the city profile (time zone, bounds, categories, agencies).
//! 3. [`projection`]: metres from degrees in a local projection centred on the city.
//! 4. [`ingest`]: API JSON, GeoJSON and CSV into validated new reports.
//! 5. [`wards`]: ward boundaries, point-in-polygon assignment, neighbours.
//! 6. [`store`]: the durable record — a GeoPackage file or PostGIS — behind one contract.
//! 7. [`index`]: the in-memory snapshot readers query without waiting on writers.
//! 8. [`service`]: the write path (ingest → wards → store → index) and the read queries.
//! 9. [`demo`]: the seeded synthetic city of Huế.
//! 10. [`api`]: the HTTP API (axum), the only module that knows HTTP.

pub mod api;
pub mod config;
pub mod demo;
pub mod index;
pub mod ingest;
pub mod model;
pub mod projection;
pub mod service;
pub mod store;
pub mod wards;
