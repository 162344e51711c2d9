//! Extractors that answer bad requests in the API's own error format, not axum's plain text.

use super::error::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::{StatusCode, header, request::Parts};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// Largest request body the API reads.
pub const BODY_LIMIT_BYTES: usize = 1024 * 1024;

/// A JSON body (`application/json` or `application/geo+json`), read as a generic value so the
/// ingest layer can name the field that is wrong.
pub struct JsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/json")
            .to_ascii_lowercase();
        if !content_type.starts_with("application/json")
            && !content_type.starts_with("application/geo+json")
        {
            return Err(ApiError::bad_request(format!(
                "content-type must be application/json or application/geo+json, got {content_type}"
            )));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|r| {
            if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::TooLarge {
                    limit_bytes: BODY_LIMIT_BYTES,
                }
            } else {
                ApiError::bad_request(r.body_text())
            }
        })?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::BadRequest {
                message: format!("malformed JSON: {e}"),
                details: json!({ "line": e.line(), "column": e.column() }),
            })
    }
}

/// A positive integer id from the path.
pub struct IdPath(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for IdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|r| ApiError::bad_request(r.body_text()))?;
        match raw.parse::<i64>() {
            Ok(id) if id > 0 => Ok(IdPath(id)),
            _ => Err(ApiError::BadRequest {
                message: format!("invalid id {raw:?} in path: expected a positive integer"),
                details: json!({ "field": "id" }),
            }),
        }
    }
}

/// A text path segment (ward codes).
pub struct TextPath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for TextPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(p)| TextPath(p))
            .map_err(|r| ApiError::bad_request(r.body_text()))
    }
}

/// Query parameters; unknown names are refused (a typo should not silently widen a filter).
pub struct Params<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| Params(v))
            .map_err(|r| ApiError::bad_request(r.body_text()))
    }
}
