//! The telemetry of Cruddur's built functions (their spans, store calls, faults, metrics and the
//! local stage), driven through the Lambda Runtime API emulator with a UDP socket as the X-Ray
//! daemon and an HTTP sink as the OTLP endpoint. What the telemetry does whatever the function
//! (export timing, sampling, failing backends, hostile events) is lambda-telemetry's to test.

use std::time::Duration;

use cruddur_core::testing::event_json;
use lambda_testkit::otlp::{self, attr};
use lambda_testkit::{
    lambda_trace_header, FunctionProcess, HttpSink, RuntimeEmulator, XrayCollector,
};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(10);
const TOKEN_FRAGMENT: &str = "eyJraWQiOiJkZW1vIiwiYWxnIjoiUlMyNTYifQ";

struct Harness {
    runtime: RuntimeEmulator,
    xray: XrayCollector,
    otlp: HttpSink,
    process: FunctionProcess,
    _db: TempDir,
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn start(function: &str, env: &[(&str, &str)]) -> Harness {
    start_with_sink(function, env, HttpSink::start().await).await
}

async fn start_with_sink(function: &str, env: &[(&str, &str)], otlp: HttpSink) -> Harness {
    let runtime = RuntimeEmulator::start().await;
    let xray = XrayCollector::start();
    let db = TempDir(std::env::temp_dir().join(format!("cruddur-e2e-{}", uuid_like())));
    let db_path = db.0.join("cruddur.db").display().to_string();
    let otlp_url = otlp.url();
    let mut all_env: Vec<(&str, &str)> = vec![
        ("AWS_XRAY_DAEMON_ADDRESS", xray.address()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &otlp_url),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-honeycomb-team=test-key"),
        ("CRUDDUR_SQLITE_PATH", &db_path),
        ("CRUDDUR_STAGE", "prod"),
        // These tests check the order of events, not the deadline: a generous one keeps a busy
        // machine from turning a slow first export into a false failure.
        ("OTEL_BSP_EXPORT_TIMEOUT", "10000"),
    ];
    all_env.extend_from_slice(env);
    let process = FunctionProcess::spawn(function, &runtime.address(), &all_env);
    Harness {
        runtime,
        xray,
        otlp,
        process,
        _db: db,
    }
}

fn uuid_like() -> String {
    format!(
        "{}-{:?}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

fn find<'a>(docs: &'a [Value], name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["name"] == name)
        .unwrap_or_else(|| panic!("no document named {name} in {docs:#?}"))
}

fn has_doc(name: &'static str) -> impl Fn(&[Value]) -> bool {
    move |docs| docs.iter().any(|d| d["name"] == name)
}

#[tokio::test]
async fn invocation_is_a_subsegment_of_the_lambda_facade_and_reaches_otlp_with_a_root() {
    let h = start("home-activities", &[]).await;
    let (header, root, parent) = lambda_trace_header(true);
    let outcome = h
        .runtime
        .invoke(&event_json("home-activities"), Some(&header), WAIT)
        .await
        .unwrap();
    assert_eq!(outcome.http().0, 200);

    let docs = h
        .xray
        .wait_for(WAIT, |docs| {
            docs.iter()
                .any(|d| d["name"] == "home-activities" && d["trace_id"] == root)
        })
        .await;
    let docs: Vec<Value> = docs.into_iter().filter(|d| d["trace_id"] == root).collect();
    assert!(h.xray.rejected().is_empty(), "{:?}", h.xray.rejected());

    let invocation = find(&docs, "home-activities");
    assert_eq!(invocation["type"], "subsegment");
    assert_eq!(invocation["parent_id"], parent.as_str());
    assert_eq!(invocation["annotations"]["ColdStart"], true);
    assert_eq!(invocation["annotations"]["function"], "home-activities");
    assert_eq!(invocation["annotations"]["service"], "cruddur");
    assert_eq!(invocation["http"]["response"]["status"], 200);
    assert!(invocation.get("error").is_none() && invocation.get("fault").is_none());

    // Every document hangs from the facade or from another document of the trace.
    let ids: Vec<&Value> = docs.iter().map(|d| &d["id"]).collect();
    for doc in &docs {
        assert!(
            doc["parent_id"] == parent.as_str() || ids.contains(&&doc["parent_id"]),
            "orphan {doc}"
        );
        let id = doc["id"].as_str().unwrap();
        assert!(
            id.len() == 16 && id.chars().all(|c| c.is_ascii_hexdigit()),
            "{id}"
        );
        assert!(doc["start_time"].as_f64().unwrap() <= doc["end_time"].as_f64().unwrap());
    }
    let handler = find(&docs, "handler");
    assert_eq!(handler["parent_id"], invocation["id"]);
    let sqlite: Vec<&Value> = docs.iter().filter(|d| d["name"] == "SQLite").collect();
    assert!(!sqlite.is_empty());
    for doc in &sqlite {
        assert_eq!(doc["namespace"], "remote");
        assert_eq!(doc["sql"]["database_type"], "sqlite");
    }
    let feed = sqlite
        .iter()
        .find(|d| d["metadata"]["db.operation"] == "home_feed")
        .expect("home_feed call");
    let mock = find(&docs, "home-activities-mock-data");
    assert_eq!(feed["parent_id"], mock["id"]);
    assert!(mock["metadata"]["app.now"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        mock["metadata"]["app.result_length"]
            .to_string()
            .trim_matches('"'),
        "3"
    );

    // The OTLP side: same trace id, the invocation is the root, the custom span is there.
    let requests = h.otlp.wait_for(WAIT, |r| !otlp::spans(r).is_empty()).await;
    assert_eq!(requests[0].header("x-honeycomb-team"), Some("test-key"));
    assert_eq!(
        requests[0].header("content-type"),
        Some("application/x-protobuf")
    );
    let spans = otlp::spans(&requests);
    let (resource, _) = spans
        .iter()
        .find(|(_, s)| s.name == "home-activities")
        .expect("invocation span");
    assert_eq!(attr(resource, "service.name").as_deref(), Some("cruddur"));
    let (_, mock_span) = spans
        .iter()
        .find(|(_, s)| s.name == "home-activities-mock-data")
        .expect("custom span");
    assert!(attr(&mock_span.attributes, "app.now").is_some());
    assert_eq!(
        attr(&mock_span.attributes, "app.result_length").as_deref(),
        Some("3")
    );

    // Export begins only after the response is posted, and ends before the next poll.
    let polls = h.runtime.wait_for_polls(2, WAIT).await;
    assert!(
        requests[0].received_at > outcome.posted_at,
        "export started before the response was posted"
    );
    assert!(
        requests[0].received_at < polls[1],
        "export ran after the next invocation was polled"
    );

    // No token or body in any telemetry.
    for doc in h.xray.documents() {
        assert!(!doc.to_string().contains(TOKEN_FRAGMENT));
    }
    for request in h.otlp.requests() {
        assert!(!String::from_utf8_lossy(&request.body).contains(TOKEN_FRAGMENT));
    }
}

#[tokio::test]
async fn client_errors_are_errors_and_store_failures_are_faults_with_a_cause() {
    let h = start("create-activity", &[]).await;
    let (header, root, _) = lambda_trace_header(true);
    let outcome = h
        .runtime
        .invoke(
            &event_json("create-activity-unauthenticated"),
            Some(&header),
            WAIT,
        )
        .await
        .unwrap();
    assert_eq!(outcome.http().0, 401);
    let docs = h
        .xray
        .wait_for(WAIT, |d| {
            d.iter()
                .any(|d| d["name"] == "create-activity" && d["trace_id"] == root)
        })
        .await;
    let invocation = docs
        .iter()
        .find(|d| d["name"] == "create-activity" && d["trace_id"] == root)
        .unwrap();
    assert_eq!(invocation["error"], true);
    assert!(invocation.get("fault").is_none() && invocation.get("throttle").is_none());
    let spans = otlp::spans(&h.otlp.wait_for(WAIT, |r| !otlp::spans(r).is_empty()).await);
    let (_, span) = spans
        .iter()
        .find(|(_, s)| s.name == "create-activity")
        .unwrap();
    assert_ne!(
        span.status.as_ref().map(|s| s.code),
        Some(2),
        "a 4xx is not the server span's error in OTLP"
    );

    // Secrets never reach telemetry: the token and the message body of the request.
    let (header, _, _) = lambda_trace_header(true);
    h.runtime
        .invoke(&event_json("create-activity"), Some(&header), WAIT)
        .await
        .unwrap();
    h.runtime.wait_for_polls(3, WAIT).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    for doc in h.xray.documents() {
        let text = doc.to_string();
        assert!(
            !text.contains(TOKEN_FRAGMENT) && !text.contains("Rust on Lambda is very fun"),
            "{text}"
        );
    }
    for line in h.process.lines() {
        assert!(
            !line.contains(TOKEN_FRAGMENT) && !line.contains("Rust on Lambda is very fun"),
            "{line}"
        );
    }

    // A store that cannot open: 503, a fault with its cause, and the process serves on.
    let broken = start(
        "home-activities",
        &[("CRUDDUR_SQLITE_PATH", "/proc/cruddur/none/cruddur.db")],
    )
    .await;
    let (header, root, _) = lambda_trace_header(true);
    let outcome = broken
        .runtime
        .invoke(&event_json("home-activities"), Some(&header), WAIT)
        .await
        .unwrap();
    let (status, body, _) = outcome.http();
    assert_eq!(
        (status, body),
        (503, serde_json::json!(["service_unavailable"]))
    );
    let docs = broken
        .xray
        .wait_for(WAIT, |d| d.iter().any(|d| d["name"] == "home-activities"))
        .await;
    let invocation = docs
        .iter()
        .find(|d| d["name"] == "home-activities" && d["trace_id"] == root)
        .unwrap();
    assert_eq!(invocation["fault"], true);
    let exception = &invocation["cause"]["exceptions"][0];
    assert_eq!(exception["type"], "ServiceUnavailable");
    assert!(
        exception["message"]
            .as_str()
            .unwrap()
            .contains("cannot create /proc/cruddur"),
        "{exception}"
    );
    let spans = otlp::spans(
        &broken
            .otlp
            .wait_for(WAIT, |r| !otlp::spans(r).is_empty())
            .await,
    );
    let (_, span) = spans
        .iter()
        .find(|(_, s)| s.name == "home-activities")
        .unwrap();
    assert_eq!(
        span.status.as_ref().map(|s| s.code),
        Some(2),
        "a 5xx sets span status Error"
    );
    assert!(span.events.iter().any(|e| e.name == "exception"));
    let again = broken
        .runtime
        .invoke(&event_json("health-check"), None, WAIT)
        .await;
    assert!(again.is_ok(), "the process keeps serving");
    let logs = broken.process.json_lines();
    let error_line = logs
        .iter()
        .find(|l| l["level"] == "ERROR")
        .expect("an error log line");
    assert_eq!(error_line["message"], "store unavailable");
    assert!(error_line["error"]
        .as_str()
        .unwrap()
        .contains("/proc/cruddur"));
}

#[tokio::test]
async fn local_stage_sends_a_full_segment_for_the_service_map() {
    let h = start("home-activities", &[("CRUDDUR_STAGE", "local")]).await;
    let (header, _, _) = lambda_trace_header(true);
    h.runtime
        .invoke(&event_json("home-activities"), Some(&header), WAIT)
        .await
        .unwrap();
    let docs = h.xray.wait_for(WAIT, has_doc("home-activities")).await;
    let segment = find(&docs, "home-activities");
    assert!(segment.get("type").is_none(), "a segment, not a subsegment");
    assert!(segment.get("parent_id").is_none());
    assert_eq!(segment["origin"], "AWS::Lambda::Function");
    let sqlite = find(&docs, "SQLite");
    assert_eq!(sqlite["trace_id"], segment["trace_id"]);
}

#[tokio::test]
async fn local_stage_continues_the_trace_of_the_gateway_that_called_it() {
    let h = start("home-activities", &[("CRUDDUR_STAGE", "local")]).await;
    // What the local API Gateway puts in the event: its trace, its call as the parent.
    let (gateway, root, parent) = lambda_trace_header(true);
    let mut event = event_json("home-activities");
    event["headers"]["X-Amzn-Trace-Id"] = Value::from(gateway.clone());
    event["multiValueHeaders"]["X-Amzn-Trace-Id"] = serde_json::json!([gateway]);
    // cargo lambda watch's made-up header, which must not win.
    let (made_up, _, _) = lambda_trace_header(true);
    h.runtime
        .invoke(&event, Some(&made_up), WAIT)
        .await
        .unwrap();
    let docs = h.xray.wait_for(WAIT, has_doc("home-activities")).await;
    let segment = find(&docs, "home-activities");
    assert!(segment.get("type").is_none(), "a segment, not a subsegment");
    assert_eq!(segment["trace_id"], root.as_str());
    assert_eq!(segment["parent_id"], parent.as_str());
    assert_eq!(segment["origin"], "AWS::Lambda::Function");
    assert_eq!(find(&docs, "SQLite")["trace_id"], root.as_str());
}

/// The log line format is lambda-telemetry's; what Cruddur adds is its service name, its
/// routes and its business metrics.
#[tokio::test]
async fn access_lines_and_business_metrics_carry_cruddur_s_names() {
    let h = start("create-activity", &[]).await;
    let first = h
        .runtime
        .invoke(&event_json("create-activity"), None, WAIT)
        .await
        .unwrap();
    assert_eq!(first.http().0, 200);
    let lines = h
        .process
        .wait_for_lines(WAIT, |l| l.iter().any(|l| l["target"] == "access"))
        .await;
    let access = lines.iter().find(|l| l["target"] == "access").unwrap();
    assert_eq!(
        (&access["method"], &access["path"], &access["status"]),
        (&"POST".into(), &"/api/activities".into(), &200.into())
    );
    assert_eq!(access["service"], "cruddur");
    let created = lines
        .iter()
        .find(|l| l.get("ActivitiesCreated").is_some())
        .expect("the business metric");
    assert_eq!(created["ActivitiesCreated"], 1.0);
    assert_eq!(created["service"], "cruddur");
}

/// Lambda Managed Instances: writes in flight at once on the SQLite store are serialised, not
/// refused ("database is locked" never escapes as a 500), and each invocation keeps its trace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_each_succeed_in_their_own_trace() {
    let h = start("create-activity", &[("AWS_LAMBDA_MAX_CONCURRENCY", "8")]).await;
    let calls: Vec<(String, String, String)> = (0..8).map(|_| lambda_trace_header(true)).collect();
    let event = event_json("create-activity");
    let runtime = &h.runtime;
    let outcomes = futures_util::future::join_all(
        calls
            .iter()
            .map(|(header, _, _)| async { runtime.invoke(&event, Some(header), WAIT).await }),
    )
    .await;
    for ((_, root, parent), outcome) in calls.iter().zip(outcomes) {
        assert_eq!(outcome.unwrap().http().0, 200);
        let docs = h
            .xray
            .wait_for(WAIT, |d| {
                d.iter()
                    .any(|d| d["name"] == "create-activity" && d["trace_id"] == root.as_str())
            })
            .await;
        let invocation = docs
            .iter()
            .find(|d| d["name"] == "create-activity" && d["trace_id"] == root.as_str())
            .unwrap();
        assert_eq!(invocation["parent_id"], parent.as_str());
        assert!(invocation.get("fault").is_none());
    }
}
