//! The one error type of the API, mapped to an HTTP status and a JSON array of codes in one place.

use crate::store::StoreError;

/// Everything a request can fail with. Bodies are JSON arrays of snake_case codes.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the body is not JSON of the expected shape, or not sent as JSON.
    #[error("request body is not valid JSON")]
    InvalidJson,
    /// 400: a request header is malformed (code such as `idempotency_key_invalid`).
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    /// 401: no caller identity, or one that matches no user.
    #[error("no known caller identity")]
    Unauthorized,
    /// 404: the named thing does not exist (`activity_not_found`, `user_not_found`, ...).
    #[error("not found: {0}")]
    NotFound(&'static str),
    /// 405: the function was invoked with a method its route does not serve.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 413: the body is larger than [`crate::http::MAX_BODY_BYTES`].
    #[error("request body too large")]
    PayloadTooLarge,
    /// 422: input failed validation; every failing check is listed.
    #[error("validation failed: {0:?}")]
    Validation(Vec<&'static str>),
    /// 503: the store cannot be reached or opened. The cause is logged, never sent.
    #[error("store unavailable")]
    ServiceUnavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    pub fn status(&self) -> u16 {
        match self {
            ApiError::InvalidJson | ApiError::BadRequest(_) => 400,
            ApiError::Unauthorized => 401,
            ApiError::NotFound(_) => 404,
            ApiError::MethodNotAllowed => 405,
            ApiError::PayloadTooLarge => 413,
            ApiError::Validation(_) => 422,
            ApiError::ServiceUnavailable(_) => 503,
        }
    }

    /// The codes sent to the client.
    pub fn codes(&self) -> Vec<&'static str> {
        match self {
            ApiError::InvalidJson => vec!["invalid_json"],
            ApiError::BadRequest(code) => vec![code],
            ApiError::Unauthorized => vec!["unauthorized"],
            ApiError::NotFound(code) => vec![code],
            ApiError::MethodNotAllowed => vec!["method_not_allowed"],
            ApiError::PayloadTooLarge => vec!["payload_too_large"],
            ApiError::Validation(codes) => codes.clone(),
            ApiError::ServiceUnavailable(_) => vec!["service_unavailable"],
        }
    }

    /// Collects the codes of failed checks: `Ok(())` when none failed.
    pub fn check(codes: Vec<&'static str>) -> Result<(), ApiError> {
        if codes.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(codes))
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound(code) => ApiError::NotFound(code),
            StoreError::Conflict(code) => ApiError::Validation(vec![code]),
            StoreError::InvalidCursor => ApiError::Validation(vec!["cursor_invalid"]),
            StoreError::Unavailable(source) => ApiError::ServiceUnavailable(source),
        }
    }
}

/// Takes the error of a validation step, so several steps can be checked before failing:
/// `let msg = collect(&mut codes, ActivityMessage::parse(..));`
pub fn collect<T>(codes: &mut Vec<&'static str>, result: Result<T, &'static str>) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(code) => {
            codes.push(code);
            None
        }
    }
}

/// `outer: inner: innermost`, so a log line carries the whole cause.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
