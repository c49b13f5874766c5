//! One error type for every handler: the client gets JSON it can act on
//! (`{"error": "...", "path": "..."}`), the detail goes to the log.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use simulator::wire::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The request body is not what the endpoint takes; `path` names the field.
    #[error("{message}")]
    Invalid {
        status: StatusCode,
        message: String,
        path: Option<String>,
    },
    #[error("{0}")]
    NotFound(String),
    /// The request clashes with the session's state (an experiment already running).
    #[error("{0}")]
    Conflict(String),
    #[error("this request changes the session and needs 'Authorization: Bearer <token>'")]
    Unauthorized,
    /// Something failed on the server's side; the detail is logged, the client told so.
    #[error("{0}")]
    Internal(String),
}

impl AppError {
    pub fn unprocessable(message: impl Into<String>, path: impl Into<String>) -> AppError {
        let path = path.into();
        AppError::Invalid {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message: message.into(),
            path: (!path.is_empty()).then_some(path),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> AppError {
        AppError::Invalid {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            path: None,
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, path) = match &self {
            AppError::Invalid { status, path, .. } => (*status, path.clone()),
            AppError::NotFound(_) => (StatusCode::NOT_FOUND, None),
            AppError::Conflict(_) => (StatusCode::CONFLICT, None),
            AppError::Unauthorized => (StatusCode::UNAUTHORIZED, None),
            AppError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, None),
        };
        let error = match &self {
            AppError::Internal(detail) => {
                tracing::error!(%detail, "request failed");
                "the server could not complete this request; its log says why".to_string()
            }
            other => {
                tracing::debug!(%status, error = %other, "request refused");
                other.to_string()
            }
        };
        let body = ApiError { error, path };
        (status, Json(body)).into_response()
    }
}
