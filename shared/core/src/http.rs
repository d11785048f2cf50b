//! The HTTP edge every function shares: path parameters, the caller, JSON bodies, error
//! responses and CORS. A function supplies its row of the route table and a handler;
//! [`http_service`] turns them into a `lambda_http` service. Whatever the route table says a
//! request needs (method, path, body size, a caller) is checked here, once, before the handler
//! runs.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use lambda_http::http::header::{HeaderValue, CONTENT_TYPE, ORIGIN, VARY};
use lambda_http::http::{HeaderMap, Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tracing::field::Empty;
use tracing::{Instrument, Span};

use crate::app::App;
use crate::auth;
use crate::config::Config;
use crate::domain::{percent_decode, IdempotencyKey, User};
use crate::error::{error_chain, ApiError};
use crate::routes::{Endpoint, Route};
use crate::services::Created;
use crate::store::{Page, Store};

/// Largest request body accepted (API Gateway allows more; Cruddur never needs it).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Response header carrying the cursor of the next page of a feed.
pub const NEXT_CURSOR_HEADER: &str = "x-next-cursor";
/// Request header that makes a create idempotent (IETF draft of that name).
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";
/// Response header set on a create answered with the result of an earlier request with the
/// same idempotency key.
pub const IDEMPOTENT_REPLAYED_HEADER: &str = "idempotent-replayed";
/// Request headers a browser may send (CORS); template.yaml's API declares the same list.
pub const CORS_ALLOW_HEADERS: &str =
    "content-type,if-modified-since,authorization,traceparent,idempotency-key";
/// Methods a browser may use (CORS); template.yaml's API declares the same list.
pub const CORS_ALLOW_METHODS: &str = "OPTIONS,GET,HEAD,POST,PUT";
/// Response headers a browser script may read.
pub const CORS_EXPOSE_HEADERS: &str = "location,link,x-next-cursor,idempotent-replayed";

/// Path parameters of a request: API Gateway's `pathParameters` when present, else the route's
/// template matched against the raw path (which never includes the stage). Decoded once.
fn path_params(route: &Route, req: &Request) -> Option<HashMap<String, String>> {
    if route.variables().next().is_none() {
        return Some(HashMap::new());
    }
    if let Some(given) = req.path_parameters_ref().filter(|p| !p.is_empty()) {
        return Some(
            route
                .variables()
                .filter_map(|name| {
                    given
                        .first(name)
                        .map(|v| (name.to_owned(), percent_decode(v)))
                })
                .collect(),
        );
    }
    route.match_path(req.raw_http_path())
}

/// What a handler answers: a status, a JSON (or text) body and extra headers.
#[derive(Debug, Clone)]
pub struct Reply {
    status: StatusCode,
    body: ReplyBody,
    headers: Vec<(&'static str, String)>,
}

#[derive(Debug, Clone)]
enum ReplyBody {
    Json(serde_json::Value),
    Text(String),
}

impl Reply {
    /// 200 with a JSON body.
    pub fn json(value: &impl Serialize) -> Self {
        let body = serde_json::to_value(value).unwrap_or_else(|err| {
            // Domain types always serialise; this is a bug, not bad input.
            tracing::error!(error = %err, "response did not serialise");
            serde_json::Value::Null
        });
        Self {
            status: StatusCode::OK,
            body: ReplyBody::Json(body),
            headers: Vec::new(),
        }
    }

    /// 200 with the page's items as a JSON array and the next page's cursor in a header.
    pub fn page<T: Serialize>(page: Page<T>) -> Self {
        Self::json(&page.items).with_next_cursor(page.next_cursor)
    }

    /// 200 with a plain-text body.
    pub fn text(body: impl Into<String>) -> Self {
        Self {
            status: StatusCode::OK,
            body: ReplyBody::Text(body.into()),
            headers: Vec::new(),
        }
    }

    /// 200 with what a create made (or, replayed, what its first request made).
    pub fn created<T: Serialize>(created: Created<T>) -> Self {
        let mut reply = Self::json(&created.value);
        if created.replayed {
            reply
                .headers
                .push((IDEMPOTENT_REPLAYED_HEADER, "true".to_owned()));
        }
        reply
    }

    pub fn with_next_cursor(mut self, cursor: Option<String>) -> Self {
        if let Some(cursor) = cursor {
            self.headers.push((NEXT_CURSOR_HEADER, cursor));
        }
        self
    }

    fn error(err: &ApiError) -> Self {
        Self {
            status: StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            body: ReplyBody::Json(serde_json::json!(err.codes())),
            headers: Vec::new(),
        }
    }

    fn into_response(self) -> Response<Body> {
        let (content_type, body) = match self.body {
            ReplyBody::Json(value) => ("application/json", Body::Text(value.to_string())),
            ReplyBody::Text(text) => ("text/plain; charset=utf-8", Body::Text(text)),
        };
        let mut response = Response::new(body);
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        for (name, value) in self.headers {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
        response
    }
}

/// What a handler gets: the request, its path parameters, the store and, on routes that need
/// one, the caller.
pub struct Ctx {
    req: Request,
    params: HashMap<String, String>,
    store: Arc<dyn Store>,
    caller: Option<User>,
    span: Span,
}

impl Ctx {
    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    pub fn request(&self) -> &Request {
        &self.req
    }

    /// A path parameter, percent-decoded.
    pub fn path_param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// A query string parameter (first value).
    pub fn query(&self, name: &str) -> Option<&str> {
        self.req
            .query_string_parameters_ref()
            .and_then(|q| q.first(name))
    }

    /// The `?cursor=` of a paginated feed.
    pub fn cursor(&self) -> Option<String> {
        self.query("cursor")
            .map(str::to_owned)
            .filter(|c| !c.is_empty())
    }

    /// The body as a JSON object of the expected shape. A non-JSON content type, malformed JSON,
    /// anything but an object (serde would read an array positionally) or fields of the wrong
    /// type are `invalid_json`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        if let Some(content_type) = self.req.headers().get(CONTENT_TYPE) {
            let essence = content_type
                .to_str()
                .unwrap_or_default()
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            if essence != "application/json" && !essence.ends_with("+json") {
                return Err(ApiError::InvalidJson);
            }
        }
        let bytes: &[u8] = self.req.body().as_ref();
        match serde_json::from_slice::<serde_json::Value>(bytes) {
            Ok(object @ serde_json::Value::Object(_)) => {
                serde_json::from_value(object).map_err(|_| ApiError::InvalidJson)
            }
            _ => Err(ApiError::InvalidJson),
        }
    }

    /// The request's `Idempotency-Key`, if it sent one; a malformed one is
    /// `idempotency_key_invalid`.
    pub fn idempotency_key(&self) -> Result<Option<IdempotencyKey>, ApiError> {
        self.req
            .headers()
            .get(IDEMPOTENCY_KEY_HEADER)
            .map(|value| IdempotencyKey::parse(value.as_bytes()))
            .transpose()
            .map_err(ApiError::BadRequest)
    }

    /// The caller, resolved by the edge on routes whose row says `auth`. On other routes there
    /// is none: `Unauthorized`.
    pub fn caller(&self) -> Result<&User, ApiError> {
        self.caller.as_ref().ok_or(ApiError::Unauthorized)
    }

    /// Records the handle a request is about (`app.handle`), as the original app did.
    pub fn record_handle(&self, handle: &str) {
        self.span.record("app.handle", handle);
    }
}

/// Serves one request of `endpoint` with `handler`, turning every outcome into a response.
pub async fn respond<H, F>(
    app: &App,
    endpoint: &Endpoint,
    handler: &H,
    req: Request,
) -> Response<Body>
where
    H: Fn(Ctx) -> F,
    F: Future<Output = Result<Reply, ApiError>>,
{
    let origin = req.headers().get(ORIGIN).cloned();
    let reply = if req.method() == Method::OPTIONS {
        Reply::text("").with_status(StatusCode::NO_CONTENT)
    } else {
        let span = tracing::info_span!(
            "handler",
            route = endpoint.route.path,
            app.handle = Empty,
            user_id = Empty
        );
        match dispatch(app, endpoint, handler, req, span.clone())
            .instrument(span)
            .await
        {
            Ok(reply) => reply,
            Err(err) => {
                log_error(&err);
                Reply::error(&err)
            }
        }
    };
    let mut response = reply.into_response();
    cors(app.config(), origin.as_ref(), response.headers_mut());
    response
}

/// The edge's checks, in the order API Gateway would make them, then the handler.
async fn dispatch<H, F>(
    app: &App,
    endpoint: &Endpoint,
    handler: &H,
    req: Request,
    span: Span,
) -> Result<Reply, ApiError>
where
    H: Fn(Ctx) -> F,
    F: Future<Output = Result<Reply, ApiError>>,
{
    let route = &endpoint.route;
    let method_matches = req.method().as_str() == route.method
        || (req.method() == Method::HEAD && route.method == "GET");
    if !method_matches {
        return Err(ApiError::MethodNotAllowed);
    }
    let params = path_params(route, &req).ok_or(ApiError::NotFound("route_not_found"))?;
    if req.body().len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge);
    }
    let store = app.store().await?;
    let caller = if endpoint.auth {
        let user = auth::caller(&req, store.as_ref(), app.config()).await?;
        span.record("user_id", user.uuid.to_string());
        span.record("app.handle", user.handle.as_str());
        Some(user)
    } else {
        None
    };
    handler(Ctx {
        req,
        params,
        store,
        caller,
        span,
    })
    .await
}

impl Reply {
    fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }
}

fn log_error(err: &ApiError) {
    match err {
        ApiError::ServiceUnavailable(source) => {
            tracing::error!(error.type = "ServiceUnavailable", error = %error_chain(source.as_ref()), "store unavailable");
        }
        other => {
            tracing::info!(status = other.status(), codes = ?other.codes(), "request rejected")
        }
    }
}

/// CORS as the original Flask app: allowed origins from `FRONTEND_URL`/`BACKEND_URL`.
fn cors(config: &Config, origin: Option<&HeaderValue>, headers: &mut HeaderMap) {
    let allow_origin = if config.allowed_origins.is_empty() {
        Some(HeaderValue::from_static("*"))
    } else {
        origin
            .filter(|o| {
                let o = o.to_str().unwrap_or_default().trim_end_matches('/');
                config.allowed_origins.iter().any(|allowed| allowed == o)
            })
            .cloned()
    };
    if let Some(value) = allow_origin {
        headers.insert("access-control-allow-origin", value);
    }
    headers.insert(VARY, HeaderValue::from_static("Origin"));
    headers.insert(
        "access-control-allow-headers",
        HeaderValue::from_static(CORS_ALLOW_HEADERS),
    );
    headers.insert(
        "access-control-allow-methods",
        HeaderValue::from_static(CORS_ALLOW_METHODS),
    );
    headers.insert(
        "access-control-expose-headers",
        HeaderValue::from_static(CORS_EXPOSE_HEADERS),
    );
}

/// The `lambda_http` service for a function: one [`App`] per process, `handler` per request,
/// behind the edge that enforces `endpoint`'s row of the route table.
pub fn http_service<H, F>(
    endpoint: Endpoint,
    handler: H,
) -> impl lambda_http::Service<
    Request,
    Response = Response<Body>,
    Error = lambda_http::Error,
    Future = impl Future<Output = Result<Response<Body>, lambda_http::Error>> + Send,
> + Clone
where
    H: Fn(Ctx) -> F + Send + Sync + 'static,
    F: Future<Output = Result<Reply, ApiError>> + Send,
{
    let app = Arc::new(App::from_env());
    let handler = Arc::new(handler);
    lambda_http::service_fn(move |req: Request| {
        let app = app.clone();
        let handler = handler.clone();
        async move { Ok(respond(&app, &endpoint, handler.as_ref(), req).await) }
    })
}
