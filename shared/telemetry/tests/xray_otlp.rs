//! X-Ray over OTLP: with the OTLP traces endpoint set to X-Ray's, the `http-function` example
//! signs gzipped OTLP requests for service `xray`, sends them where `AWS_ENDPOINT_URL_XRAY` says,
//! joins Lambda's facade segment, and leaves the daemon alone. (The signatures themselves are
//! recomputed by `cruddur-xray listen --otlp` in its own tests.)

#![cfg(all(feature = "xray", feature = "otlp"))]

mod common;

use common::{answering, http_event, hung, Harness, WAIT};
use lambda_testkit::http::SinkBehavior;
use lambda_testkit::otlp::{self, attr, hex};
use lambda_testkit::{lambda_trace_header, otlp_trace_id, HttpSink};

const NAME: &str = "http-function";
const XRAY_ENDPOINT: &str = "https://xray.eu-west-1.amazonaws.com/v1/traces";

/// The example with X-Ray's OTLP endpoint, sent to `sink`, and session credentials.
async fn start(sink: HttpSink) -> Harness {
    let base = sink.url();
    start_at(&base, sink, &[]).await
}

/// The example with X-Ray's OTLP endpoint sent to `base`, plus `extra` variables.
async fn start_at(base: &str, sink: HttpSink, extra: &[(&str, &str)]) -> Harness {
    let mut env: Vec<(&str, &str)> = vec![
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", XRAY_ENDPOINT),
        ("AWS_ENDPOINT_URL_XRAY", base),
        ("AWS_REGION", "eu-west-1"),
        ("AWS_ACCESS_KEY_ID", "ASIATESTKEY"),
        ("AWS_SECRET_ACCESS_KEY", "test-secret"),
        ("AWS_SESSION_TOKEN", "test-session-token"),
    ];
    env.extend_from_slice(extra);
    Harness::start_with(NAME, &env, sink, HttpSink::start().await).await
}

/// `GET /hello?name=ada` in the trace `header` names; the answer's status and body.
async fn hello(h: &Harness, header: &str) -> (u16, String) {
    let outcome = h
        .runtime
        .invoke(
            &http_event("GET", "/hello", &[("name", "ada")]),
            Some(header),
            WAIT,
        )
        .await
        .unwrap();
    let (status, _, body) = outcome.http();
    (status, body)
}

#[tokio::test]
async fn spans_go_signed_and_gzipped_to_xray_joining_the_facade_segment() {
    let h = start(HttpSink::start().await).await;
    let (header, root, parent) = lambda_trace_header(true);
    assert_eq!(hello(&h, &header).await, (200, "hello ada".to_owned()));

    let requests = h.otlp.wait_for(WAIT, |r| !otlp::spans(r).is_empty()).await;
    assert!(!requests.is_empty(), "{:#?}", h.process.lines());
    let request = &requests[0];
    assert_eq!(request.path, "/v1/traces");
    assert_eq!(request.header("content-encoding"), Some("gzip"));
    assert_eq!(
        request.header("content-type"),
        Some("application/x-protobuf")
    );
    let authorization = request.header("authorization").expect("a signature");
    assert!(
        authorization.starts_with("AWS4-HMAC-SHA256 Credential=ASIATESTKEY/"),
        "{authorization}"
    );
    assert!(
        authorization.contains("/eu-west-1/xray/aws4_request"),
        "{authorization}"
    );
    for signed in ["content-encoding", "content-type", "host", "x-amz-date"] {
        assert!(authorization.contains(signed), "{signed}: {authorization}");
    }
    assert_eq!(
        request.header("x-amz-security-token"),
        Some("test-session-token")
    );
    assert_eq!(
        request.header("x-honeycomb-team"),
        None,
        "another backend's key never goes to AWS"
    );

    let spans = otlp::spans(&requests);
    assert!(spans
        .iter()
        .all(|(_, s)| hex(&s.trace_id) == otlp_trace_id(&root)));
    let (resource, invocation) = spans
        .iter()
        .find(|(_, s)| s.name == NAME)
        .expect("the invocation span");
    assert_eq!(
        hex(&invocation.parent_span_id),
        parent,
        "the invocation's parent is Lambda's facade segment"
    );
    assert_eq!(
        invocation.kind, 1,
        "internal: a subsegment of the facade, as on the daemon path"
    );
    for (key, value) in [
        ("service.name", "greeter"),
        ("cloud.provider", "aws"),
        ("cloud.platform", "aws_lambda"),
        ("cloud.region", "eu-west-1"),
        ("faas.name", NAME),
        ("faas.version", "$LATEST"),
        ("aws.log.group.names", "/aws/lambda/http-function"),
    ] {
        assert_eq!(attr(resource, key).as_deref(), Some(value), "{key}");
    }
    let indexed = attr(&invocation.attributes, "aws.xray.annotations").unwrap_or_default();
    for key in ["ColdStart", "service", "function"] {
        assert!(indexed.split(',').any(|k| k == key), "{key} in {indexed}");
    }
    assert_eq!(
        attr(&invocation.attributes, "ColdStart").as_deref(),
        Some("true")
    );
    let (_, greeting) = spans
        .iter()
        .find(|(_, s)| s.name == "greeting")
        .expect("the application's span");
    assert_eq!(greeting.parent_span_id, invocation.span_id);
    assert_eq!(
        attr(&greeting.attributes, "aws.xray.annotations").as_deref(),
        Some("user_id")
    );

    // Not twice: the daemon gets nothing.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(h.xray.documents().is_empty(), "{:?}", h.xray.documents());
}

#[tokio::test]
async fn a_trace_lambda_did_not_sample_is_not_sent() {
    let h = start(HttpSink::start().await).await;
    let (unsampled, _, _) = lambda_trace_header(false);
    let (sampled, sampled_root, _) = lambda_trace_header(true);
    for header in [&unsampled, &sampled] {
        hello(&h, header).await;
    }
    let requests = h
        .otlp
        .wait_for(WAIT, |r| {
            otlp::spans(r)
                .iter()
                .any(|(_, s)| hex(&s.trace_id) == otlp_trace_id(&sampled_root))
        })
        .await;
    assert!(otlp::spans(&requests)
        .iter()
        .all(|(_, s)| hex(&s.trace_id) == otlp_trace_id(&sampled_root)));
}

#[tokio::test]
async fn a_403_is_one_clear_line_and_the_function_keeps_serving() {
    let sink = HttpSink::with_behavior(SinkBehavior {
        status: 403,
        body: r#"{"message":"The security token included in the request is invalid."}"#.into(),
        ..SinkBehavior::default()
    })
    .await;
    let h = start(sink).await;
    for _ in 0..5 {
        let (header, _, _) = lambda_trace_header(true);
        assert_eq!(hello(&h, &header).await.0, 200);
    }
    h.runtime.wait_for_polls(6, WAIT).await;
    assert_eq!(h.otlp.requests().len(), 1, "a refusal stops the sending");
    let refusals: Vec<String> = h
        .process
        .lines()
        .into_iter()
        .filter(|line| line.contains("refused the credentials"))
        .collect();
    assert_eq!(refusals.len(), 1, "{refusals:?}");
    assert!(
        refusals[0].contains("X-Ray's OTLP endpoint")
            && refusals[0].contains("xray:PutTraceSegments")
            && refusals[0].contains("Transaction Search"),
        "{}",
        refusals[0]
    );
}

#[tokio::test]
async fn a_hung_refusing_or_failing_endpoint_is_tried_once_and_never_holds_the_function() {
    for (what, behavior) in [
        ("hung", Some(hung())),
        ("500", Some(answering(500, &[]))),
        ("429", Some(answering(429, &[("Retry-After", "120")]))),
        ("refusing", None), // nothing listens
    ] {
        let sink = match behavior {
            Some(behavior) => HttpSink::with_behavior(behavior).await,
            None => HttpSink::start().await,
        };
        let base = if what == "refusing" {
            "http://127.0.0.1:1".to_owned()
        } else {
            sink.url()
        };
        let env = [
            ("OTEL_BSP_EXPORT_TIMEOUT", "300"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "60000"),
            ("LAMBDA_TELEMETRY_RETRY_BASE_MS", "60000"),
        ];
        let h = start_at(&base, sink, &env).await;
        for _ in 0..10 {
            let (header, _, _) = lambda_trace_header(true);
            assert_eq!(hello(&h, &header).await.0, 200, "{what}");
        }
        h.runtime.wait_for_polls(11, WAIT).await;
        assert!(
            h.otlp.requests().len() <= 1,
            "{what}: tried once, then left to rest"
        );
        let failing: Vec<String> = h
            .process
            .lines()
            .into_iter()
            .filter(|line| line.contains("is failing"))
            .collect();
        assert_eq!(failing.len(), 1, "{what}: said once: {failing:?}");
        assert!(
            failing[0].contains("X-Ray's OTLP endpoint"),
            "{}",
            failing[0]
        );
    }
}
