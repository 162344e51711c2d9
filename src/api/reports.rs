//! `/api/v1/reports`: submit, update, list, fetch and search nearby.

use super::AppState;
use super::error::ApiError;
use super::etag::Tag;
use super::extract::{IdPath, JsonBody, Params};
use super::features::{collection, report_feature};
use crate::index::{Cursor, ReportFilter, Snapshot};
use crate::ingest::json::{report_from_json, status_change_from_json};
use crate::model::{Bbox4326, InvalidValue, Lat, Lon, Status};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

pub async fn create(
    State(app): State<AppState>,
    JsonBody(body): JsonBody,
) -> Result<impl IntoResponse, ApiError> {
    let report = report_from_json(&body, app.profile(), Utc::now())?;
    let submitted = app.submit(report).await?;
    let r = &submitted.report;
    let status = if submitted.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let body = json!({
        "id": r.id,
        "ward": r.ward,
        "status": r.status,
        "due_at": r.due_at,
        "duplicate": !submitted.created,
        "report": report_feature(r, &app.snapshot(), None),
    });
    Ok((
        status,
        [(header::LOCATION, format!("/api/v1/reports/{}", r.id))],
        Json(body),
    ))
}

pub async fn update(
    State(app): State<AppState>,
    IdPath(id): IdPath,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let change = status_change_from_json(&body, app.profile(), Utc::now())?;
    let report = app.change_status(id, &change).await?;
    Ok(Json(report_feature(&report, &app.snapshot(), None)))
}

pub async fn get(
    State(app): State<AppState>,
    headers: HeaderMap,
    IdPath(id): IdPath,
) -> Result<Response, ApiError> {
    let snapshot = app.snapshot();
    let report = app.report(id).await?;
    let tag = Tag::for_reports(snapshot.version, [&report]);
    Ok(tag.answer(&headers, || Json(report_feature(&report, &snapshot, None))))
}

/// Query of `GET /api/v1/reports`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    bbox: Option<String>,
    ward: Option<String>,
    category: Option<String>,
    status: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<usize>,
    /// Opaque: the `next_cursor` of the previous page ([`Cursor::token`]).
    cursor: Option<String>,
}

pub async fn list(
    State(app): State<AppState>,
    headers: HeaderMap,
    Params(p): Params<ListParams>,
) -> Result<Response, ApiError> {
    let snapshot = app.snapshot();
    let limit = p.limit.unwrap_or(100);
    if !(1..=10_000).contains(&limit) {
        return Err(InvalidValue::new("limit", "limit must be 1..10000").into());
    }
    let cursor = p.cursor.as_deref().map(Cursor::parse).transpose()?;
    let filter = filter_of(&p, &snapshot, &app)?;
    let (reports, next) = app.list(&snapshot, &filter, cursor, limit).await?;
    let tag = Tag::for_reports(snapshot.version, &reports);
    Ok(tag.answer(&headers, || {
        let features = reports
            .iter()
            .map(|r| report_feature(r, &snapshot, None))
            .collect();
        let next = next.map(|c| c.token());
        let links = next.as_deref().map_or_else(Vec::new, |c| {
            vec![json!({ "rel": "next", "href": next_href(&p, c) })]
        });
        Json(collection(
            features,
            json!({ "next_cursor": next, "links": links }),
        ))
    }))
}

fn filter_of(
    p: &ListParams,
    snapshot: &Snapshot,
    app: &AppState,
) -> Result<ReportFilter, ApiError> {
    let zone = app.profile().time_zone;
    let ward = match p.ward.as_deref() {
        None => None,
        Some("none") => Some(None),
        Some(code) => Some(Some(snapshot.wards.index_of(code).ok_or_else(|| {
            InvalidValue::new("ward", format!("unknown ward {code:?}; see /api/v1/wards"))
        })?)),
    };
    let category = match p.category.as_deref() {
        None => None,
        Some(c) => {
            known_category(app, c)?;
            // A known category with no reports yet matches nothing.
            Some(snapshot.category_code(c).unwrap_or(u16::MAX))
        }
    };
    Ok(ReportFilter {
        bbox: p.bbox.as_deref().map(Bbox4326::parse).transpose()?,
        ward,
        category,
        status: p.status.as_deref().map(Status::parse).transpose()?,
        from_s: p
            .from
            .as_deref()
            .map(|t| time_param(t, "from", zone))
            .transpose()?,
        to_s: p
            .to
            .as_deref()
            .map(|t| time_param(t, "to", zone))
            .transpose()?,
    })
}

fn known_category(app: &AppState, code: &str) -> Result<(), InvalidValue> {
    if app.profile().category(code).is_none() && app.snapshot().category_code(code).is_none() {
        return Err(InvalidValue::new(
            "category",
            format!("unknown category {code:?}"),
        ));
    }
    Ok(())
}

/// An RFC 3339 time, or a date (`YYYY-MM-DD`, midnight in the city's zone), as Unix seconds.
fn time_param(text: &str, field: &'static str, zone: chrono_tz::Tz) -> Result<i64, InvalidValue> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp());
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| {
            zone.from_local_datetime(&d.and_time(NaiveTime::MIN))
                .earliest()
        })
        .map(|t| t.with_timezone(&Utc).timestamp())
        .ok_or_else(|| {
            InvalidValue::new(
                field,
                format!("{text:?} is neither an RFC 3339 time nor YYYY-MM-DD"),
            )
        })
}

fn next_href(p: &ListParams, cursor: &str) -> String {
    let mut pairs: Vec<(&str, String)> = Vec::new();
    for (k, v) in [
        ("bbox", &p.bbox),
        ("ward", &p.ward),
        ("category", &p.category),
        ("status", &p.status),
        ("from", &p.from),
        ("to", &p.to),
    ] {
        if let Some(v) = v {
            pairs.push((k, v.clone()));
        }
    }
    if let Some(l) = p.limit {
        pairs.push(("limit", l.to_string()));
    }
    pairs.push(("cursor", cursor.to_string()));
    let query: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect();
    format!("/api/v1/reports?{}", query.join("&"))
}

fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b',' | b':' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Query of `GET /api/v1/reports/nearby`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NearbyParams {
    lon: f64,
    lat: f64,
    radius_m: Option<f64>,
    category: Option<String>,
    limit: Option<usize>,
}

pub async fn nearby(
    State(app): State<AppState>,
    headers: HeaderMap,
    Params(p): Params<NearbyParams>,
) -> Result<Response, ApiError> {
    let (lon, lat) = (Lon::new(p.lon)?, Lat::new(p.lat)?);
    let radius_m = p.radius_m.unwrap_or(100.0);
    if !(radius_m > 0.0 && radius_m <= 5000.0) {
        return Err(
            InvalidValue::new("radius_m", "radius_m must be within (0, 5000] metres").into(),
        );
    }
    let limit = p.limit.unwrap_or(20);
    if !(1..=500).contains(&limit) {
        return Err(InvalidValue::new("limit", "limit must be 1..500").into());
    }
    if let Some(c) = p.category.as_deref() {
        known_category(&app, c)?;
    }
    let snapshot = app.snapshot();
    let found = app
        .nearby(lon.get(), lat.get(), radius_m, p.category.as_deref(), limit)
        .await?;
    let tag = Tag::for_reports(snapshot.version, found.iter().map(|(r, _)| r));
    Ok(tag.answer(&headers, || {
        let features = found
            .iter()
            .map(|(r, d)| report_feature(r, &snapshot, Some(*d)))
            .collect();
        Json(collection(features, json!({ "radius_m": radius_m })))
    }))
}
