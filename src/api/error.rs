//! The API's one error type. Every error leaves as `{"error": {"code", "message", "details"}}`.

use crate::model::InvalidValue;
use crate::service::ServiceError;
use crate::store::StoreError;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Seconds a client is asked to wait (`Retry-After`) before trying again after a 503.
pub const RETRY_AFTER_S: u64 = 2;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request could not be read (malformed JSON, a bad path).
    #[error("{message}")]
    BadRequest { message: String, details: Value },
    /// 422: the request was read but a field or query parameter is wrong; `field` names it.
    #[error("{}", invalid_message(field, message))]
    Invalid { field: String, message: String },
    /// 404: no such resource.
    #[error("{0}")]
    NotFound(String),
    /// 405: the route exists but not with this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 408: the request body did not arrive in time.
    #[error("the request body did not arrive within {seconds} s")]
    Timeout { seconds: u64 },
    /// 409: the request conflicts with the resource's state (e.g. an illegal status change).
    #[error("{0}")]
    Conflict(String),
    /// 413: the body is (or is declared) larger than the limit.
    #[error("request body is larger than {limit_bytes} bytes")]
    TooLarge { limit_bytes: usize },
    /// 431: the request's head (request line and headers) is larger than the limit.
    #[error("request head is larger than {limit_bytes} bytes")]
    HeadTooLarge { limit_bytes: usize },
    /// 503 with `Retry-After`: the store is out of reach or timed out, or writes are backed up.
    /// Logged with its detail; the client sees a generic message.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// 500: a fault of ours. Logged with its detail under an error id; the client sees the id.
    #[error("internal error: {0}")]
    Internal(String),
}

/// `field: message`, unless the message already starts with the field's name.
fn invalid_message(field: &str, message: &str) -> String {
    let names_field = message
        .strip_prefix(field)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', ':']));
    if names_field {
        message.to_string()
    } else {
        format!("{field}: {message}")
    }
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::BadRequest {
            message: message.into(),
            details: Value::Null,
        }
    }

    pub fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Timeout { .. } => StatusCode::REQUEST_TIMEOUT,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::HeadTooLarge { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { .. } => "bad_request",
            ApiError::Invalid { .. } => "invalid",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Timeout { .. } => "request_timeout",
            ApiError::Conflict(_) => "conflict",
            ApiError::TooLarge { .. } => "payload_too_large",
            ApiError::HeadTooLarge { .. } => "header_too_large",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }
}

impl From<InvalidValue> for ApiError {
    fn from(e: InvalidValue) -> Self {
        ApiError::Invalid {
            field: e.field.to_string(),
            message: e.message,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(id) => ApiError::NotFound(format!("report {id} does not exist")),
            StoreError::Refused(refused) => ApiError::Conflict(refused.to_string()),
            e if e.is_unavailable() => ApiError::Unavailable(e.to_string()),
            // A failing query, a migration or unreadable data: ours to fix, not the client's to
            // retry.
            e => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Invalid(v) => v.into(),
            ServiceError::Wards(w) => ApiError::Invalid {
                field: "wards".into(),
                message: w.to_string(),
            },
            ServiceError::Store(s) => s.into(),
            ServiceError::Unavailable(detail) => ApiError::Unavailable(detail),
        }
    }
}

/// A short id that ties a 500 answer to its log line.
fn error_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let (message, details) = match &self {
            ApiError::Unavailable(detail) => {
                tracing::warn!(%status, %detail, "store unavailable");
                (
                    "the store is not reachable or too slow right now; try again shortly".into(),
                    json!({ "retry_after_s": RETRY_AFTER_S }),
                )
            }
            ApiError::Internal(detail) => {
                let id = error_id();
                tracing::error!(%status, error_id = %id, %detail, "request failed");
                (
                    format!("internal error {id}; it has been logged"),
                    json!({ "error_id": id }),
                )
            }
            ApiError::Invalid { field, .. } => (self.to_string(), json!({ "field": field })),
            ApiError::BadRequest { message, details } => (message.clone(), details.clone()),
            ApiError::TooLarge { limit_bytes } | ApiError::HeadTooLarge { limit_bytes } => {
                (self.to_string(), json!({ "limit_bytes": limit_bytes }))
            }
            other => (other.to_string(), Value::Null),
        };
        let body =
            json!({ "error": { "code": self.code(), "message": message, "details": details } });
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_S));
        }
        if matches!(
            self,
            ApiError::TooLarge { .. } | ApiError::HeadTooLarge { .. } | ApiError::Timeout { .. }
        ) {
            // The rest of the request is not read: the connection cannot carry another one.
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_naming_its_field_is_not_prefixed_again() {
        let e = |field: &str, message: &str| {
            ApiError::Invalid {
                field: field.into(),
                message: message.into(),
            }
            .to_string()
        };
        assert_eq!(
            e("radius_m", "radius_m must be > 0"),
            "radius_m must be > 0"
        );
        assert_eq!(e("limit", "must be 1..500"), "limit: must be 1..500");
        assert_eq!(e("to", "today is not a time"), "to: today is not a time");
    }

    #[test]
    fn unavailable_is_503_with_retry_after_and_a_fault_500_with_an_id_and_no_detail() {
        let busy = ApiError::from(ServiceError::Unavailable("writer busy".into())).into_response();
        assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(busy.headers()[header::RETRY_AFTER], "2");
        let fault = ApiError::from(StoreError::Corrupt {
            what: "select secret from report".into(),
            message: "bad".into(),
        });
        let response = fault.into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(response.headers().get(header::RETRY_AFTER).is_none());
    }
}
