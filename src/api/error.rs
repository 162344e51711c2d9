//! The API's one error type. Every error leaves as `{"error": {"code", "message", "details"}}`.

use crate::model::InvalidValue;
use crate::service::ServiceError;
use crate::store::StoreError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request could not be read (malformed JSON, a bad path or query parameter).
    #[error("{message}")]
    BadRequest { message: String, details: Value },
    /// 422: the request was read but a field is wrong; `field` names it.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// 404: no such resource.
    #[error("{0}")]
    NotFound(String),
    /// 405: the route exists but not with this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 409: the request conflicts with the resource's state (e.g. an illegal status change).
    #[error("{0}")]
    Conflict(String),
    /// 413: the body is larger than the limit.
    #[error("request body is larger than {limit_bytes} bytes")]
    TooLarge { limit_bytes: usize },
    /// 503: the service cannot serve now (the store is unreachable).
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// 500: a fault of ours. Logged with its detail; the client sees a generic message.
    #[error("internal error: {0}")]
    Internal(String),
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
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
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
            ApiError::Conflict(_) => "conflict",
            ApiError::TooLarge { .. } => "payload_too_large",
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
            StoreError::Database { .. } | StoreError::Migrate(_) => {
                ApiError::Unavailable(e.to_string())
            }
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
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let (message, details) = match &self {
            ApiError::Internal(detail) | ApiError::Unavailable(detail) => {
                tracing::error!(%status, %detail, "request failed");
                let public = if status == StatusCode::SERVICE_UNAVAILABLE {
                    "the store is not reachable; try again shortly"
                } else {
                    "internal error; it has been logged"
                };
                (public.to_string(), Value::Null)
            }
            ApiError::Invalid { field, message } => {
                (format!("{field}: {message}"), json!({ "field": field }))
            }
            ApiError::BadRequest { message, details } => (message.clone(), details.clone()),
            ApiError::TooLarge { limit_bytes } => {
                (self.to_string(), json!({ "limit_bytes": limit_bytes }))
            }
            other => (other.to_string(), Value::Null),
        };
        let body =
            json!({ "error": { "code": self.code(), "message": message, "details": details } });
        (status, Json(body)).into_response()
    }
}
