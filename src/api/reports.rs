//! `/api/v1/reports`: submit, update, list, fetch and search nearby.

use super::AppState;
use super::error::ApiError;
use super::etag::Tag;
use super::extract::{FromQuery, IdPath, JsonBody, Params, QueryParams};
use super::features::{GeoJson, collection, entry_feature, report_feature};
use crate::index::{Cursor, ReportFilter, Snapshot};
use crate::ingest::json::{report_from_json, status_change_from_json};
use crate::model::{Bbox4326, InvalidValue, Lat, Lon, ReportId, Status};
use crate::service::Fetched;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};
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
) -> Result<GeoJson, ApiError> {
    let change = status_change_from_json(&body, app.profile(), Utc::now())?;
    let report = app.change_status(id, &change).await?;
    Ok(GeoJson(report_feature(&report, &app.snapshot(), None)))
}

pub async fn get(
    State(app): State<AppState>,
    headers: HeaderMap,
    IdPath(id): IdPath,
) -> Result<Response, ApiError> {
    let snapshot = app.snapshot();
    let report = app.report(id).await?;
    let tag = Tag::for_reports(snapshot.version, [&report]);
    Ok(tag.answer(&headers, || {
        GeoJson(report_feature(&report, &snapshot, None))
    }))
}

/// Query of `GET /api/v1/reports`.
#[derive(Debug)]
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
    outside_bounds: Option<bool>,
}

impl FromQuery for ListParams {
    fn from_query(q: &mut QueryParams) -> Result<Self, InvalidValue> {
        Ok(Self {
            bbox: q.text("bbox")?,
            ward: q.text("ward")?,
            category: q.text("category")?,
            status: q.text("status")?,
            from: q.text("from")?,
            to: q.text("to")?,
            limit: q.parse("limit", "an integer 1..10000")?,
            cursor: q.parse("cursor", "the next_cursor of a previous page")?,
            outside_bounds: q.parse("outside_bounds", "true or false")?,
        })
    }
}

pub async fn list(
    State(app): State<AppState>,
    headers: HeaderMap,
    Params(p): Params<ListParams>,
) -> Result<Response, ApiError> {
    let snapshot = app.snapshot();
    let limit = p.limit.unwrap_or(100);
    if !(1..=10_000).contains(&limit) {
        return Err(InvalidValue::new("limit", "must be an integer 1..10000").into());
    }
    let cursor = p.cursor.as_deref().map(Cursor::parse).transpose()?;
    let filter = filter_of(&p, &snapshot, &app)?;
    let (ids, next, fetched) = app.list(&snapshot, &filter, cursor, limit).await?;
    let tag = Tag::for_reports(snapshot.version, fetched.reports.values());
    Ok(tagged(tag, &headers, &fetched, || {
        let hits: Vec<(ReportId, Option<f64>)> = ids.iter().map(|&id| (id, None)).collect();
        let (features, mut extra) = features_of(&hits, &fetched, &snapshot);
        let next = next.map(|c| c.token());
        let links = next.as_deref().map_or_else(Vec::new, |c| {
            vec![json!({ "rel": "next", "href": next_href(&p, c) })]
        });
        extra.insert("next_cursor".into(), json!(next));
        extra.insert("links".into(), json!(links));
        GeoJson(collection(features, Value::Object(extra)))
    }))
}

/// The answer `body` makes, tagged (and 304 when the client holds the tag) when it is complete.
/// One made while the store is out of reach holds less than its data version promises, so it
/// carries no tag: a client must neither keep it as if it were whole nor be told its full copy
/// is stale.
fn tagged<R: IntoResponse>(
    tag: Tag,
    headers: &HeaderMap,
    fetched: &Fetched,
    body: impl FnOnce() -> R,
) -> Response {
    if fetched.store_unavailable {
        body().into_response()
    } else {
        tag.answer(headers, body)
    }
}

/// Features for the hits, in order, from the store's reports; from the index alone when the store
/// is out of reach (`"partial": true` then). Rows the store could not read are left out and
/// listed under `unreadable` (the store logged why), so one bad row never fails a page.
fn features_of(
    hits: &[(ReportId, Option<f64>)],
    fetched: &Fetched,
    snapshot: &Snapshot,
) -> (Vec<Value>, serde_json::Map<String, Value>) {
    let features = hits
        .iter()
        .filter_map(|&(id, d)| match fetched.reports.get(&id) {
            Some(r) => Some(report_feature(r, snapshot, d)),
            None if fetched.store_unavailable => {
                snapshot.get(id).map(|e| entry_feature(e, snapshot, d))
            }
            None => None,
        })
        .collect();
    let mut extra = serde_json::Map::new();
    let unreadable = fetched.unreadable(hits.iter().map(|h| h.0));
    if !unreadable.is_empty() {
        extra.insert("unreadable".into(), json!(unreadable));
    }
    if fetched.store_unavailable {
        extra.insert(
            "partial".into(),
            json!("the store is not reachable: reports carry only what the index holds"),
        );
    }
    (features, extra)
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
            let code = category_code(app, c)?;
            // A known category with no reports yet matches nothing.
            Some(snapshot.category_code(&code).unwrap_or(u16::MAX))
        }
    };
    let from_s = p
        .from
        .as_deref()
        .map(|t| time_param(t, "from", zone))
        .transpose()?;
    let to_s =
        p.to.as_deref()
            .map(|t| time_param(t, "to", zone))
            .transpose()?;
    if let (Some(from), Some(to)) = (from_s, to_s)
        && from > to
    {
        return Err(InvalidValue::new(
            "from",
            format!(
                "from ({}) is after to ({})",
                p.from.as_deref().unwrap_or_default(),
                p.to.as_deref().unwrap_or_default()
            ),
        )
        .into());
    }
    Ok(ReportFilter {
        bbox: p.bbox.as_deref().map(Bbox4326::parse).transpose()?,
        ward,
        category,
        status: p.status.as_deref().map(Status::parse).transpose()?,
        from_s,
        to_s,
        outside_bounds: p.outside_bounds,
    })
}

/// The code of the category `text` names (code or any name, see
/// [`crate::config::CityProfile::resolve_category`]); a code only stored data uses is accepted
/// as it is. The error lists the valid codes.
fn category_code(app: &AppState, text: &str) -> Result<String, InvalidValue> {
    match app.profile().resolve_category(text) {
        Ok(c) => Ok(c.code.clone()),
        Err(_) if app.snapshot().category_code(text).is_some() => Ok(text.to_string()),
        Err(e) => Err(e),
    }
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
    if let Some(f) = p.outside_bounds {
        pairs.push(("outside_bounds", f.to_string()));
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
#[derive(Debug)]
pub struct NearbyParams {
    lon: f64,
    lat: f64,
    radius_m: Option<f64>,
    category: Option<String>,
    limit: Option<usize>,
}

impl FromQuery for NearbyParams {
    fn from_query(q: &mut QueryParams) -> Result<Self, InvalidValue> {
        Ok(Self {
            lon: q.required("lon", "a longitude in degrees")?,
            lat: q.required("lat", "a latitude in degrees")?,
            radius_m: q.parse("radius_m", "a distance in metres within (0, 5000]")?,
            category: q.text("category")?,
            limit: q.parse("limit", "an integer 1..500")?,
        })
    }
}

pub async fn nearby(
    State(app): State<AppState>,
    headers: HeaderMap,
    Params(p): Params<NearbyParams>,
) -> Result<Response, ApiError> {
    let (lon, lat) = (Lon::new(p.lon)?, Lat::new(p.lat)?);
    let radius_m = p.radius_m.unwrap_or(100.0);
    if !(radius_m > 0.0 && radius_m <= 5000.0) {
        return Err(InvalidValue::new("radius_m", "must be within (0, 5000] metres").into());
    }
    let limit = p.limit.unwrap_or(20);
    if !(1..=500).contains(&limit) {
        return Err(InvalidValue::new("limit", "must be an integer 1..500").into());
    }
    let category = p
        .category
        .as_deref()
        .map(|c| category_code(&app, c))
        .transpose()?;
    let snapshot = app.snapshot();
    let (hits, fetched) = app
        .nearby(lon.get(), lat.get(), radius_m, category.as_deref(), limit)
        .await?;
    let tag = Tag::for_reports(snapshot.version, fetched.reports.values());
    Ok(tagged(tag, &headers, &fetched, || {
        let hits: Vec<(ReportId, Option<f64>)> =
            hits.into_iter().map(|(id, d)| (id, Some(d))).collect();
        let (features, mut extra) = features_of(&hits, &fetched, &snapshot);
        extra.insert("radius_m".into(), json!(radius_m));
        GeoJson(collection(features, Value::Object(extra)))
    }))
}
