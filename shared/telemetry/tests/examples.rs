//! The other examples end to end: an SQS consumer, a function with a subscriber of its own, and
//! a function whose AWS SDK call is a downstream node (against moto's SSM).

#![cfg(all(
    feature = "xray",
    feature = "otlp",
    feature = "rollbar",
    feature = "emf"
))]

mod common;

use aws_sdk_ssm::types::ParameterType;
use common::{find, http_event, trace_with, Harness, WAIT};
use lambda_testkit::{lambda_trace_header, moto};
use serde_json::{json, Value};

fn sqs_event(bodies: &[&str]) -> Value {
    let records: Vec<Value> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            json!({
                "messageId": format!("m-{i}"),
                "receiptHandle": format!("handle-{i}"),
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "0",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:orders",
                "awsRegion": "us-east-1"
            })
        })
        .collect();
    json!({ "Records": records })
}

#[tokio::test]
async fn an_sqs_consumer_traces_each_message_and_reports_a_failed_batch() {
    let name = "sqs-consumer";
    let h = Harness::start(name, &[]).await;
    let (header, root, parent) = lambda_trace_header(true);
    let outcome = h
        .runtime
        .invoke(&sqs_event(&["order 1", "  "]), Some(&header), WAIT)
        .await
        .unwrap();
    assert!(!outcome.is_error);
    assert_eq!(
        outcome.json(),
        json!({"batchItemFailures": [{"itemIdentifier": "m-1"}]})
    );
    let docs = trace_with(&h.xray, &root, name).await;
    let invocation = find(&docs, name);
    assert_eq!(invocation["type"], "subsegment");
    assert_eq!(invocation["parent_id"], parent.as_str());
    assert_eq!(invocation["annotations"]["service"], "orders");
    let messages: Vec<&Value> = docs.iter().filter(|d| d["name"] == "message").collect();
    assert_eq!(messages.len(), 2, "{docs:#?}");
    assert!(messages.iter().all(|m| m["parent_id"] == invocation["id"]));
    let lines = h
        .process
        .wait_for_lines(WAIT, |l| {
            l.iter().any(|l| l.get("MessagesProcessed").is_some())
        })
        .await;
    assert!(
        lines.iter().any(|l| l["MessagesProcessed"] == 1.0),
        "an EMF metric"
    );

    // A message that fails the whole batch: an error for the caller, a fault, a report.
    let (header, root, _) = lambda_trace_header(true);
    let outcome = h
        .runtime
        .invoke(&sqs_event(&["poison"]), Some(&header), WAIT)
        .await
        .unwrap();
    assert!(outcome.is_error);
    let docs = trace_with(&h.xray, &root, name).await;
    assert_eq!(find(&docs, name)["fault"], true);
    let reports = h.rollbar.wait_for(WAIT, |r| !r.is_empty()).await;
    let data = &reports[0].json()["data"];
    assert_eq!(data["level"], "error");
    assert_eq!(data["custom"]["trace_id"], root.as_str());
    assert!(
        data.to_string().contains("message m-0 cannot be processed"),
        "{data}"
    );
    // And the next batch is served.
    let outcome = h
        .runtime
        .invoke(&sqs_event(&["order 2"]), None, WAIT)
        .await
        .unwrap();
    assert_eq!(outcome.json(), json!({"batchItemFailures": []}));
}

#[tokio::test]
async fn an_application_with_its_own_subscriber_adds_the_layers_it_wants() {
    let name = "own-subscriber";
    let h = Harness::start(name, &[]).await;
    let (header, root, parent) = lambda_trace_header(true);
    let outcome = h
        .runtime
        .invoke(&http_event("GET", "/", &[]), Some(&header), WAIT)
        .await
        .unwrap();
    assert_eq!(outcome.http().2, "assembled by hand");
    let docs = trace_with(&h.xray, &root, "work").await;
    let invocation = find(&docs, name);
    assert_eq!(invocation["parent_id"], parent.as_str());
    assert_eq!(invocation["annotations"]["service"], "assembled");
    assert_eq!(invocation["http"]["response"]["status"], 200);
    assert_eq!(find(&docs, "work")["parent_id"], invocation["id"]);
    // The application's own log lines, and none of this crate's JSON lines.
    let lines = h.process.lines();
    assert!(
        lines.iter().any(|l| l == "app-log INFO answering"),
        "{lines:#?}"
    );
    assert!(
        !lines.iter().any(|l| l.starts_with('{')),
        "the JSON log layer was not added: {lines:#?}"
    );
}

async fn put_parameter(name: &str, value: &str) {
    let https = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let config = aws_sdk_ssm::Config::builder()
        .behavior_version(aws_sdk_ssm::config::BehaviorVersion::latest())
        .http_client(https)
        .endpoint_url(moto().endpoint())
        .region(aws_sdk_ssm::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_ssm::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .build();
    aws_sdk_ssm::Client::from_conf(config)
        .put_parameter()
        .name(name)
        .value(value)
        .r#type(ParameterType::String)
        .overwrite(true)
        .send()
        .await
        .expect("moto stores the parameter");
}

#[tokio::test]
async fn an_aws_sdk_call_is_a_downstream_node() {
    let name = "aws-sdk-call";
    put_parameter("/examples/greeting", "hello from SSM").await;
    let h = Harness::start(
        name,
        &[
            ("AWS_ENDPOINT_URL_SSM", moto().endpoint()),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
        ],
    )
    .await;
    let (header, root, _) = lambda_trace_header(true);
    let event = http_event("GET", "/parameter", &[("name", "/examples/greeting")]);
    let outcome = h.runtime.invoke(&event, Some(&header), WAIT).await.unwrap();
    assert_eq!(outcome.http().2, "hello from SSM");
    let docs = trace_with(&h.xray, &root, "SSM").await;
    let invocation = find(&docs, name);
    let call = find(&docs, "SSM");
    assert_eq!(call["parent_id"], invocation["id"]);
    assert_eq!(call["namespace"], "aws");
    assert_eq!(call["aws"]["operation"], "GetParameter");
    assert_eq!(call["aws"]["region"], "us-east-1");
    assert!(
        !call["aws"]["request_id"]
            .as_str()
            .unwrap_or_default()
            .is_empty(),
        "{call}"
    );
    assert!(call.get("error").is_none() && call.get("fault").is_none());

    // A parameter that does not exist: 404 for the caller, an error (4xx) on the call's node.
    let (header, root, _) = lambda_trace_header(true);
    let event = http_event("GET", "/parameter", &[("name", "/examples/missing")]);
    let outcome = h.runtime.invoke(&event, Some(&header), WAIT).await.unwrap();
    assert_eq!(outcome.http().0, 404);
    let docs = trace_with(&h.xray, &root, "SSM").await;
    let call = find(&docs, "SSM");
    assert_eq!(call["error"], true, "{call}");
    assert_eq!(call["http"]["response"]["status"], 400);
}
