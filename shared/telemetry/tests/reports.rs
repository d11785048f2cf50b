//! Rollbar reports from the `http-function` example, with HTTP sinks as `ROLLBAR_ENDPOINT`.

#![cfg(all(
    feature = "xray",
    feature = "otlp",
    feature = "rollbar",
    feature = "emf"
))]

mod common;

use std::time::Duration;

use common::{http_event, trace_with, Harness, ROLLBAR_TOKEN, TOKEN_FRAGMENT, WAIT};
use lambda_testkit::http::SinkBehavior;
use lambda_testkit::process::release_example;
use lambda_testkit::{
    lambda_trace_header, otlp, FunctionProcess, HttpSink, RuntimeEmulator, TlsTerminator,
    XrayCollector,
};
use serde_json::{json, Value};

const NAME: &str = "http-function";

fn report() -> Value {
    http_event("GET", "/report", &[])
}

fn assert_common_shape(item: &Value, request_id: &str, root: &str) {
    let data = &item["data"];
    assert_eq!(data["environment"], "test");
    assert_eq!(data["language"], "rust");
    assert_eq!(data["platform"], "linux");
    assert_eq!(data["framework"], "aws-lambda-rust-runtime");
    assert!(data["timestamp"].as_u64().unwrap() > 1_700_000_000);
    assert!(!data["code_version"].as_str().unwrap().is_empty());
    assert!(!data["server"]["host"].as_str().unwrap().is_empty());
    assert_eq!(data["notifier"]["name"], "lambda-telemetry");
    assert_eq!(data["uuid"].as_str().unwrap().len(), 36);
    assert_eq!(data["custom"]["trace_id"], root);
    assert_eq!(data["custom"]["request_id"], request_id);
    let text = item.to_string();
    assert!(!text.contains(TOKEN_FRAGMENT), "no token in reports");
    assert!(
        !text.to_ascii_lowercase().contains("\"authorization\""),
        "no Authorization header"
    );
}

#[tokio::test]
async fn an_explicit_report_is_delivered_before_the_next_poll() {
    let h = Harness::start(NAME, &[]).await;
    let (header, root, _) = lambda_trace_header(true);
    let outcome = h
        .runtime
        .invoke(&report(), Some(&header), WAIT)
        .await
        .unwrap();
    assert_eq!(outcome.http().0, 200);
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
    assert_eq!(
        request.header("x-rollbar-access-token"),
        Some(ROLLBAR_TOKEN)
    );
    let item = request.json();
    assert_common_shape(&item, &outcome.request_id, &root);
    let data = &item["data"];
    assert_eq!(data["level"], "warning");
    assert_eq!(data["body"]["message"]["body"], "a report was asked for");
    assert_eq!(data["request"]["method"], "GET");
    assert!(data["request"]["url"]
        .as_str()
        .unwrap()
        .ends_with("/report"));
    assert_eq!(
        data["request"]["headers"]["user-agent"],
        "example-client/1.0"
    );
}

#[tokio::test]
async fn server_errors_are_reported_with_their_cause_and_a_scrubbed_request() {
    let h = Harness::start(NAME, &[]).await;
    let (header, root, _) = lambda_trace_header(true);
    let mut event = http_event(
        "GET",
        "/unavailable",
        &[("access_token", "secret-query"), ("page", "2")],
    );
    event["headers"]["Cookie"] = "session=secret-cookie".into();
    event["multiValueHeaders"]["Cookie"] = json!(["session=secret-cookie"]);
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
        "UpstreamUnavailable"
    );
    assert!(!data["body"]["trace"]["frames"]
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(data["request"]["query_string"], "page=2");
    let text = item.to_string();
    for secret in ["secret-cookie", "secret-query"] {
        assert!(!text.contains(secret), "{secret} leaked");
    }
}

/// In AWS both telemetry clients speak HTTPS. Here each sink sits behind a TLS terminator with
/// its own self-signed certificate: with both certificates in `SSL_CERT_FILE` the report and
/// the spans arrive; trusting only one, the other is refused and the function keeps serving.
#[tokio::test]
async fn reports_and_spans_reach_https_endpoints_the_process_trusts() {
    let dir = std::env::temp_dir().join(format!("lambda-telemetry-tls-{}", std::process::id()));
    let (rollbar, spans) = (HttpSink::start().await, HttpSink::start().await);
    let upstream = |sink: &HttpSink| sink.url().trim_start_matches("http://").to_owned();
    let rollbar_tls = TlsTerminator::start(&upstream(&rollbar), &dir.join("rollbar")).await;
    let spans_tls = TlsTerminator::start(&upstream(&spans), &dir.join("otlp")).await;
    let read = |path: &std::path::Path| std::fs::read_to_string(path).unwrap();
    let both = dir.join("both.pem");
    std::fs::write(
        &both,
        read(rollbar_tls.certificate()) + &read(spans_tls.certificate()),
    )
    .unwrap();
    let rollbar_endpoint = format!("{}/api/1/item/", rollbar_tls.endpoint());
    let otlp_endpoint = spans_tls.endpoint();

    for (trusted, expect_spans) in [(both.as_path(), true), (rollbar_tls.certificate(), false)] {
        let runtime = RuntimeEmulator::start().await;
        let xray = XrayCollector::start();
        let env = [
            ("ROLLBAR_ACCESS_TOKEN", ROLLBAR_TOKEN),
            ("ROLLBAR_ENDPOINT", rollbar_endpoint.as_str()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", otlp_endpoint.as_str()),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-honeycomb-team=test-key"),
            ("SSL_CERT_FILE", trusted.to_str().unwrap()),
            ("AWS_XRAY_DAEMON_ADDRESS", xray.address()),
            ("ROLLBAR_TIMEOUT_MS", "10000"),
            ("OTEL_BSP_EXPORT_TIMEOUT", "10000"),
        ];
        let _process =
            FunctionProcess::spawn_binary(common::example(NAME), NAME, &runtime.address(), &env);
        let before = (rollbar.requests().len(), spans.requests().len());
        for _ in 0..2 {
            let outcome = runtime.invoke(&report(), None, WAIT).await.unwrap();
            assert_eq!(outcome.http().0, 200);
        }
        runtime.wait_for_polls(3, WAIT).await;
        let reports = &rollbar.requests()[before.0..];
        assert_eq!(reports.len(), 2, "one report per invocation over TLS");
        assert_eq!(
            reports[0].header("x-rollbar-access-token"),
            Some(ROLLBAR_TOKEN)
        );
        let exported = &spans.requests()[before.1..];
        if expect_spans {
            assert_eq!(exported[0].header("x-honeycomb-team"), Some("test-key"));
            assert!(otlp::spans(exported)
                .iter()
                .any(|(_, span)| span.name == NAME));
        } else {
            assert!(
                exported.is_empty(),
                "an endpoint whose certificate is not trusted gets nothing"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn without_a_token_rollbar_is_off_with_one_log_line() {
    let runtime = RuntimeEmulator::start().await;
    let sink = HttpSink::start().await;
    let endpoint = format!("{}/api/1/item/", sink.url());
    let process = FunctionProcess::spawn_binary(
        common::example(NAME),
        NAME,
        &runtime.address(),
        &[("ROLLBAR_ENDPOINT", &endpoint)],
    );
    let outcome = runtime.invoke(&report(), None, WAIT).await.unwrap();
    assert_eq!(outcome.http().0, 200);
    runtime.wait_for_polls(2, WAIT).await;
    assert!(sink.requests().is_empty());
    let off = process
        .json_lines()
        .into_iter()
        .filter(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.contains("ROLLBAR_ACCESS_TOKEN"))
        })
        .count();
    assert_eq!(off, 1);
}

#[tokio::test]
/// (Holding, retrying and resending are in `failing_backends.rs`.)
async fn a_stalled_or_limiting_rollbar_never_holds_the_function() {
    // Stalled: the invocation ends after the bounded wait and the next one is served.
    let stalled = HttpSink::with_behavior(SinkBehavior {
        delay: Duration::from_secs(10),
        ..Default::default()
    })
    .await;
    let h = Harness::start_with(
        NAME,
        &[("ROLLBAR_TIMEOUT_MS", "300")],
        HttpSink::start().await,
        stalled,
    )
    .await;
    let first = h.runtime.invoke(&report(), None, WAIT).await.unwrap();
    let second = h
        .runtime
        .invoke(&http_event("GET", "/hello", &[]), None, WAIT)
        .await
        .unwrap();
    assert_eq!((first.http().0, second.http().0), (200, 200));
    assert!(
        h.rollbar.answered().is_empty(),
        "served while Rollbar still stalled"
    );
    assert_eq!(h.rollbar.requests().len(), 1);

    // 429: nothing more is sent for the window Rollbar names.
    let limiting = HttpSink::with_behavior(SinkBehavior {
        status: 429,
        headers: vec![("X-Rate-Limit-Remaining-Seconds".into(), "60".into())],
        ..Default::default()
    })
    .await;
    let h = Harness::start_with(NAME, &[], HttpSink::start().await, limiting).await;
    for _ in 0..3 {
        assert_eq!(
            h.runtime
                .invoke(&report(), None, WAIT)
                .await
                .unwrap()
                .http()
                .0,
            200
        );
    }
    h.runtime.wait_for_polls(4, WAIT).await;
    assert_eq!(h.rollbar.requests().len(), 1, "paused after the 429");
}

/// The release build, linked as a function is deployed: `panic = "unwind"` must hold there.
#[tokio::test]
async fn a_panic_in_a_release_build_is_reported_answered_500_and_survived() {
    let h = Harness::start_binary(
        release_example(NAME),
        NAME,
        &[],
        HttpSink::start().await,
        HttpSink::start().await,
    )
    .await;
    let (header, root, _) = lambda_trace_header(true);
    let outcome = h
        .runtime
        .invoke(&http_event("GET", "/panic", &[]), Some(&header), WAIT)
        .await
        .unwrap();
    assert!(!outcome.is_error, "answered, not crashed");
    let (status, body, text) = outcome.http();
    assert_eq!(
        (status, body),
        (500, json!({"message": "Internal Server Error"}))
    );
    assert!(!text.contains("gave up"), "no panic text leaks");

    let polls = h.runtime.wait_for_polls(2, WAIT).await;
    let requests = h.rollbar.requests();
    assert_eq!(requests.len(), 1, "reported before the next poll");
    assert!(requests[0].received_at < polls[1]);
    let data = &requests[0].json()["data"];
    assert_eq!(data["level"], "critical");
    assert_eq!(data["custom"]["trace_id"], root.as_str());
    let trace = &data["body"]["trace"];
    assert_eq!(trace["exception"]["class"], "panic");
    assert_eq!(
        trace["exception"]["message"],
        "the handler gave up on /panic"
    );
    let frames = trace["frames"].as_array().unwrap();
    assert!(
        frames.iter().any(|f| f["filename"]
            .as_str()
            .is_some_and(|p| p.ends_with("http_function.rs"))
            && f["lineno"].is_number()),
        "{frames:#?}"
    );

    let docs = trace_with(&h.xray, &root, NAME).await;
    let invocation = common::find(&docs, NAME);
    assert_eq!(invocation["fault"], true);
    assert_eq!(invocation["cause"]["exceptions"][0]["type"], "panic");

    let lines = h.process.json_lines();
    let error = lines
        .iter()
        .find(|l| l["level"] == "ERROR")
        .expect("error line");
    assert_eq!(error["message"], "handler panicked");
    assert!(error["location"]
        .as_str()
        .unwrap()
        .contains("http_function.rs"));
    let next = h
        .runtime
        .invoke(&http_event("GET", "/hello", &[]), None, WAIT)
        .await
        .unwrap();
    assert_eq!(next.http().0, 200);
    let mut process = h.process;
    assert!(process.is_running());
}

#[tokio::test]
async fn malformed_events_are_reported_with_their_reason() {
    let h = Harness::start(NAME, &[]).await;
    let mut event = http_event("GET", "/hello", &[]);
    event["isBase64Encoded"] = Value::from(true);
    event["body"] = Value::from("%%% not base64 %%%");
    let (header, root, _) = lambda_trace_header(true);
    let outcome = h.runtime.invoke(&event, Some(&header), WAIT).await.unwrap();
    assert_eq!(outcome.http().0, 400);
    let requests = h.rollbar.wait_for(WAIT, |r| !r.is_empty()).await;
    let item = requests[0].json();
    assert_common_shape(&item, &outcome.request_id, &root);
    assert_eq!(item["data"]["level"], "warning");
    let text = item["data"]["body"]["message"]["body"].as_str().unwrap();
    assert!(
        text.contains("not a readable HTTP request") && text.contains("base64"),
        "{text}"
    );
}
