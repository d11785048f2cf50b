//! The telemetry of built function binaries, driven through the Lambda Runtime API emulator with
//! a UDP socket as the X-Ray daemon and an HTTP sink as the OTLP endpoint.

use std::time::Duration;

use cruddur_core::testing::event_json;
use cruddur_testkit::http::SinkBehavior;
use cruddur_testkit::otlp::{self, attr, hex};
use cruddur_testkit::{
    lambda_trace_header, otlp_trace_id, FunctionProcess, HttpSink, RuntimeEmulator, XrayCollector,
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
    let root_hex = otlp_trace_id(&root);
    assert!(
        spans.iter().all(|(_, s)| hex(&s.trace_id) == root_hex),
        "one trace id across both backends: {root_hex} vs {:?}",
        spans
            .iter()
            .map(|(_, s)| (s.name.clone(), hex(&s.trace_id)))
            .collect::<Vec<_>>()
    );
    let (resource, root_span) = spans
        .iter()
        .find(|(_, s)| s.name == "home-activities")
        .expect("invocation span");
    assert!(
        root_span.parent_span_id.is_empty(),
        "the OTLP trace has a root"
    );
    assert_eq!(attr(resource, "service.name").as_deref(), Some("cruddur"));
    assert_eq!(
        attr(&root_span.attributes, "http.response.status_code").as_deref(),
        Some("200")
    );
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
async fn telemetry_is_never_in_the_way() {
    // No daemon at a garbage address, an OTLP endpoint that refuses connections.
    for address in [
        "tcp:127.0.0.1:1 udp:not-an-address",
        "garbage",
        "tcp:127.0.0.1:2000",
    ] {
        let runtime = RuntimeEmulator::start().await;
        let mut process = FunctionProcess::spawn(
            "health-check",
            &runtime.address(),
            &[
                ("AWS_XRAY_DAEMON_ADDRESS", address),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1"),
            ],
        );
        for _ in 0..2 {
            let (header, _, _) = lambda_trace_header(true);
            let outcome = runtime
                .invoke(&event_json("health-check"), Some(&header), WAIT)
                .await
                .unwrap();
            assert_eq!(outcome.http().0, 200, "{address}");
        }
        assert!(process.is_running());
    }

    // An OTLP endpoint that stalls: responses go out first, and the next invocation is served
    // while the export still waits.
    let stalled = HttpSink::with_behavior(SinkBehavior {
        delay: Duration::from_secs(5),
        ..Default::default()
    })
    .await;
    let h = start_with_sink(
        "health-check",
        &[("OTEL_BSP_EXPORT_TIMEOUT", "200")],
        stalled,
    )
    .await;
    let (header, _, _) = lambda_trace_header(true);
    let first = h
        .runtime
        .invoke(&event_json("health-check"), Some(&header), WAIT)
        .await
        .unwrap();
    let second = h
        .runtime
        .invoke(&event_json("health-check"), None, WAIT)
        .await
        .unwrap();
    assert_eq!((first.http().0, second.http().0), (200, 200));
    let requests = h.otlp.requests();
    assert!(!requests.is_empty(), "the export was attempted");
    assert!(requests[0].received_at > first.posted_at);
    assert!(
        h.otlp.answered().is_empty(),
        "the second invocation was served while the export stalled"
    );
    // Missing and garbage trace headers start new traces.
    let third = h
        .runtime
        .invoke(&event_json("health-check"), Some("Root=garbage"), WAIT)
        .await
        .unwrap();
    assert_eq!(third.http().0, 200);
}

#[tokio::test]
async fn unsampled_invocations_skip_xray_but_reach_otlp() {
    let h = start("health-check", &[]).await;
    let (unsampled, unsampled_root, _) = lambda_trace_header(false);
    let (sampled, sampled_root, _) = lambda_trace_header(true);
    h.runtime
        .invoke(&event_json("health-check"), Some(&unsampled), WAIT)
        .await
        .unwrap();
    h.runtime
        .invoke(&event_json("health-check"), Some(&sampled), WAIT)
        .await
        .unwrap();
    h.xray
        .wait_for(WAIT, |d| d.iter().any(|d| d["trace_id"] == sampled_root))
        .await;
    assert!(
        h.xray.trace(&unsampled_root).is_empty(),
        "X-Ray follows Lambda's Sampled=0"
    );
    // Each invocation exports on its own; wait for both (OTLP is slower than the UDP path).
    let both = [&unsampled_root, &sampled_root].map(|r| otlp_trace_id(r));
    let requests = h
        .otlp
        .wait_for(WAIT, |r| {
            let spans = otlp::spans(r);
            both.iter()
                .all(|root| spans.iter().any(|(_, s)| hex(&s.trace_id) == *root))
        })
        .await;
    let spans = otlp::spans(&requests);
    let hexes: Vec<String> = spans.iter().map(|(_, s)| hex(&s.trace_id)).collect();
    for root in [&unsampled_root, &sampled_root] {
        assert!(
            hexes.contains(&otlp_trace_id(root)),
            "OTLP samples on its own"
        );
    }
}

#[tokio::test]
async fn telemetry_threads_start_after_the_first_response_not_during_init() {
    let rollbar = HttpSink::start().await;
    let rollbar_url = format!("{}/api/1/item/", rollbar.url());
    let h = start(
        "health-check",
        &[
            ("ROLLBAR_ACCESS_TOKEN", "test-token"),
            ("ROLLBAR_ENDPOINT", &rollbar_url),
        ],
    )
    .await;
    let telemetry_threads = |names: Vec<String>| -> Vec<String> {
        names
            .into_iter()
            .filter(|n| n.starts_with("telemetry-"))
            .collect()
    };
    h.runtime.wait_for_polls(1, WAIT).await;
    assert_eq!(
        telemetry_threads(h.process.thread_names()),
        Vec::<String>::new(),
        "init starts no exporter or Rollbar thread"
    );
    let (header, root, _) = lambda_trace_header(true);
    let outcome = h
        .runtime
        .invoke(&event_json("health-check"), Some(&header), WAIT)
        .await
        .unwrap();
    assert_eq!(outcome.http().0, 200);
    h.runtime.wait_for_polls(2, WAIT).await;
    assert_eq!(
        telemetry_threads(h.process.thread_names()),
        ["telemetry-otlp", "telemetry-xray"],
        "the first flush starts the exporters; Rollbar waits for an item"
    );
    assert!(
        !h.xray.trace(&root).is_empty(),
        "spans of the first invocation are not lost"
    );
    let otlp_root = otlp_trace_id(&root);
    let requests = h
        .otlp
        .wait_for(WAIT, |r| {
            otlp::spans(r)
                .iter()
                .any(|(_, s)| hex(&s.trace_id) == otlp_root)
        })
        .await;
    assert!(!otlp::spans(&requests).is_empty());
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

#[tokio::test]
async fn logs_are_json_lines_with_invocation_context_and_metrics() {
    let h = start("create-activity", &[]).await;
    let (header, _, _) = lambda_trace_header(true);
    let event = event_json("create-activity");
    let first = h.runtime.invoke(&event, Some(&header), WAIT).await.unwrap();
    assert_eq!(first.http().0, 200);
    let second = h
        .runtime
        .invoke(&event_json("create-activity-bad-input"), None, WAIT)
        .await
        .unwrap();
    assert_eq!(second.http().0, 422);
    let lines = h
        .process
        .wait_for_lines(WAIT, |l| {
            l.iter().filter(|l| l["target"] == "access").count() >= 2
        })
        .await;
    for line in h.process.lines() {
        assert!(
            serde_json::from_str::<Value>(&line).is_ok(),
            "not JSON: {line}"
        );
    }
    let access: Vec<&Value> = lines.iter().filter(|l| l["target"] == "access").collect();
    let line = access[0];
    assert_eq!(line["method"], "POST");
    assert_eq!(line["path"], "/api/activities");
    assert_eq!(line["status"], 200);
    assert!(line["duration_ms"].is_number());
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["service"], "cruddur");
    assert_eq!(line["function_name"], "create-activity");
    assert_eq!(line["function_request_id"], first.request_id.as_str());
    assert_eq!(line["xray_trace_id"], header.as_str());
    assert_eq!(line["correlation_id"], event["requestContext"]["requestId"]);
    assert_eq!(line["cold_start"], true);
    assert!(chrono_like(line["timestamp"].as_str().unwrap()));
    assert_eq!(access[1]["cold_start"], false);
    assert_eq!(access[1]["status"], 422);

    let emf: Vec<&Value> = lines.iter().filter(|l| l.get("_aws").is_some()).collect();
    let metric = |name: &str| emf.iter().find(|l| l.get(name).is_some()).copied();
    let cold = metric("ColdStart").expect("ColdStart metric");
    assert_eq!(
        cold["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        serde_json::json!([["service"]])
    );
    assert_eq!(cold["service"], "cruddur");
    assert_eq!(
        metric("ActivitiesCreated").expect("business metric")["ActivitiesCreated"],
        1.0
    );
}

fn chrono_like(timestamp: &str) -> bool {
    timestamp.len() == 24 && timestamp.ends_with('Z') && timestamp.as_bytes()[10] == b'T'
}

/// Events no API Gateway sends, handed to the function as the Runtime API would: none may end
/// its process, each gets an answer, and the next event is still served.
#[tokio::test]
async fn hostile_events_never_end_the_function() {
    for rust_log in ["info", "trace"] {
        let h = start("create-activity", &[("RUST_LOG", rust_log)]).await;
        let good = event_json("create-activity");
        let text = good.to_string();
        // Invalid UTF-8 inside a string field.
        let mut not_utf8 = text
            .replace(
                "\"stageVariables\":null",
                "\"stageVariables\":{\"v\":\"X\"}",
            )
            .into_bytes();
        let at = not_utf8
            .windows(3)
            .position(|w| w == b"\"X\"")
            .expect("placeholder")
            + 1;
        not_utf8.splice(at..at + 1, [0xff, 0xfe]);
        let outcome = h.runtime.invoke_raw(not_utf8, None, WAIT).await.unwrap();
        assert!(outcome.is_error, "{rust_log}: answered with an error");

        let mut bad_base64 = good.clone();
        bad_base64["isBase64Encoded"] = Value::from(true);
        bad_base64["body"] = Value::from("%%% not base64 %%%");
        let mut long_uri = good.clone();
        long_uri["path"] = Value::from(format!("/api/activities/{}", "a".repeat(70_000)));
        let mut empty_method = good.clone();
        empty_method["httpMethod"] = Value::from("");
        let mut no_method = good.clone();
        no_method.as_object_mut().unwrap().remove("httpMethod");
        for (what, event) in [
            ("bad base64", bad_base64),
            ("a URI over 64 KiB", long_uri),
            ("an empty method", empty_method),
            ("no method", no_method),
        ] {
            let outcome = h.runtime.invoke(&event, None, WAIT).await.unwrap();
            let (status, body, _) = outcome.http();
            assert_eq!(
                (status, body),
                (400, serde_json::json!(["invalid_request"])),
                "{what}"
            );
        }
        for garbage in [
            &b"not json at all"[..],
            b"[1,2,3]",
            b"{\"httpMethod\": 42}",
            b"",
        ] {
            let outcome = h
                .runtime
                .invoke_raw(garbage.to_vec(), None, WAIT)
                .await
                .unwrap();
            assert!(outcome.is_error, "{}", String::from_utf8_lossy(garbage));
        }
        // Still the same process, still serving.
        let outcome = h.runtime.invoke(&good, None, WAIT).await.unwrap();
        assert_eq!(outcome.http().0, 200, "{rust_log}");
        let mut process = h.process;
        assert!(process.is_running(), "{rust_log}");
        let lines = process.json_lines();
        let refused: Vec<&Value> = lines
            .iter()
            .filter(|l| {
                l["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("not a readable HTTP request"))
            })
            .collect();
        assert_eq!(refused.len(), 4, "each refusal logged");
        assert!(
            refused
                .iter()
                .any(|l| l["error"].as_str().is_some_and(|e| e.contains("base64"))),
            "with the reason: {refused:#?}"
        );
        assert!(
            !lines.iter().any(|l| l.to_string().contains("Any {")),
            "no panic logged without its message"
        );
        let accesses: Vec<&Value> = lines.iter().filter(|l| l["target"] == "access").collect();
        assert_eq!(accesses.iter().filter(|l| l["status"] == 400).count(), 4);
    }
}
