//! Helpers for handler tests: a seeded in-memory store and the `events/` fixtures; and the
//! internals that tests check directly (domain types, the stores' parts, the services).

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use lambda_http::{Body, Request};
use serde_json::Value;

pub use crate::app::App;
pub use crate::domain::{demo_cognito_sub, IdempotencyKey, NewActivity, NewMessage, NewUser, User};
pub use crate::http::{CORS_ALLOW_HEADERS, CORS_ALLOW_METHODS};
pub use crate::store::dynamo::keys;
pub use crate::store::{seed, Capacity, PageRequest, Traced, UserCreation};

/// The operations behind each endpoint.
pub mod services {
    pub use crate::services::*;
}

/// The store contract's cases (run through [`crate::store_contract_tests`]).
pub mod contract {
    pub use crate::store::contract::*;
}

use crate::config::Config;
use crate::error::ApiError;
use crate::http::{respond, Ctx, Reply};
use crate::routes::Endpoint;
use crate::store::{SqliteStore, Store};

/// The repository's `events/` directory.
pub fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events")
}

/// An `events/<name>.json` fixture as JSON, to use as is or to vary.
pub fn event_json(name: &str) -> Value {
    let path = events_dir().join(format!("{name}.json"));
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// A request from an API Gateway event given as JSON.
pub fn request(event: &Value) -> Request {
    lambda_http::request::from_str(&event.to_string()).expect("a valid API Gateway event")
}

/// A request from `events/<name>.json`.
pub fn event(name: &str) -> Request {
    request(&event_json(name))
}

/// An API Gateway event for `endpoint`'s route (variables filled with `sample`), as `caller`
/// (a demo handle, whose access-token claims the authorizer would pass) or as no one.
pub fn event_for(endpoint: &Endpoint, sample: &str, caller: Option<&str>) -> Value {
    let base = if caller.is_some() {
        "create-activity"
    } else {
        "create-activity-unauthenticated"
    };
    let mut event = event_json(base);
    let route = endpoint.route;
    let path = route
        .path
        .split('/')
        .map(|seg| if seg.starts_with('{') { sample } else { seg })
        .collect::<Vec<_>>()
        .join("/");
    let params: serde_json::Map<String, Value> = route
        .variables()
        .map(|name| (name.to_owned(), Value::from(sample)))
        .collect();
    event["resource"] = Value::from(route.path);
    event["path"] = Value::from(path.clone());
    event["httpMethod"] = Value::from(route.method);
    event["pathParameters"] = if params.is_empty() {
        Value::Null
    } else {
        Value::Object(params)
    };
    event["requestContext"]["resourcePath"] = Value::from(route.path);
    event["requestContext"]["httpMethod"] = Value::from(route.method);
    event["requestContext"]["path"] = Value::from(format!("/prod{path}"));
    if let Some(handle) = caller {
        event["requestContext"]["authorizer"]["claims"]["sub"] =
            Value::from(crate::domain::demo_cognito_sub(handle));
    }
    event
}

/// A fresh in-memory SQLite store with the demo data.
pub async fn seeded_store() -> Arc<dyn Store> {
    let store = SqliteStore::open_in_memory().expect("in-memory sqlite");
    seed::seed_demo_data(&store, chrono::Utc::now())
        .await
        .expect("seed");
    Arc::new(store)
}

/// A response decoded for assertions.
#[derive(Debug)]
pub struct TestResponse {
    pub status: u16,
    pub body: Value,
    pub text: String,
    pub headers: lambda_http::http::HeaderMap,
}

/// An app on a seeded in-memory store, as deployed (no local stand-in user).
pub struct TestApp {
    pub app: App,
    pub store: Arc<dyn Store>,
}

impl TestApp {
    pub async fn new() -> Self {
        Self::with_config(Config::default()).await
    }

    pub async fn with_config(config: Config) -> Self {
        let store = seeded_store().await;
        Self {
            app: App::with_store(config, store.clone()),
            store,
        }
    }

    /// Serves `req` as the function of `endpoint` would, edge included.
    pub async fn call<H, F>(&self, endpoint: Endpoint, handler: H, req: Request) -> TestResponse
    where
        H: Fn(Ctx) -> F,
        F: Future<Output = Result<Reply, ApiError>>,
    {
        let response = respond(&self.app, &endpoint, &handler, req).await;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = match response.into_body() {
            Body::Text(text) => text,
            Body::Binary(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Body::Empty => String::new(),
            _ => String::new(),
        };
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        TestResponse {
            status,
            body,
            text,
            headers,
        }
    }
}

/// `events/<name>.json` with its body replaced by `body`, sent as is.
pub fn event_with_body(name: &str, body: &str) -> Request {
    let mut event = event_json(name);
    event["body"] = Value::String(body.to_owned());
    request(&event)
}

/// `events/<name>.json` with a request header set (as API Gateway passes it: both header maps).
pub fn event_with_header(name: &str, header: &str, value: &str) -> Value {
    let mut event = event_json(name);
    event["headers"][header] = Value::from(value);
    event["multiValueHeaders"][header] = serde_json::json!([value]);
    event
}

/// `events/<name>.json` with one path parameter replaced (the `path` is left as it was: the
/// edge reads `pathParameters` first, as on API Gateway).
pub fn event_with_path_param(name: &str, param: &str, value: &str) -> Request {
    let mut event = event_json(name);
    event["pathParameters"][param] = Value::String(value.to_owned());
    request(&event)
}

/// `events/<name>.json` with its query string parameters replaced.
pub fn event_with_query(name: &str, query: &[(&str, &str)]) -> Request {
    let mut event = event_json(name);
    let single: serde_json::Map<String, Value> = query
        .iter()
        .map(|(k, v)| (k.to_string(), Value::from(*v)))
        .collect();
    let multi: serde_json::Map<String, Value> = query
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::json!([v])))
        .collect();
    event["queryStringParameters"] = Value::Object(single);
    event["multiValueQueryStringParameters"] = Value::Object(multi);
    request(&event)
}

/// `events/<name>.json` as a Function URL sees it (what `cargo lambda watch` sends): no
/// `pathParameters`, no stage, parameters only in the raw path.
pub fn event_as_function_url(name: &str) -> Request {
    let rest = event_json(name);
    let path = rest["path"].as_str().unwrap_or("/");
    let query = rest["queryStringParameters"]
        .as_object()
        .map(|q| {
            q.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join("&")
        })
        .unwrap_or_default();
    let event = serde_json::json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": rest["headers"],
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "local",
            "domainName": "localhost",
            "domainPrefix": "localhost",
            "http": {"method": rest["httpMethod"], "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "curl"},
            "requestId": "local-request",
            "routeKey": "$default",
            "stage": "$default",
            "time": "21/Nov/2026:06:00:00 +0000",
            "timeEpoch": 1795240800000u64
        },
        "body": rest["body"],
        "isBase64Encoded": false
    });
    request(&event)
}

/// A DynamoDB store on a fresh table at `endpoint` (DynamoDB Local), with test credentials.
pub async fn dynamo_store(endpoint: &str) -> crate::store::DynamoStore {
    let store = dynamo_client_store(endpoint);
    store.create_table().await.expect("create the table");
    store
}

/// A DynamoDB store on a table named for this test at `endpoint`, not created: for endpoints
/// that only stand in for DynamoDB.
pub fn dynamo_client_store(endpoint: &str) -> crate::store::DynamoStore {
    let table = format!("cruddur-test-{}", uuid::Uuid::new_v4().simple());
    crate::store::DynamoStore::new(dynamo_client(endpoint), table, "us-east-1")
}

/// A DynamoDB client for `endpoint` with test credentials.
pub fn dynamo_client(endpoint: &str) -> aws_sdk_dynamodb::Client {
    use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(cruddur_aws_https::https_client())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "local",
            "local",
            None,
            None,
            "cruddur-tests",
        ))
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// [`dynamo_store`] with the demo data.
pub async fn seeded_dynamo_store(endpoint: &str) -> Arc<dyn Store> {
    let store = dynamo_store(endpoint).await;
    seed::seed_demo_data(&store, chrono::Utc::now())
        .await
        .expect("seed");
    Arc::new(store)
}
