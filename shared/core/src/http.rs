//! The HTTP edge every function shares: its route, path parameters, JSON bodies, the caller's
//! identity, error responses and CORS. A function supplies a route and a handler; [`endpoint`]
//! turns them into a `lambda_http` service.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use lambda_http::http::header::{HeaderValue, CONTENT_TYPE, ORIGIN, VARY};
use lambda_http::http::{HeaderMap, Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::OnceCell;
use tracing::field::Empty;
use tracing::{Instrument, Span};

use crate::auth;
use crate::config::Config;
use crate::domain::{percent_decode, User};
use crate::error::ApiError;
use crate::store::{seed, DynamoStore, Page, SqliteStore, Store, StoreError};

/// Largest request body accepted (API Gateway allows more; Cruddur never needs it).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Response header carrying the cursor of the next page of a feed.
pub const NEXT_CURSOR_HEADER: &str = "x-next-cursor";

/// A function's route: method and path template as API Gateway declares it,
/// e.g. `GET /api/activities/{handle}/status/{uuid}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
}

impl Route {
    pub const fn get(path: &'static str) -> Self {
        Self {
            method: "GET",
            path,
        }
    }

    pub const fn post(path: &'static str) -> Self {
        Self {
            method: "POST",
            path,
        }
    }

    /// The variables of the template (`{handle}` -> `handle`), in order.
    pub fn variables(&self) -> impl Iterator<Item = &'static str> {
        self.path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
    }

    /// Matches a path against the template. The path may carry a prefix before the template
    /// (an API Gateway stage, a local router's function prefix); variables are percent-decoded.
    pub fn match_path(&self, path: &str) -> Option<HashMap<String, String>> {
        let template: Vec<&str> = segments(self.path).collect();
        let path: Vec<&str> = segments(path).collect();
        let tail = path.get(path.len().checked_sub(template.len())?..)?;
        let mut params = HashMap::new();
        for (pattern, actual) in template.iter().zip(tail) {
            match pattern.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => {
                    params.insert(name.to_owned(), percent_decode(actual));
                }
                None if pattern == actual => {}
                None => return None,
            }
        }
        Some(params)
    }

    /// Path parameters of a request: API Gateway's `pathParameters` when present, else the
    /// template matched against the raw path (which never includes the stage).
    fn params_of(&self, req: &Request) -> Option<HashMap<String, String>> {
        if self.variables().next().is_none() {
            return Some(HashMap::new());
        }
        if let Some(given) = req.path_parameters_ref().filter(|p| !p.is_empty()) {
            return Some(
                self.variables()
                    .filter_map(|name| {
                        given
                            .first(name)
                            .map(|v| (name.to_owned(), percent_decode(v)))
                    })
                    .collect(),
            );
        }
        self.match_path(req.raw_http_path())
    }
}

fn segments(path: &str) -> impl Iterator<Item = &str> {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let trimmed = path.trim_matches('/');
    trimmed.split('/').filter(move |_| !trimmed.is_empty())
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

/// What a handler gets: the request, its path parameters, the store and the configuration.
pub struct Ctx {
    req: Request,
    params: HashMap<String, String>,
    store: Arc<dyn Store>,
    config: Arc<Config>,
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

    /// The body parsed as JSON. Wrong content type, malformed JSON or a body of the wrong shape
    /// is `invalid_json`.
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
        serde_json::from_slice(bytes).map_err(|_| ApiError::InvalidJson)
    }

    /// The authenticated caller (see [`auth::caller`]); recorded on the request span.
    pub async fn caller(&self) -> Result<User, ApiError> {
        let user = auth::caller(&self.req, self.store(), &self.config).await?;
        self.span.record("user_id", user.uuid.to_string());
        self.record_handle(&user.handle);
        Ok(user)
    }

    /// Records the handle a request is about (`app.handle`), as the original app did.
    pub fn record_handle(&self, handle: &str) {
        self.span.record("app.handle", handle);
    }
}

/// A function's state for its whole life: configuration, and the store opened on first use.
pub struct App {
    config: Arc<Config>,
    store: OnceCell<Arc<dyn Store>>,
}

impl App {
    pub fn from_env() -> Self {
        Self::new(Config::from_env())
    }

    pub fn new(config: Config) -> Self {
        Self {
            config: Arc::new(config),
            store: OnceCell::new(),
        }
    }

    /// An app on a given store (tests).
    pub fn with_store(config: Config, store: Arc<dyn Store>) -> Self {
        Self {
            config: Arc::new(config),
            store: OnceCell::new_with(Some(store)),
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The store, opened once per process. A failed open is retried by the next request.
    pub async fn store(&self) -> Result<Arc<dyn Store>, StoreError> {
        self.store
            .get_or_try_init(|| open_store(&self.config))
            .await
            .cloned()
    }

    /// Serves one request with `handler`, turning every outcome into a response.
    pub async fn handle<H, F>(&self, route: &Route, handler: &H, req: Request) -> Response<Body>
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
                route = route.path,
                app.handle = Empty,
                user_id = Empty
            );
            match self
                .dispatch(route, handler, req, span.clone())
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
        cors(&self.config, origin.as_ref(), response.headers_mut());
        response
    }

    async fn dispatch<H, F>(
        &self,
        route: &Route,
        handler: &H,
        req: Request,
        span: Span,
    ) -> Result<Reply, ApiError>
    where
        H: Fn(Ctx) -> F,
        F: Future<Output = Result<Reply, ApiError>>,
    {
        let method_matches = req.method().as_str() == route.method
            || (req.method() == Method::HEAD && route.method == "GET");
        if !method_matches {
            return Err(ApiError::MethodNotAllowed);
        }
        let params = route
            .params_of(&req)
            .ok_or(ApiError::NotFound("route_not_found"))?;
        if req.body().len() > MAX_BODY_BYTES {
            return Err(ApiError::PayloadTooLarge);
        }
        let store = self.store().await?;
        handler(Ctx {
            req,
            params,
            store,
            config: self.config.clone(),
            span,
        })
        .await
    }
}

impl Reply {
    fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }
}

/// Opens the configured store: DynamoDB when `CRUDDUR_TABLE_NAME` is set, else the embedded
/// SQLite file. Unless seeding is off, a store without the demo data gets it (and a missing
/// DynamoDB table is created from the schema).
async fn open_store(config: &Config) -> Result<Arc<dyn Store>, StoreError> {
    let store: Arc<dyn Store> = match &config.table_name {
        Some(table) => {
            let dynamo = DynamoStore::from_env(table.clone()).await;
            if config.seed_demo_data {
                dynamo.create_table().await?;
            }
            Arc::new(dynamo)
        }
        None => Arc::new(SqliteStore::open(&config.sqlite_path)?),
    };
    if config.seed_demo_data && !store.is_seeded().await? {
        seed::seed_demo_data(store.as_ref(), chrono::Utc::now()).await?;
        store.mark_seeded().await?;
        tracing::info!(
            store = store.system(),
            "seeded the store with the demo data"
        );
    }
    Ok(store)
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
        HeaderValue::from_static("content-type,if-modified-since,authorization,traceparent"),
    );
    headers.insert(
        "access-control-allow-methods",
        HeaderValue::from_static("OPTIONS,GET,HEAD,POST"),
    );
    headers.insert(
        "access-control-expose-headers",
        HeaderValue::from_static("location,link,x-next-cursor"),
    );
}

/// The `lambda_http` service for a function: one [`App`] per process, `handler` per request.
pub fn endpoint<H, F>(
    route: Route,
    handler: H,
) -> impl lambda_http::Service<
    Request,
    Response = Response<Body>,
    Error = lambda_http::Error,
    Future = impl Future<Output = Result<Response<Body>, lambda_http::Error>> + Send,
>
where
    H: Fn(Ctx) -> F + Send + Sync + 'static,
    F: Future<Output = Result<Reply, ApiError>> + Send,
{
    let app = Arc::new(App::from_env());
    let handler = Arc::new(handler);
    lambda_http::service_fn(move |req: Request| {
        let app = app.clone();
        let handler = handler.clone();
        async move { Ok(app.handle(&route, handler.as_ref(), req).await) }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHOW: Route = Route::get("/api/activities/{handle}/status/{uuid}");

    #[test]
    fn template_matches_with_and_without_prefixes() {
        for path in [
            "/api/activities/@worf/status/abc",
            "/prod/api/activities/@worf/status/abc",
            "/lambda-url/show-activity/api/activities/%40worf/status/abc/",
        ] {
            let params = SHOW.match_path(path).unwrap_or_else(|| panic!("{path}"));
            assert_eq!(params["handle"], "@worf");
            assert_eq!(params["uuid"], "abc");
        }
        assert!(SHOW
            .match_path("/api/activities/@worf/replies/abc")
            .is_none());
        assert!(SHOW.match_path("/status/abc").is_none());
        assert!(SHOW.match_path("").is_none());
    }

    #[test]
    fn empty_segment_matches_as_empty_variable() {
        let params = SHOW.match_path("/api/activities//status/abc").unwrap();
        assert_eq!(params["handle"], "");
    }

    #[test]
    fn variables_are_listed_in_order() {
        assert_eq!(SHOW.variables().collect::<Vec<_>>(), ["handle", "uuid"]);
        assert_eq!(Route::get("/api/health-check").variables().count(), 0);
    }
}
