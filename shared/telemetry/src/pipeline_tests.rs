//! The pipeline in-process, against a UDP socket standing in for the X-Ray daemon: limits and
//! flags that real handlers rarely produce.

use std::collections::HashMap;
use std::time::Duration;

use lambda_testkit::XrayCollector;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::Telemetry;
use crate::outcome::record_http_status;
use crate::settings::Settings;

fn settings(vars: &[(&str, &str)]) -> Settings {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Settings::from_lookup(|name| vars.get(name).cloned())
}

fn quiet(settings: Settings) -> (Telemetry, impl tracing::Subscriber + Send + Sync) {
    use tracing_subscriber::layer::SubscriberExt;
    let telemetry = Telemetry::with_log_writer(settings, std::io::sink());
    let subscriber = tracing_subscriber::registry().with(telemetry.layer());
    (telemetry, subscriber)
}

fn pipeline(xray: &XrayCollector) -> (Telemetry, tracing::subscriber::DefaultGuard) {
    let settings = settings(&[
        ("AWS_XRAY_DAEMON_ADDRESS", xray.address()),
        ("AWS_LAMBDA_FUNCTION_NAME", "probe"),
    ])
    .annotation("app.handle", "handle");
    let (telemetry, subscriber) = quiet(settings);
    (telemetry, tracing::subscriber::set_default(subscriber))
}

#[tokio::test]
async fn no_document_over_64_kib_is_sent() {
    let xray = XrayCollector::start();
    let (telemetry, _guard) = pipeline(&xray);
    {
        let span = tracing::info_span!(
            "invocation",
            otel.name = "big",
            otel.kind = "server",
            app.handle = "worf"
        );
        for i in 0..40 {
            span.set_attribute(format!("payload.{i}"), "x".repeat(5000));
        }
        let _entered = span.enter();
    }
    telemetry.flush().await;
    let docs = xray
        .wait_for(Duration::from_secs(5), |d| !d.is_empty())
        .await;
    let doc = docs
        .iter()
        .find(|d| d["name"] == "big")
        .expect("the document was sent, truncated");
    assert!(xray.datagram_sizes().iter().all(|&n| n <= 64 * 1024));
    assert_eq!(doc["metadata"]["telemetry"]["truncated"], true);
    assert!(
        doc["metadata"]["telemetry"]["original_bytes"]
            .as_u64()
            .unwrap()
            > 64 * 1024
    );
    assert_eq!(
        doc["annotations"]["handle"], "worf",
        "annotations survive truncation"
    );
    assert_eq!(telemetry.stats().xray_documents_truncated, 1);
}

#[tokio::test]
async fn status_codes_map_to_error_throttle_and_fault() {
    let xray = XrayCollector::start();
    let (telemetry, _guard) = pipeline(&xray);
    for (name, status) in [
        ("ok", 200u16),
        ("client", 404),
        ("throttled", 429),
        ("broken", 502),
    ] {
        let span = tracing::info_span!(
            "invocation",
            otel.name = name,
            otel.kind = "server",
            http.response.status_code = tracing::field::Empty
        );
        record_http_status(&span, status);
    }
    telemetry.flush().await;
    let docs = xray
        .wait_for(Duration::from_secs(5), |d| d.len() >= 4)
        .await;
    let flags = |name: &str| {
        let doc = docs.iter().find(|d| d["name"] == name).unwrap();
        (
            doc.get("error").is_some(),
            doc.get("throttle").is_some(),
            doc.get("fault").is_some(),
        )
    };
    assert_eq!(flags("ok"), (false, false, false));
    assert_eq!(flags("client"), (true, false, false));
    assert_eq!(flags("throttled"), (true, true, false));
    assert_eq!(flags("broken"), (false, false, true));
    let broken = docs.iter().find(|d| d["name"] == "broken").unwrap();
    assert_eq!(broken["cause"]["exceptions"][0]["type"], "HTTP 502");
}

#[tokio::test]
async fn full_queues_drop_and_count_instead_of_growing() {
    let xray = XrayCollector::start();
    let (telemetry, subscriber) = quiet(settings(&[
        ("AWS_XRAY_DAEMON_ADDRESS", xray.address()),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "5"),
    ]));
    let _guard = tracing::subscriber::set_default(subscriber);
    for _ in 0..50 {
        let _span = tracing::info_span!("invocation", otel.kind = "server").entered();
    }
    telemetry.flush().await;
    let stats = telemetry.stats().xray;
    let (dropped, exported) = (stats.dropped, stats.exported);
    assert!(dropped >= 40, "dropped {dropped}");
    assert_eq!(dropped + exported, 50);
}

#[test]
fn outgoing_calls_carry_both_trace_headers() {
    let xray = XrayCollector::start();
    let (_telemetry, subscriber) = quiet(settings(&[("AWS_XRAY_DAEMON_ADDRESS", xray.address())]));
    tracing::subscriber::with_default(subscriber, || {
        assert!(crate::trace_headers().is_empty() || tracing::Span::current().is_none());
        let span = tracing::info_span!("call");
        let _entered = span.enter();
        let headers = crate::trace_headers();
        let get = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let xray_header = get("x-amzn-trace-id").expect("x-amzn-trace-id");
        let traceparent = get("traceparent").expect("traceparent");
        assert!(xray_header.starts_with("Root=1-"));
        let trace_hex = traceparent.split('-').nth(1).unwrap();
        assert!(xray_header.contains(&format!("Root=1-{}-{}", &trace_hex[..8], &trace_hex[8..])));
    });
}

#[cfg(feature = "rollbar")]
#[tokio::test]
async fn error_reports_are_capped_per_invocation() {
    let sink = lambda_testkit::HttpSink::start().await;
    let endpoint = format!("{}/api/1/item/", sink.url());
    let (telemetry, subscriber) = quiet(settings(&[
        ("ROLLBAR_ACCESS_TOKEN", "token"),
        ("ROLLBAR_ENDPOINT", &endpoint),
        ("ROLLBAR_MAX_ITEMS_PER_INVOCATION", "3"),
        ("OTEL_SDK_DISABLED", "true"),
    ]));
    let _guard = tracing::subscriber::set_default(subscriber);
    for invocation in 0..2 {
        {
            let _span = tracing::info_span!(
                "invocation",
                function_request_id = "req",
                user_id = "user-7"
            )
            .entered();
            for n in 0..5 {
                tracing::warn!(report = true, "report {invocation}.{n}");
            }
        }
        telemetry.flush().await;
    }
    let items: Vec<_> = sink.requests().iter().map(|r| r.json()).collect();
    assert_eq!(items.len(), 6, "three per invocation");
    assert_eq!(items[0]["data"]["person"]["id"], "user-7");
    assert_eq!(items[0]["data"]["custom"]["request_id"], "req");
    assert_eq!(
        telemetry.stats().reports_not_delivered,
        4,
        "two over the cap, twice"
    );
}

#[cfg(feature = "rollbar")]
#[tokio::test]
async fn a_failed_secrets_read_is_retried_with_backoff_until_it_succeeds() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    let reads = Arc::new(AtomicUsize::new(0));
    let counter = reads.clone();
    let settings = settings(&[
        ("LAMBDA_TELEMETRY_RETRY_BASE_MS", "20"),
        ("LAMBDA_TELEMETRY_RETRY_MAX_MS", "40"),
        ("OTEL_SDK_DISABLED", "true"),
    ])
    .secrets_later(move || {
        let attempt = counter.fetch_add(1, Ordering::SeqCst);
        async move {
            if attempt < 2 {
                Err("the parameter store is unavailable".to_owned())
            } else {
                Ok(crate::LateSecrets {
                    rollbar_token: Some("token".to_owned()),
                    ..Default::default()
                })
            }
        }
    });
    let (telemetry, subscriber) = quiet(settings);
    let _guard = tracing::subscriber::set_default(subscriber);
    let ready = || telemetry.reporter.as_ref().is_some_and(|r| r.is_ready());
    for _ in 0..200 {
        telemetry.flush().await;
        if ready() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(ready(), "error reports start once a read succeeds");
    assert_eq!(
        reads.load(Ordering::SeqCst),
        3,
        "two failed reads, then one that succeeded"
    );
    for _ in 0..5 {
        telemetry.flush().await;
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert_eq!(
        reads.load(Ordering::SeqCst),
        3,
        "no read after one succeeded"
    );
}
