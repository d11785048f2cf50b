//! Rollbar reports of Cruddur's functions (its test route, store faults, a failed sign-up
//! trigger), with a local HTTP sink as `ROLLBAR_ENDPOINT`. How reports are sent, retried and
//! bounded is lambda-telemetry's to test, with its examples.

use std::time::Duration;

use cruddur_core::testing::event_json;
use lambda_testkit::{
    lambda_trace_header, FunctionProcess, HttpSink, RuntimeEmulator, XrayCollector,
};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(10);
const TOKEN: &str = "rollbar-test-token";
const BEARER_FRAGMENT: &str = "eyJraWQiOiJkZW1vIiwiYWxnIjoiUlMyNTYifQ";

struct Harness {
    runtime: RuntimeEmulator,
    rollbar: HttpSink,
    // Kept for as long as the function runs.
    _xray: XrayCollector,
    _process: FunctionProcess,
}

async fn start(function: &str, env: &[(&str, &str)], rollbar: HttpSink) -> Harness {
    let runtime = RuntimeEmulator::start().await;
    let xray = XrayCollector::start();
    let endpoint = format!("{}/api/1/item/", rollbar.url());
    let mut all: Vec<(&str, &str)> = vec![
        ("ROLLBAR_ACCESS_TOKEN", TOKEN),
        ("ROLLBAR_ENDPOINT", &endpoint),
        ("CRUDDUR_STAGE", "prod"),
        ("AWS_XRAY_DAEMON_ADDRESS", xray.address()),
        // Order, not deadline, is under test here.
        ("ROLLBAR_TIMEOUT_MS", "10000"),
        ("OTEL_BSP_EXPORT_TIMEOUT", "10000"),
    ];
    all.extend_from_slice(env);
    let process = FunctionProcess::spawn(function, &runtime.address(), &all);
    Harness {
        runtime,
        rollbar,
        _xray: xray,
        _process: process,
    }
}

/// What Cruddur's reports say about where they come from (the item's shape is
/// lambda-telemetry's to test).
fn assert_common_shape(item: &Value, request_id: &str, root: &str) {
    let data = &item["data"];
    assert_eq!(data["environment"], "prod", "the stage");
    assert_eq!(data["custom"]["trace_id"], root);
    assert_eq!(data["custom"]["request_id"], request_id);
    assert!(
        !item.to_string().contains(BEARER_FRAGMENT),
        "no token in reports"
    );
}

#[tokio::test]
async fn the_test_route_reports_its_warning_before_the_next_poll() {
    let h = start("rollbar-test", &[], HttpSink::start().await).await;
    let (header, root, _) = lambda_trace_header(true);
    let outcome = h
        .runtime
        .invoke(&event_json("rollbar-test"), Some(&header), WAIT)
        .await
        .unwrap();
    let (status, _, text) = outcome.http();
    assert_eq!((status, text.as_str()), (200, "Hello World!"));
    let polls = h.runtime.wait_for_polls(2, WAIT).await;
    let requests = h.rollbar.requests();
    assert_eq!(
        requests.len(),
        1,
        "delivered before the next invocation was polled"
    );
    let request = &requests[0];
    assert!(request.received_at < polls[1]);
    assert_eq!(request.path, "/api/1/item/");
    assert_eq!(request.header("x-rollbar-access-token"), Some(TOKEN));
    let item = request.json();
    assert_common_shape(&item, &outcome.request_id, &root);
    let data = &item["data"];
    assert_eq!(data["level"], "warning");
    assert_eq!(data["body"]["message"]["body"], "Hello World!");
    assert_eq!(data["request"]["method"], "GET");
    assert!(data["request"]["url"]
        .as_str()
        .unwrap()
        .ends_with("/rollbar/test"));
    assert_eq!(data["request"]["route"], "/rollbar/test");
    assert!(data["request"]["headers"].get("user-agent").is_some());
}

#[tokio::test]
async fn store_faults_are_reported_as_errors_with_their_cause_and_scrubbed_request() {
    let db = "/proc/cruddur/none/cruddur.db";
    let h = start(
        "create-activity",
        &[("CRUDDUR_SQLITE_PATH", db)],
        HttpSink::start().await,
    )
    .await;
    let (header, root, _) = lambda_trace_header(true);
    let mut event = event_json("create-activity");
    event["headers"]["Cookie"] = "session=secret-cookie".into();
    event["multiValueHeaders"]["Cookie"] = serde_json::json!(["session=secret-cookie"]);
    event["queryStringParameters"] =
        serde_json::json!({"access_token": "secret-query", "page": "2"});
    event["multiValueQueryStringParameters"] =
        serde_json::json!({"access_token": ["secret-query"], "page": ["2"]});
    let outcome = h.runtime.invoke(&event, Some(&header), WAIT).await.unwrap();
    assert_eq!(outcome.http().0, 503);
    let requests = h.rollbar.wait_for(WAIT, |r| !r.is_empty()).await;
    assert_eq!(requests.len(), 1);
    let item = requests[0].json();
    assert_common_shape(&item, &outcome.request_id, &root);
    let data = &item["data"];
    assert_eq!(data["level"], "error");
    assert_eq!(
        data["body"]["trace"]["exception"]["class"],
        "ServiceUnavailable"
    );
    assert!(data["body"]["trace"]["exception"]["message"]
        .as_str()
        .unwrap()
        .contains("cannot create /proc/cruddur"));
    assert!(!data["body"]["trace"]["frames"]
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(data["request"]["method"], "POST");
    assert_eq!(data["request"]["route"], "/api/activities");
    assert_eq!(data["request"]["query_string"], "page=2");
    let text = item.to_string();
    for secret in [
        "secret-cookie",
        "secret-query",
        "Rust on Lambda is very fun",
    ] {
        assert!(!text.contains(secret), "{secret} leaked");
    }
}

#[tokio::test]
async fn a_failed_sign_up_trigger_is_reported_with_its_cause() {
    // A trigger whose store cannot be opened: Cognito gets a code and a sentence, Rollbar the
    // cause (malformed HTTP events are lambda-telemetry's to test).
    let blocker = std::env::temp_dir().join(format!("cruddur-not-a-dir-{}", std::process::id()));
    std::fs::write(&blocker, b"a file where a directory should be").unwrap();
    let db = blocker.join("cruddur.db").display().to_string();
    let h = start(
        "post-confirmation",
        &[("CRUDDUR_SQLITE_PATH", db.as_str())],
        HttpSink::start().await,
    )
    .await;
    let outcome = h
        .runtime
        .invoke(&event_json("post-confirmation"), None, WAIT)
        .await
        .unwrap();
    assert!(outcome.is_error);
    let error = outcome.json();
    assert_eq!(error["errorType"], "service_unavailable");
    let message = error["errorMessage"].as_str().unwrap();
    assert!(message.starts_with("service_unavailable: "), "{message}");
    assert!(
        !message.contains("os error") && !message.contains("cruddur-not-a-dir"),
        "{message}"
    );
    let requests = h.rollbar.wait_for(WAIT, |r| !r.is_empty()).await;
    let item = requests[0].json();
    assert_eq!(item["data"]["level"], "error");
    let exception = &item["data"]["body"]["trace"]["exception"];
    assert!(
        exception["message"]
            .as_str()
            .unwrap()
            .contains("cruddur-not-a-dir"),
        "the cause reaches Rollbar: {exception}"
    );
    std::fs::remove_file(&blocker).ok();
}
