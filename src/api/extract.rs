//! Extractors that answer bad requests in the API's own error format, not axum's plain text.

use super::error::ApiError;
use crate::model::InvalidValue;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::{StatusCode, header, request::Parts};
use serde_json::{Value, json};
use std::str::FromStr;
use std::time::Duration;

/// Largest request body the API reads.
pub const BODY_LIMIT_BYTES: usize = 1024 * 1024;

/// How long a request body may take to arrive, unless the server sets another [`BodyTimeout`].
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// The body timeout in force, as a request extension set by the server loop.
#[derive(Debug, Clone, Copy)]
pub struct BodyTimeout(pub Duration);

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
        let limit = req
            .extensions()
            .get::<BodyTimeout>()
            .map_or(BODY_TIMEOUT, |t| t.0);
        // A trickled or stalled body must not hold the connection (and its slot) for ever.
        let read = tokio::time::timeout(limit, Bytes::from_request(req, state))
            .await
            .map_err(|_| ApiError::Timeout {
                seconds: limit.as_secs().max(1),
            })?;
        let bytes = read.map_err(|r| {
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

/// A query's parameters, read by name: each a 422 naming the parameter when it is wrong.
pub trait FromQuery: Sized {
    fn from_query(query: &mut QueryParams) -> Result<Self, InvalidValue>;
}

/// Query parameters; unknown names are refused (a typo should not silently widen a filter), each
/// error names its parameter in `details.field`.
pub struct Params<T>(pub T);

impl<T: FromQuery, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Query(pairs) = Query::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|r| ApiError::bad_request(r.body_text()))?;
        let mut query = QueryParams::new(pairs);
        let value = T::from_query(&mut query)?;
        query.finish()?;
        Ok(Params(value))
    }
}

/// The query string as name/value pairs; [`FromQuery`] takes the names it knows, and
/// [`QueryParams::finish`] refuses whatever is left.
pub struct QueryParams {
    pairs: Vec<(String, String)>,
    known: Vec<&'static str>,
}

impl QueryParams {
    pub fn new(pairs: Vec<(String, String)>) -> Self {
        Self {
            pairs,
            known: Vec::new(),
        }
    }

    /// The parameter's text, if given (once; twice is an error).
    pub fn text(&mut self, name: &'static str) -> Result<Option<String>, InvalidValue> {
        self.known.push(name);
        let mut found = self.pairs.iter().filter(|(k, _)| k == name);
        let (first, again) = (found.next().map(|(_, v)| v.clone()), found.next());
        if again.is_some() {
            return Err(InvalidValue::new(name, "given more than once"));
        }
        self.pairs.retain(|(k, _)| k != name);
        Ok(first)
    }

    /// The parameter parsed as `T`; `expected` says what it must be ("an integer 1..500").
    pub fn parse<T: FromStr>(
        &mut self,
        name: &'static str,
        expected: &str,
    ) -> Result<Option<T>, InvalidValue> {
        match self.text(name)? {
            None => Ok(None),
            Some(text) => {
                text.trim().parse().map(Some).map_err(|_| {
                    InvalidValue::new(name, format!("must be {expected}, not {text:?}"))
                })
            }
        }
    }

    /// Like [`parse`](Self::parse), for a parameter that must be given.
    pub fn required<T: FromStr>(
        &mut self,
        name: &'static str,
        expected: &str,
    ) -> Result<T, InvalidValue> {
        self.parse(name, expected)?
            .ok_or_else(|| InvalidValue::new(name, format!("required: {expected}")))
    }

    /// Refuses the first parameter no one asked for; `details.field` is its name.
    pub fn finish(self) -> Result<(), ApiError> {
        match self.pairs.into_iter().next() {
            None => Ok(()),
            Some((name, _)) => Err(ApiError::Invalid {
                message: format!("unknown query parameter; known: {}", self.known.join(", ")),
                field: name,
            }),
        }
    }
}
