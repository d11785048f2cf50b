//! The X-Ray API paths: `listen --forward` into moto's X-Ray, read back with `--aws` (the same
//! trees and map as from the local file), and PutTraceSegments retries against a stand-in.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{cli, stdout, Listener, TempDir, HEADER};
use cruddur_xray::aws::{put_segments, Forwarded};
use lambda_testkit::http::{record, response, serve};
use lambda_testkit::moto;
use serde_json::{json, Value};

/// The canned documents, moved to now, with fresh trace ids and a `run` annotation so this
/// test finds its own traces in a shared moto.
fn fresh_documents(run: &str) -> (Vec<Value>, Vec<String>) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut ids = std::collections::HashMap::new();
    let mut docs = Vec::new();
    for line in include_str!("fixtures/arrivals.jsonl").lines() {
        let mut doc: Value = serde_json::from_str(line).unwrap();
        let old = doc["trace_id"].as_str().unwrap().to_owned();
        let new = ids
            .entry(old)
            .or_insert_with(|| {
                let random = uuid::Uuid::new_v4().simple().to_string();
                format!("1-{now:08x}-{}", &random[..24])
            })
            .clone();
        doc["trace_id"] = json!(new);
        shift(&mut doc, now as f64 - 1_710_268_090.0);
        if doc["id"].as_str().unwrap().starts_with('d') {
            doc["annotations"]["run"] = json!(run);
        }
        docs.push(doc);
    }
    let mut trace_ids: Vec<String> = ids.into_values().collect();
    trace_ids.sort();
    (docs, trace_ids)
}

/// Moves a document by whole seconds (durations stay exact).
fn shift(part: &mut Value, seconds: f64) {
    for field in ["start_time", "end_time"] {
        if let Some(t) = part.get(field).and_then(Value::as_f64) {
            part[field] = json!(((t + seconds) * 1000.0).round() / 1000.0);
        }
    }
    if let Some(children) = part.get_mut("subsegments").and_then(Value::as_array_mut) {
        children.iter_mut().for_each(|c| shift(c, seconds));
    }
}

#[test]
fn forwarded_documents_read_back_through_the_x_ray_api_give_the_same_views() {
    let env = moto().env();
    let dir = TempDir::new("aws");
    let out = dir.path("xray.jsonl");
    let out = out.to_str().unwrap();
    let listener = Listener::start(out.as_ref(), &["--forward", "--idle", "1"], &env);
    let run = uuid::Uuid::new_v4().simple().to_string();
    let (documents, trace_ids) = fresh_documents(&run);
    for doc in &documents {
        listener.send(format!("{HEADER}{doc}").as_bytes());
    }
    let filter = format!("annotation.run = \"{run}\"");

    // The forwarder sends within a second; X-Ray (moto) then lists the traces.
    let deadline = Instant::now() + Duration::from_secs(30);
    let listed = loop {
        let listed = stdout(&cli(
            &["traces", "--aws", "--since", "5m", "--filter", &filter],
            &env,
        ));
        if listed.lines().count() == 3 || Instant::now() > deadline {
            break listed;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let mut listed_ids: Vec<&str> = listed
        .lines()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    listed_ids.sort();
    assert_eq!(
        listed_ids,
        trace_ids,
        "listed: {listed}\nall: {}\nlistener: {}",
        String::from_utf8_lossy(&cli(&["traces", "--aws", "--since", "5m"], &env).stdout),
        listener.stderr()
    );
    assert_eq!(
        listed,
        stdout(&cli(&["traces", "--from", out, "--filter", &filter], &[])),
        "the same list from X-Ray as from the local file"
    );

    for id in &trace_ids {
        let from_aws = stdout(&cli(&["trace", id, "--aws"], &env));
        let from_file = stdout(&cli(&["trace", id, "--from", out], &[]));
        assert_eq!(from_aws, from_file);
        assert!(from_aws.starts_with(&format!("trace {id}  ")), "{from_aws}");
    }

    let map_aws = stdout(&cli(
        &["map", "--aws", "--since", "5m", "--filter", &filter],
        &env,
    ));
    let map_file = stdout(&cli(&["map", "--from", out, "--filter", &filter], &[]));
    assert_eq!(map_aws, map_file);
    assert!(
        map_aws.starts_with("service map: 6 nodes, 6 edges, from 3 traces (1 partial"),
        "{map_aws}"
    );
    assert!(map_aws.contains(
        "  home-activities [AWS::Lambda::Function] -> DynamoDB [AWS::DynamoDB]  requests 2  errors 0  faults 0  throttles 1  p50 20.0 ms  p95 40.0 ms\n"
    ), "{map_aws}");

    let stderr = listener.stop();
    assert!(!stderr.contains("did not accept"), "{stderr}");
    assert!(
        stderr.contains("11 documents accepted, 0 rejected"),
        "{stderr}"
    );
}

/// An X-Ray API stand-in that answers PutTraceSegments with `answer(call number, ids sent)`.
async fn stand_in(
    answer: impl Fn(usize, &[String]) -> (u16, Value) + Send + Sync + 'static,
) -> (aws_sdk_xray::Client, Arc<Mutex<Vec<Vec<String>>>>) {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let count = Arc::new(AtomicUsize::new(0));
    let answer = Arc::new(answer);
    let seen = calls.clone();
    let addr = serve(move |req| {
        let (seen, count, answer) = (seen.clone(), count.clone(), answer.clone());
        async move {
            let body = record(req).await.json();
            let ids: Vec<String> = body["TraceSegmentDocuments"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|d| serde_json::from_str::<Value>(d.as_str()?).ok())
                .map(|d| d["id"].as_str().unwrap_or_default().to_owned())
                .collect();
            seen.lock().unwrap().push(ids.clone());
            let (status, body) = answer(count.fetch_add(1, Ordering::SeqCst), &ids);
            response(status, body.to_string())
        }
    })
    .await;
    let config = aws_sdk_xray::Config::builder()
        .behavior_version(aws_sdk_xray::config::BehaviorVersion::latest())
        .http_client(cruddur_aws_https::https_client())
        .region(aws_sdk_xray::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_xray::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .endpoint_url(format!("http://{addr}"))
        // Our own retries are under test, not the SDK's.
        .retry_config(aws_sdk_xray::config::retry::RetryConfig::disabled())
        .build();
    (aws_sdk_xray::Client::from_conf(config), calls)
}

fn documents(ids: &[&str]) -> Vec<(String, String)> {
    ids.iter()
        .map(|id| {
            let doc = json!({"name": "svc", "id": id, "trace_id": "1-581cf771-a006649127e371903a2de979",
                             "start_time": 1.0, "end_time": 2.0});
            (id.to_string(), doc.to_string())
        })
        .collect()
}

const A: &str = "aaaaaaaaaaaaaaaa";
const B: &str = "bbbbbbbbbbbbbbbb";

fn unprocessed(id: &str) -> Value {
    json!({"UnprocessedTraceSegments": [{"Id": id, "ErrorCode": "ThrottledException", "Message": "Rate exceeded"}]})
}

#[tokio::test]
async fn unprocessed_segments_are_retried_alone() {
    let (client, calls) = stand_in(|call, _| {
        if call == 0 {
            (200, unprocessed(A))
        } else {
            (200, json!({"UnprocessedTraceSegments": []}))
        }
    })
    .await;
    let outcome = put_segments(&client, documents(&[A, B]), 3, Duration::from_millis(10)).await;
    assert_eq!(
        outcome,
        Forwarded {
            accepted: 2,
            refused: vec![]
        }
    );
    assert_eq!(*calls.lock().unwrap(), vec![vec![A, B], vec![A]]);
}

#[tokio::test]
async fn segments_still_refused_after_every_attempt_are_reported() {
    let (client, calls) = stand_in(|_, _| (200, unprocessed(A))).await;
    let outcome = put_segments(&client, documents(&[A, B]), 3, Duration::from_millis(10)).await;
    assert_eq!(outcome.accepted, 1);
    assert_eq!(
        outcome.refused,
        vec![(A.to_owned(), "ThrottledException Rate exceeded".to_owned())]
    );
    assert_eq!(calls.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn a_failing_api_is_retried_then_every_document_reported() {
    let (client, calls) = stand_in(|_, _| {
        (
            500,
            json!({"__type": "InternalFailure", "message": "down for maintenance"}),
        )
    })
    .await;
    let outcome = put_segments(&client, documents(&[A, B]), 3, Duration::from_millis(10)).await;
    assert_eq!(outcome.accepted, 0);
    assert_eq!(outcome.refused.len(), 2);
    assert!(
        outcome.refused[0].1.contains("down for maintenance")
            || outcome.refused[0].1.contains("InternalFailure"),
        "{:?}",
        outcome.refused
    );
    assert_eq!(calls.lock().unwrap().len(), 3);
}
