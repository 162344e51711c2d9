//! Reports and wards as GeoJSON (RFC 7946). The reporter's contact is never written here.

use crate::index::{Entry, Snapshot, WardCounts};
use crate::model::Report;
use crate::wards::{WardIx, multipolygon_json};
use axum::Json;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// A GeoJSON document, sent as `application/geo+json` (RFC 7946, section 12).
pub struct GeoJson(pub Value);

impl IntoResponse for GeoJson {
    fn into_response(self) -> Response {
        (
            [(header::CONTENT_TYPE, "application/geo+json")],
            Json(self.0),
        )
            .into_response()
    }
}

/// A report as the index holds it (place, category, status, ward, agency, creation time), for
/// answers given while the store is out of reach; `"partial": true` says the rest is missing.
pub fn entry_feature(e: &Entry, snapshot: &Snapshot, distance_m: Option<f64>) -> Value {
    let ward = e.ward().map(|ix| snapshot.wards.get(ix));
    let mut props = json!({
        "id": e.id,
        "category": snapshot.category_name(e.category),
        "ward": ward.map(|w| &w.code),
        "ward_name": ward.map(|w| &w.name),
        "agency": snapshot.agency_name(e.agency),
        "status": e.status,
        "created_at": DateTime::<Utc>::from_timestamp_millis(e.created_ms),
        "partial": true,
    });
    if let (Some(d), Some(map)) = (distance_m, props.as_object_mut()) {
        map.insert("distance_m".into(), json!((d * 10.0).round() / 10.0));
    }
    json!({
        "type": "Feature",
        "id": e.id,
        "geometry": { "type": "Point", "coordinates": [e.lon, e.lat] },
        "properties": props,
    })
}

/// A report as a GeoJSON Feature; `distance_m` is added for nearby searches.
pub fn report_feature(r: &Report, snapshot: &Snapshot, distance_m: Option<f64>) -> Value {
    let ward_name = r
        .ward
        .as_deref()
        .and_then(|c| snapshot.wards.index_of(c))
        .map(|i| snapshot.wards.get(i).name.clone());
    let overdue = r.is_overdue_at(Utc::now());
    let mut props = json!({
        "id": r.id,
        "source": r.source,
        "external_id": r.external_id,
        "category": r.category,
        "description": r.description,
        "address": r.address,
        "ward": r.ward,
        "ward_name": ward_name,
        "agency": r.agency,
        "status": r.status,
        "created_at": r.created_at,
        "updated_at": r.updated_at,
        "due_at": r.due_at,
        "resolved_at": r.resolved_at,
        "overdue": overdue,
        "satisfaction": r.satisfaction,
        "channel": r.channel,
        "attributes": r.attributes,
        "outside_bounds": r.outside_bounds,
    });
    if let (Some(d), Some(map)) = (distance_m, props.as_object_mut()) {
        map.insert("distance_m".into(), json!((d * 10.0).round() / 10.0));
    }
    json!({
        "type": "Feature",
        "id": r.id,
        "geometry": { "type": "Point", "coordinates": [r.lon, r.lat] },
        "properties": props,
    })
}

/// A ward as a GeoJSON Feature with its report counts and neighbours.
pub fn ward_feature(snapshot: &Snapshot, ix: WardIx, counts: WardCounts) -> Value {
    let w = snapshot.wards.get(ix);
    let neighbours: Vec<&str> = snapshot
        .wards
        .neighbours(ix)
        .iter()
        .map(|&n| snapshot.wards.get(n).code.as_str())
        .collect();
    json!({
        "type": "Feature",
        "id": w.code,
        "geometry": multipolygon_json(&w.geometry),
        "properties": {
            "id": w.code,
            "name": w.name,
            "area_km2": (w.area_km2 * 1000.0).round() / 1000.0,
            "population": w.population,
            "report_count": counts.total,
            "open_count": counts.open,
            "overdue_count": counts.overdue,
            "open_overdue_count": counts.open_overdue,
            "neighbours": neighbours,
        },
    })
}

pub fn collection(features: Vec<Value>, extra: Value) -> Value {
    let mut out = json!({
        "type": "FeatureCollection",
        "numberReturned": features.len(),
        "features": features,
    });
    if let (Some(map), Value::Object(more)) = (out.as_object_mut(), extra) {
        map.extend(more);
    }
    out
}
