//! What the end-to-end tests share: the examples, built by `cargo test` beside the test binaries,
//! run as Lambda runs a function, against a Runtime API emulator, a UDP socket as the X-Ray daemon
//! and HTTP sinks as the OTLP and Rollbar endpoints.

#![allow(dead_code)] // each test file uses its own part

use std::path::PathBuf;
use std::time::Duration;

use lambda_testkit::http::SinkBehavior;
use lambda_testkit::{FunctionProcess, HttpSink, RuntimeEmulator, XrayCollector};
use serde_json::{json, Value};

pub const WAIT: Duration = Duration::from_secs(10);
/// A bearer token fragment that must never reach telemetry.
pub const TOKEN_FRAGMENT: &str = "eyJraWQiOiJ0ZXN0IiwiYWxnIjoiUlMyNTYifQ";
pub const ROLLBAR_TOKEN: &str = "rollbar-test-token";

/// An example's binary, as `cargo test` built it for this test run (`target/<profile>/examples`).
pub fn example(name: &str) -> PathBuf {
    let deps = std::env::current_exe().expect("the test binary's path");
    let path = deps
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps")
        .join("examples")
        .join(name);
    assert!(path.exists(), "{} is not built", path.display());
    path
}

/// An API Gateway REST proxy event for `method path?query`, with the headers a browser sends
/// (an `Authorization` header among them, which telemetry must never carry).
pub fn http_event(method: &str, path: &str, query: &[(&str, &str)]) -> Value {
    let single: serde_json::Map<String, Value> = query
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
        .collect();
    let multi: serde_json::Map<String, Value> = query
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!([v])))
        .collect();
    let headers = [
        ("Accept", "text/plain"),
        (
            "Authorization",
            &format!("Bearer {TOKEN_FRAGMENT}.payload.signature") as &str,
        ),
        ("Host", "abc123.execute-api.us-east-1.amazonaws.com"),
        ("User-Agent", "example-client/1.0"),
        ("X-Forwarded-For", "203.0.113.10"),
    ];
    json!({
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": headers.iter().map(|(k, v)| ((*k).to_owned(), Value::from(*v))).collect::<serde_json::Map<_, _>>(),
        "multiValueHeaders": headers.iter().map(|(k, v)| ((*k).to_owned(), json!([v]))).collect::<serde_json::Map<_, _>>(),
        "queryStringParameters": if query.is_empty() { Value::Null } else { single.into() },
        "multiValueQueryStringParameters": if query.is_empty() { Value::Null } else { multi.into() },
        "pathParameters": null,
        "stageVariables": null,
        "requestContext": {
            "resourcePath": path,
            "httpMethod": method,
            "path": format!("/prod{path}"),
            "accountId": "123456789012",
            "protocol": "HTTP/1.1",
            "stage": "prod",
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbe01",
            "identity": {"sourceIp": "203.0.113.10", "userAgent": "example-client/1.0"},
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "apiId": "abc123"
        },
        "body": null,
        "isBase64Encoded": false
    })
}

/// An example running against loopback stand-ins.
pub struct Harness {
    pub runtime: RuntimeEmulator,
    pub xray: XrayCollector,
    pub otlp: HttpSink,
    pub rollbar: HttpSink,
    pub process: FunctionProcess,
}

impl Harness {
    /// `example` with OTLP and Rollbar on their sinks, plus `env`.
    pub async fn start(example_name: &str, env: &[(&str, &str)]) -> Self {
        Self::start_with(
            example_name,
            env,
            HttpSink::start().await,
            HttpSink::start().await,
        )
        .await
    }

    pub async fn start_with(
        example_name: &str,
        env: &[(&str, &str)],
        otlp: HttpSink,
        rollbar: HttpSink,
    ) -> Self {
        Self::start_binary(example(example_name), example_name, env, otlp, rollbar).await
    }

    pub async fn start_binary(
        path: PathBuf,
        name: &str,
        env: &[(&str, &str)],
        otlp: HttpSink,
        rollbar: HttpSink,
    ) -> Self {
        let runtime = RuntimeEmulator::start().await;
        let xray = XrayCollector::start();
        let otlp_url = otlp.url();
        let rollbar_url = format!("{}/api/1/item/", rollbar.url());
        let mut all: Vec<(&str, &str)> = vec![
            ("AWS_XRAY_DAEMON_ADDRESS", xray.address()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &otlp_url),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-honeycomb-team=test-key"),
            ("ROLLBAR_ACCESS_TOKEN", ROLLBAR_TOKEN),
            ("ROLLBAR_ENDPOINT", &rollbar_url),
            ("ROLLBAR_ENVIRONMENT", "test"),
            // These tests check the order of events, not deadlines: generous ones keep a busy
            // machine from turning a slow first export into a false failure.
            ("OTEL_BSP_EXPORT_TIMEOUT", "10000"),
            ("ROLLBAR_TIMEOUT_MS", "10000"),
        ];
        all.extend_from_slice(env);
        let process = FunctionProcess::spawn_binary(path, name, &runtime.address(), &all);
        Self {
            runtime,
            xray,
            otlp,
            rollbar,
            process,
        }
    }
}

/// A backend that takes the connection and never answers (within any test's patience).
pub fn hung() -> SinkBehavior {
    SinkBehavior {
        delay: Duration::from_secs(120),
        ..SinkBehavior::default()
    }
}

/// A backend that answers `status` with `headers`.
pub fn answering(status: u16, headers: &[(&str, &str)]) -> SinkBehavior {
    SinkBehavior {
        status,
        headers: headers
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect(),
        ..SinkBehavior::default()
    }
}

pub fn find<'a>(docs: &'a [Value], name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["name"] == name)
        .unwrap_or_else(|| panic!("no document named {name} in {docs:#?}"))
}

/// The documents of one trace, once one of them is named `name`.
pub async fn trace_with(xray: &XrayCollector, root: &str, name: &str) -> Vec<Value> {
    let docs = xray
        .wait_for(WAIT, |docs| {
            docs.iter()
                .any(|d| d["name"] == name && d["trace_id"] == root)
        })
        .await;
    docs.into_iter().filter(|d| d["trace_id"] == root).collect()
}
