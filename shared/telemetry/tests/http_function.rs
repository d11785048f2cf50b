//! The `http-function` example end to end: X-Ray documents, OTLP spans, JSON logs and EMF
//! metrics, and a function that keeps serving whatever its backends and events do.

#![cfg(all(
    feature = "xray",
    feature = "otlp",
    feature = "rollbar",
    feature = "emf"
))]

mod common;

use std::time::Duration;

use common::{find, http_event, trace_with, Harness, TOKEN_FRAGMENT, WAIT};
use lambda_testkit::http::SinkBehavior;
use lambda_testkit::otlp::{self, attr, hex};
use lambda_testkit::{
    lambda_trace_header, otlp_trace_id, FunctionProcess, HttpSink, RuntimeEmulator,
};
use serde_json::{json, Value};

const NAME: &str = "http-function";

fn hello() -> Value {
    http_event("GET", "/hello", &[("name", "ada")])
}

#[tokio::test]
async fn an_invocation_is_a_subsegment_of_the_lambda_facade_and_an_otlp_root() {
    let h = Harness::start(NAME, &[]).await;
    let (header, root, parent) = lambda_trace_header(true);
    let outcome = h
        .runtime
        .invoke(&hello(), Some(&header), WAIT)
        .await
        .unwrap();
    assert_eq!(outcome.http().2, "hello ada");

    let docs = trace_with(&h.xray, &root, "greeting").await;
    assert!(h.xray.rejected().is_empty(), "{:?}", h.xray.rejected());
    let invocation = find(&docs, NAME);
    assert_eq!(invocation["type"], "subsegment");
    assert_eq!(invocation["parent_id"], parent.as_str());
    assert_eq!(invocation["annotations"]["ColdStart"], true);
    assert_eq!(invocation["annotations"]["function"], NAME);
    assert_eq!(invocation["annotations"]["service"], "greeter");
    assert_eq!(invocation["http"]["response"]["status"], 200);
    assert!(invocation.get("error").is_none() && invocation.get("fault").is_none());
    let greeting = find(&docs, "greeting");
    assert_eq!(greeting["parent_id"], invocation["id"]);
    assert_eq!(
        greeting["annotations"]["user_id"], "ada",
        "a configured annotation"
    );
    assert_eq!(
        greeting["metadata"]["app.name_length"]
            .to_string()
            .trim_matches('"'),
        "3"
    );
    for doc in &docs {
        let id = doc["id"].as_str().unwrap();
        assert!(
            id.len() == 16 && id.chars().all(|c| c.is_ascii_hexdigit()),
            "{id}"
        );
        assert!(doc["start_time"].as_f64().unwrap() <= doc["end_time"].as_f64().unwrap());
    }

    // OTLP: the same trace id, the invocation as the root, the headers of the environment.
    let requests = h.otlp.wait_for(WAIT, |r| !otlp::spans(r).is_empty()).await;
    assert_eq!(requests[0].header("x-honeycomb-team"), Some("test-key"));
    assert_eq!(
        requests[0].header("content-type"),
        Some("application/x-protobuf")
    );
    let spans = otlp::spans(&requests);
    assert!(spans
        .iter()
        .all(|(_, s)| hex(&s.trace_id) == otlp_trace_id(&root)));
    let (resource, root_span) = spans
        .iter()
        .find(|(_, s)| s.name == NAME)
        .expect("invocation span");
    assert!(
        root_span.parent_span_id.is_empty(),
        "the OTLP trace has a root"
    );
    assert_eq!(attr(resource, "service.name").as_deref(), Some("greeter"));
    assert_eq!(
        attr(&root_span.attributes, "http.response.status_code").as_deref(),
        Some("200")
    );

    // Export begins after the response is posted and ends before the next poll.
    let polls = h.runtime.wait_for_polls(2, WAIT).await;
    assert!(requests[0].received_at > outcome.posted_at);
    assert!(requests[0].received_at < polls[1]);

    // No bearer token anywhere.
    for doc in h.xray.documents() {
        assert!(!doc.to_string().contains(TOKEN_FRAGMENT));
    }
    for request in h.otlp.requests() {
        assert!(!String::from_utf8_lossy(&request.body).contains(TOKEN_FRAGMENT));
    }
    for line in h.process.lines() {
        assert!(!line.contains(TOKEN_FRAGMENT), "{line}");
    }
}

#[tokio::test]
async fn client_errors_are_errors_and_server_errors_are_faults_with_their_cause() {
    let h = Harness::start(NAME, &[]).await;
    let (header, root, _) = lambda_trace_header(true);
    let outcome = h
        .runtime
        .invoke(
            &http_event("GET", "/nothing-here", &[]),
            Some(&header),
            WAIT,
        )
        .await
        .unwrap();
    assert_eq!(outcome.http().0, 404);
    let docs = trace_with(&h.xray, &root, NAME).await;
    let invocation = find(&docs, NAME);
    assert_eq!(invocation["error"], true);
    assert!(invocation.get("fault").is_none() && invocation.get("throttle").is_none());

    let (header, root, _) = lambda_trace_header(true);
    let outcome = h
        .runtime
        .invoke(&http_event("GET", "/unavailable", &[]), Some(&header), WAIT)
        .await
        .unwrap();
    assert_eq!(outcome.http().0, 503);
    let docs = trace_with(&h.xray, &root, NAME).await;
    let invocation = find(&docs, NAME);
    assert_eq!(invocation["fault"], true);
    let exception = &invocation["cause"]["exceptions"][0];
    assert_eq!(exception["type"], "UpstreamUnavailable");
    assert_eq!(
        exception["message"],
        "cannot answer without the upstream: the upstream refused the connection"
    );

    let wanted = otlp_trace_id(&root);
    let requests = h
        .otlp
        .wait_for(WAIT, |r| {
            otlp::spans(r)
                .iter()
                .any(|(_, s)| hex(&s.trace_id) == wanted)
        })
        .await;
    let spans = otlp::spans(&requests);
    let status = |code: &str| {
        spans
            .iter()
            .find(|(_, s)| {
                s.name == NAME
                    && attr(&s.attributes, "http.response.status_code").as_deref() == Some(code)
            })
            .map(|(_, s)| s.status.as_ref().map(|s| s.code))
            .expect("the invocation span")
    };
    assert_ne!(
        status("404"),
        Some(2),
        "a 4xx is not the server span's error"
    );
    assert_eq!(status("503"), Some(2), "a 5xx sets span status Error");
    let error_line = h
        .process
        .json_lines()
        .into_iter()
        .find(|l| l["level"] == "ERROR")
        .expect("an error log line");
    assert_eq!(error_line["message"], "cannot answer without the upstream");
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
        let mut process = FunctionProcess::spawn_binary(
            common::example(NAME),
            NAME,
            &runtime.address(),
            &[
                ("AWS_XRAY_DAEMON_ADDRESS", address),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1"),
            ],
        );
        for _ in 0..2 {
            let (header, _, _) = lambda_trace_header(true);
            let outcome = runtime.invoke(&hello(), Some(&header), WAIT).await.unwrap();
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
    let h = Harness::start_with(
        NAME,
        &[("OTEL_BSP_EXPORT_TIMEOUT", "200")],
        stalled,
        HttpSink::start().await,
    )
    .await;
    let (header, _, _) = lambda_trace_header(true);
    let first = h
        .runtime
        .invoke(&hello(), Some(&header), WAIT)
        .await
        .unwrap();
    let second = h.runtime.invoke(&hello(), None, WAIT).await.unwrap();
    assert_eq!((first.http().0, second.http().0), (200, 200));
    let requests = h.otlp.requests();
    assert!(!requests.is_empty(), "the export was attempted");
    assert!(requests[0].received_at > first.posted_at);
    assert!(
        h.otlp.answered().is_empty(),
        "the second invocation was served while the export stalled"
    );
    // A garbage trace header starts a new trace.
    let third = h
        .runtime
        .invoke(&hello(), Some("Root=garbage"), WAIT)
        .await
        .unwrap();
    assert_eq!(third.http().0, 200);
}

#[tokio::test]
async fn unsampled_invocations_skip_xray_but_reach_otlp() {
    let h = Harness::start(NAME, &[]).await;
    let (unsampled, unsampled_root, _) = lambda_trace_header(false);
    let (sampled, sampled_root, _) = lambda_trace_header(true);
    h.runtime
        .invoke(&hello(), Some(&unsampled), WAIT)
        .await
        .unwrap();
    h.runtime
        .invoke(&hello(), Some(&sampled), WAIT)
        .await
        .unwrap();
    h.xray
        .wait_for(WAIT, |d| d.iter().any(|d| d["trace_id"] == sampled_root))
        .await;
    assert!(
        h.xray.trace(&unsampled_root).is_empty(),
        "X-Ray follows Lambda's Sampled=0"
    );
    let both = [&unsampled_root, &sampled_root].map(|r| otlp_trace_id(r));
    let requests = h
        .otlp
        .wait_for(WAIT, |r| {
            let spans = otlp::spans(r);
            both.iter()
                .all(|root| spans.iter().any(|(_, s)| hex(&s.trace_id) == *root))
        })
        .await;
    let hexes: Vec<String> = otlp::spans(&requests)
        .iter()
        .map(|(_, s)| hex(&s.trace_id))
        .collect();
    for root in both {
        assert!(hexes.contains(&root), "OTLP samples on its own");
    }
}

#[tokio::test]
async fn telemetry_threads_start_after_the_first_response_not_during_init() {
    let h = Harness::start(NAME, &[]).await;
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
    h.runtime
        .invoke(&hello(), Some(&header), WAIT)
        .await
        .unwrap();
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
}

#[tokio::test]
async fn logs_are_json_lines_with_the_invocation_context_and_metrics() {
    let h = Harness::start(NAME, &[]).await;
    let (header, _, _) = lambda_trace_header(true);
    let event = hello();
    let first = h.runtime.invoke(&event, Some(&header), WAIT).await.unwrap();
    assert_eq!(first.http().0, 200);
    let second = h
        .runtime
        .invoke(&http_event("GET", "/missing", &[]), None, WAIT)
        .await
        .unwrap();
    assert_eq!(second.http().0, 404);
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
    assert_eq!(line["method"], "GET");
    assert_eq!(line["path"], "/hello");
    assert_eq!(line["status"], 200);
    assert!(line["duration_ms"].is_number());
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["service"], "greeter");
    assert_eq!(line["function_name"], NAME);
    assert_eq!(line["function_request_id"], first.request_id.as_str());
    assert_eq!(line["xray_trace_id"], header.as_str());
    assert_eq!(line["correlation_id"], event["requestContext"]["requestId"]);
    assert_eq!(line["cold_start"], true);
    let timestamp = line["timestamp"].as_str().unwrap();
    assert!(timestamp.len() == 24 && timestamp.ends_with('Z') && timestamp.as_bytes()[10] == b'T');
    assert_eq!(access[1]["cold_start"], false);
    assert_eq!(access[1]["status"], 404);

    let emf: Vec<&Value> = lines.iter().filter(|l| l.get("_aws").is_some()).collect();
    let metric = |name: &str| emf.iter().find(|l| l.get(name).is_some()).copied();
    let cold = metric("ColdStart").expect("ColdStart metric");
    assert_eq!(
        cold["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([["service"]])
    );
    assert_eq!(cold["_aws"]["CloudWatchMetrics"][0]["Namespace"], "greeter");
    assert_eq!(
        metric("Greetings").expect("the handler's metric")["Greetings"],
        1.0
    );
}

/// Events no API Gateway sends, handed to the function as the Runtime API would: none may end
/// its process, each gets an answer, and the next event is still served.
#[tokio::test]
async fn hostile_events_never_end_the_function() {
    for rust_log in ["info", "trace"] {
        let h = Harness::start(NAME, &[("RUST_LOG", rust_log)]).await;
        let good = hello();
        let mut not_utf8 = good
            .to_string()
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
        long_uri["path"] = Value::from(format!("/hello/{}", "a".repeat(70_000)));
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
            let (status, body, _) = h.runtime.invoke(&event, None, WAIT).await.unwrap().http();
            assert_eq!(
                (status, body),
                (400, json!({"message": "Bad Request"})),
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
        assert!(refused
            .iter()
            .any(|l| l["error"].as_str().is_some_and(|e| e.contains("base64"))));
        let accesses = lines
            .iter()
            .filter(|l| l["target"] == "access" && l["status"] == 400);
        assert_eq!(accesses.count(), 4);
    }
}
