//! Lambda Managed Instances: with `AWS_LAMBDA_MAX_CONCURRENCY` above 1 the `http-function`
//! example serves invocations at once, and each keeps its own trace, parent, log context and
//! reports. The emulator hands one event to each of the concurrent `next` polls.

#![cfg(all(
    feature = "xray",
    feature = "otlp",
    feature = "rollbar",
    feature = "emf"
))]

mod common;

use common::{find, http_event, trace_with, Harness, WAIT};
use futures_util::future::join_all;
use lambda_testkit::otlp::{self, attr, hex};
use lambda_testkit::{lambda_trace_header, otlp_trace_id};
use serde_json::Value;

const NAME: &str = "http-function";
const IN_FLIGHT: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invocations_in_flight_at_once_each_keep_their_own_telemetry() {
    let h = Harness::start(NAME, &[("AWS_LAMBDA_MAX_CONCURRENCY", "8")]).await;
    // Every greeting takes 300 ms, so all of them are in flight together; one of them panics.
    let calls: Vec<(String, String, String, Value)> = (0..IN_FLIGHT)
        .map(|i| {
            let (header, root, parent) = lambda_trace_header(true);
            let event = if i == 3 {
                http_event("GET", "/panic", &[])
            } else {
                let name = format!("caller-{i}");
                http_event(
                    "GET",
                    "/hello",
                    &[("name", name.as_str()), ("wait_ms", "300")],
                )
            };
            (header, root, parent, event)
        })
        .collect();
    let runtime = &h.runtime;
    let outcomes = join_all(calls.iter().map(|(header, _, _, event)| async move {
        runtime.invoke(event, Some(header), WAIT).await.unwrap()
    }))
    .await;

    // They overlapped: every event was handed out before the first slow answer was posted.
    let first_answer = outcomes
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 3)
        .map(|(_, o)| o.posted_at)
        .min()
        .unwrap();
    assert!(
        outcomes.iter().all(|o| o.handed_out_at < first_answer),
        "the invocations ran one after another"
    );

    for (i, ((_, root, parent, _), outcome)) in calls.iter().zip(&outcomes).enumerate() {
        let (status, _, text) = outcome.http();
        let name = format!("caller-{i}");
        if i == 3 {
            assert_eq!(status, 500, "the panicking one answers 500");
        } else {
            assert_eq!((status, text), (200, format!("hello {name}")));
        }
        // X-Ray: its own trace, under its own facade segment, with its own caller.
        // The invocation's span ends last, and its trace is sent in one flush.
        let docs = trace_with(&h.xray, root, NAME).await;
        let invocation = find(&docs, NAME);
        assert_eq!(invocation["parent_id"], parent.as_str(), "invocation {i}");
        if i == 3 {
            assert_eq!(invocation["fault"], true);
            assert!(docs.iter().all(|d| d["name"] != "greeting"));
        } else {
            let greeting = find(&docs, "greeting");
            assert_eq!(greeting["annotations"]["user_id"], name.as_str());
            assert_eq!(greeting["parent_id"], invocation["id"]);
            assert!(invocation.get("fault").is_none());
        }
    }

    // OTLP: every greeting span is in its caller's trace.
    let roots: Vec<String> = calls.iter().map(|(_, r, _, _)| otlp_trace_id(r)).collect();
    let requests = h
        .otlp
        .wait_for(WAIT, |r| {
            otlp::spans(r)
                .iter()
                .filter(|(_, s)| s.name == "greeting")
                .count()
                >= IN_FLIGHT - 1
        })
        .await;
    for (_, span) in otlp::spans(&requests)
        .iter()
        .filter(|(_, s)| s.name == "greeting")
    {
        let user = attr(&span.attributes, "user_id").unwrap();
        let i: usize = user.trim_start_matches("caller-").parse().unwrap();
        assert_eq!(
            hex(&span.trace_id),
            roots[i],
            "{user}'s span in another trace"
        );
    }

    // Logs: each greeting line carries its own invocation's request id.
    let lines = h
        .process
        .wait_for_lines(WAIT, |l| {
            l.iter().filter(|l| l["message"] == "greeted").count() >= IN_FLIGHT - 1
        })
        .await;
    for line in lines.iter().filter(|l| l["message"] == "greeted") {
        let i: usize = line["user_id"]
            .as_str()
            .unwrap()
            .trim_start_matches("caller-")
            .parse()
            .unwrap();
        assert_eq!(line["function_request_id"], outcomes[i].request_id.as_str());
    }

    // Reports: one, the panic's, with its own request and trace.
    let reports = h.rollbar.wait_for(WAIT, |r| !r.is_empty()).await;
    assert_eq!(reports.len(), 1, "only the panic is reported");
    let data = &reports[0].json()["data"];
    assert_eq!(data["level"], "critical");
    assert_eq!(
        data["custom"]["request_id"],
        outcomes[3].request_id.as_str()
    );
    assert_eq!(data["custom"]["trace_id"], calls[3].1.as_str());

    // And the process serves on.
    let next = h
        .runtime
        .invoke(&http_event("GET", "/hello", &[]), None, WAIT)
        .await
        .unwrap();
    assert_eq!(next.http().0, 200);
}

/// With invocations in flight at once, a flush hands the spans over and returns: no poller waits
/// behind an export (here one that would never end), and the process is not frozen between
/// invocations, so nothing needs the wait.
#[tokio::test]
async fn with_invocations_in_flight_at_once_no_poller_waits_for_an_export() {
    let hung = lambda_testkit::HttpSink::with_behavior(lambda_testkit::http::SinkBehavior {
        delay: std::time::Duration::from_secs(600),
        ..Default::default()
    })
    .await;
    let env = [
        ("AWS_LAMBDA_MAX_CONCURRENCY", "4"),
        ("OTEL_BSP_EXPORT_TIMEOUT", "600000"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "600000"),
    ];
    let h = Harness::start_with(NAME, &env, hung, lambda_testkit::HttpSink::start().await).await;
    for _ in 0..8 {
        let outcome = h
            .runtime
            .invoke(&http_event("GET", "/hello", &[]), None, WAIT)
            .await
            .unwrap();
        assert_eq!(outcome.http().0, 200);
    }
    let polls = h.runtime.wait_for_polls(8 + 4, WAIT).await;
    assert!(
        polls.len() >= 12,
        "every poller asked again at once: {} polls",
        polls.len()
    );
    assert!(!h.otlp.requests().is_empty(), "the export was handed over");
}
