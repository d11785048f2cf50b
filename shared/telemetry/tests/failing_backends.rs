//! Backends that fail: hung, refusing, answering 5xx, 429 or 403. Each is paid for once, not per
//! invocation: the breaker stops the waits, holds what the backend should get (bounded), probes
//! after a backoff and sends what was held first once the backend answers again.
//!
//! These tests assert which waits happen (the telemetry's own debug line for an export that
//! ran out of time), what is sent, held, dropped and resent; never how long anything took.

#![cfg(all(
    feature = "xray",
    feature = "otlp",
    feature = "rollbar",
    feature = "emf"
))]

mod common;

use std::time::Duration;

use common::{answering, http_event, hung, Harness, WAIT};
use lambda_testkit::http::SinkBehavior;
use lambda_testkit::otlp::{self, hex};
use lambda_testkit::{lambda_trace_header, otlp_trace_id, HttpSink};
use serde_json::Value;

const NAME: &str = "http-function";
/// A backoff a test can wait out: 100-200 ms.
const RETRY_SOON: [(&str, &str); 2] = [
    ("LAMBDA_TELEMETRY_RETRY_BASE_MS", "100"),
    ("LAMBDA_TELEMETRY_RETRY_MAX_MS", "200"),
];
/// A backoff over before the next invocation: only a stop or a named window holds a backend.
const RETRY_AT_ONCE: [(&str, &str); 2] = [
    ("LAMBDA_TELEMETRY_RETRY_BASE_MS", "1"),
    ("LAMBDA_TELEMETRY_RETRY_MAX_MS", "2"),
];

fn hello() -> Value {
    http_event("GET", "/hello", &[])
}

/// Log lines whose message contains `text`.
fn lines_with(h: &Harness, text: &str) -> Vec<Value> {
    h.process
        .json_lines()
        .into_iter()
        .filter(|l| l["message"].as_str().is_some_and(|m| m.contains(text)))
        .collect()
}

/// The example, with its OTLP endpoint answering as `otlp` says.
async fn with_otlp(otlp: SinkBehavior, env: &[(&str, &str)]) -> Harness {
    Harness::start_with(
        NAME,
        env,
        HttpSink::with_behavior(otlp).await,
        HttpSink::start().await,
    )
    .await
}

/// The example, with Rollbar answering as `rollbar` says.
async fn with_rollbar(rollbar: SinkBehavior, env: &[(&str, &str)]) -> Harness {
    Harness::start_with(
        NAME,
        env,
        HttpSink::start().await,
        HttpSink::with_behavior(rollbar).await,
    )
    .await
}

/// Runs `count` invocations one after the other, each answered 200.
async fn invoke(h: &Harness, count: usize, event: &Value) {
    for _ in 0..count {
        let outcome = h.runtime.invoke(event, None, WAIT).await.unwrap();
        assert_eq!(outcome.http().0, 200);
    }
}

#[tokio::test]
async fn a_hung_otlp_endpoint_is_waited_for_once() {
    let env = [
        ("RUST_LOG", "info,telemetry=debug"),
        ("OTEL_BSP_EXPORT_TIMEOUT", "300"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "60000"),
    ];
    let h = with_otlp(hung(), &env).await;
    invoke(&h, 30, &hello()).await;
    h.runtime.wait_for_polls(31, WAIT).await;
    let ran_out = lines_with(&h, "span export took longer than its deadline");
    assert_eq!(
        ran_out.len(),
        1,
        "only the first flush waited for the hung endpoint"
    );
    assert_eq!(
        h.otlp.requests().len(),
        1,
        "one request, still hanging: no export per invocation"
    );
    assert_eq!(lines_with(&h, "is failing").len(), 1, "said once");
    // The X-Ray path is not held up by the OTLP one.
    assert!(
        h.xray
            .documents()
            .iter()
            .filter(|d| d["name"] == NAME)
            .count()
            >= 30
    );
}

#[tokio::test]
async fn a_refusing_or_failing_otlp_endpoint_is_tried_once_then_probed_with_backoff() {
    for (what, behavior) in [
        ("503", Some(answering(503, &[]))),
        ("refused", None), // nothing listens
    ] {
        let sink = match &behavior {
            Some(b) => Some(HttpSink::with_behavior(b.clone()).await),
            None => None,
        };
        let endpoint = sink
            .as_ref()
            .map_or("http://127.0.0.1:1".to_owned(), HttpSink::url);
        let env = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("LAMBDA_TELEMETRY_RETRY_BASE_MS", "60000"),
        ];
        let h = Harness::start(NAME, &env).await;
        invoke(&h, 20, &hello()).await;
        h.runtime.wait_for_polls(21, WAIT).await;
        if let Some(sink) = &sink {
            assert_eq!(
                sink.requests().len(),
                1,
                "{what}: no retry before the backoff"
            );
        }
        let failing = lines_with(&h, "is failing");
        assert_eq!(failing.len(), 1, "{what}: said once");
        assert_eq!(failing[0]["backend"], "the OTLP endpoint");
    }
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let sink = HttpSink::with_behavior(answering(503, &[("Retry-After", "120")])).await;
    let env = RETRY_AT_ONCE;
    let h = Harness::start_with(NAME, &env, sink, HttpSink::start().await).await;
    invoke(&h, 3, &hello()).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    invoke(&h, 3, &hello()).await;
    h.runtime.wait_for_polls(7, WAIT).await;
    assert_eq!(
        h.otlp.requests().len(),
        1,
        "nothing is sent inside the window the endpoint named"
    );
}

#[tokio::test]
async fn after_an_outage_what_was_held_is_sent_first() {
    let env = RETRY_SOON;
    let h = with_otlp(answering(503, &[]), &env).await;
    let mut roots = Vec::new();
    for _ in 0..4 {
        let (header, root, _) = lambda_trace_header(true);
        h.runtime
            .invoke(&hello(), Some(&header), WAIT)
            .await
            .unwrap();
        roots.push(otlp_trace_id(&root));
    }
    h.otlp.set_behavior(SinkBehavior::default());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (header, last, _) = lambda_trace_header(true);
    h.runtime
        .invoke(&hello(), Some(&header), WAIT)
        .await
        .unwrap();
    roots.push(otlp_trace_id(&last));
    let accepted = h
        .otlp
        .wait_for(WAIT, |r| {
            otlp::spans(r)
                .iter()
                .any(|(_, s)| hex(&s.trace_id) == roots[4])
        })
        .await;
    let recovered = &accepted[1..]; // the first request was answered 503
    let order: Vec<usize> = otlp::spans(recovered)
        .iter()
        .filter_map(|(_, s)| roots.iter().position(|r| *r == hex(&s.trace_id)))
        .collect();
    assert!(!order.is_empty());
    for held in 1..5 {
        assert!(
            order.contains(&held),
            "trace {held} was held and sent: {order:?}"
        );
    }
    assert!(
        order.windows(2).all(|w| w[0] <= w[1]),
        "oldest first: {order:?}"
    );
    assert_eq!(lines_with(&h, "answers again").len(), 1);
}

#[tokio::test]
async fn refused_credentials_stop_the_exporter_with_one_line_naming_the_setting() {
    let env = RETRY_AT_ONCE;
    let h = with_otlp(answering(403, &[]), &env).await;
    for _ in 0..5 {
        invoke(&h, 1, &hello()).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    h.runtime.wait_for_polls(6, WAIT).await;
    assert_eq!(h.otlp.requests().len(), 1, "not retried");
    let refused = lines_with(&h, "refused the credentials");
    assert_eq!(refused.len(), 1);
    assert!(refused[0]["message"]
        .as_str()
        .unwrap()
        .contains("OTEL_EXPORTER_OTLP_HEADERS"));
}

#[tokio::test]
async fn a_hung_rollbar_is_waited_for_once_while_every_invocation_reports() {
    let env = [
        ("ROLLBAR_TIMEOUT_MS", "300"),
        ("LAMBDA_TELEMETRY_RETRY_BASE_MS", "60000"),
    ];
    let h = with_rollbar(hung(), &env).await;
    invoke(&h, 30, &http_event("GET", "/report", &[])).await;
    h.runtime.wait_for_polls(31, WAIT).await;
    assert_eq!(
        h.rollbar.requests().len(),
        1,
        "one report on the wire; the rest are held"
    );
    let failing = lines_with(&h, "is failing");
    assert_eq!(failing.len(), 1);
    assert_eq!(failing[0]["backend"], "Rollbar");
}

#[tokio::test]
async fn held_reports_are_delivered_oldest_first_when_rollbar_answers_again() {
    let env = RETRY_SOON;
    let h = with_rollbar(answering(503, &[]), &env).await;
    let mut request_ids = Vec::new();
    for _ in 0..3 {
        let outcome = h
            .runtime
            .invoke(&http_event("GET", "/report", &[]), None, WAIT)
            .await
            .unwrap();
        request_ids.push(outcome.request_id);
    }
    h.rollbar.set_behavior(SinkBehavior::default());
    tokio::time::sleep(Duration::from_millis(300)).await;
    invoke(&h, 1, &hello()).await;
    let requests = h.rollbar.wait_for(WAIT, |r| r.len() >= 4).await;
    let items: Vec<Value> = requests.iter().map(|r| r.json()).collect();
    // The first item failed (503) and went again with the same uuid; then the held ones.
    assert_eq!(
        items[0]["data"]["uuid"], items[1]["data"]["uuid"],
        "a retry never duplicates"
    );
    let delivered: Vec<&Value> = items[1..]
        .iter()
        .map(|i| &i["data"]["custom"]["request_id"])
        .collect();
    assert_eq!(
        delivered,
        request_ids.iter().collect::<Vec<_>>(),
        "each once, oldest first"
    );
}

#[tokio::test]
async fn a_wrong_rollbar_token_turns_reports_off_with_one_line() {
    let env = RETRY_AT_ONCE;
    let h = with_rollbar(answering(401, &[]), &env).await;
    for _ in 0..4 {
        invoke(&h, 1, &http_event("GET", "/report", &[])).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    h.runtime.wait_for_polls(5, WAIT).await;
    assert_eq!(h.rollbar.requests().len(), 1);
    let refused = lines_with(&h, "refused the credentials");
    assert_eq!(refused.len(), 1);
    assert!(refused[0]["message"]
        .as_str()
        .unwrap()
        .contains("ROLLBAR_ACCESS_TOKEN"));
}

#[tokio::test]
async fn with_a_hung_otlp_endpoint_memory_stays_flat_and_drops_are_counted() {
    let env = [
        ("OTEL_BSP_EXPORT_TIMEOUT", "200"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "600000"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "512"),
    ];
    let h = with_otlp(hung(), &env).await;
    let event = http_event("GET", "/hello", &[("name", "ada")]);
    invoke(&h, 100, &event).await;
    let at_100 = h.process.rss_kib();
    invoke(&h, 300, &event).await;
    let at_400 = h.process.rss_kib();
    assert!(at_100 > 0 && at_400 > 0);
    assert!(
        at_400 < at_100 + 2048,
        "resident memory grew from {at_100} KiB to {at_400} KiB"
    );
    let lines = h
        .process
        .wait_for_lines(WAIT, |l| {
            l.iter().any(|l| l.get("OtlpSpansDropped").is_some())
        })
        .await;
    let dropped = lines
        .iter()
        .find(|l| l.get("OtlpSpansDropped").is_some())
        .expect("an EMF metric of the drops");
    assert!(dropped["OtlpSpansDropped"].as_f64().unwrap() > 0.0);
    assert_eq!(
        lines_with(&h, "are being dropped").len(),
        1,
        "dropping is said once"
    );
}

// Multi-threaded: the test blocks on the process's exit while its sink answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_is_held_is_flushed_when_lambda_shuts_the_sandbox_down() {
    let env = [("LAMBDA_TELEMETRY_RETRY_BASE_MS", "600000")];
    let mut h = with_otlp(answering(503, &[]), &env).await;
    let mut roots = Vec::new();
    for _ in 0..3 {
        let (header, root, _) = lambda_trace_header(true);
        h.runtime
            .invoke(&hello(), Some(&header), WAIT)
            .await
            .unwrap();
        roots.push(otlp_trace_id(&root));
    }
    h.runtime.wait_for_polls(4, WAIT).await;
    assert_eq!(
        h.otlp.requests().len(),
        1,
        "held, not retried, before the shutdown"
    );
    assert_eq!(h.runtime.extensions(), ["lambda-telemetry-shutdown-flush"]);

    h.otlp.set_behavior(SinkBehavior::default());
    let code = tokio::task::block_in_place(|| h.process.terminate(WAIT));
    assert_eq!(code, Some(0), "flushed and exited");
    let spans = otlp::spans(&h.otlp.requests()[1..]);
    for (i, root) in roots.iter().enumerate() {
        assert!(
            spans.iter().any(|(_, s)| hex(&s.trace_id) == *root),
            "trace {i} sent at shutdown"
        );
    }
}
