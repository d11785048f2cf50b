//! The built functions on DynamoDB Local give the same answers as on SQLite, X-Ray sees the
//! DynamoDB node, and a function never creates its table.

use std::time::Duration;

use cruddur_core::routes::{ENDPOINTS, TRIGGERS};
use cruddur_core::testing::{dynamo_client_store, dynamo_store, event_json, events_dir};
use lambda_testkit::{
    dynamo_local, lambda_trace_header, FunctionProcess, RuntimeEmulator, XrayCollector,
};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(20);

/// Uuids that are the same in every store (seeded or derived); others are generated per run.
const STABLE_UUIDS: [&str; 4] = [
    "68f126b0-1ceb-4a33-88be-d90fa7109eee",
    "26e12864-1c26-5c3a-9658-97a10f8fea67",
    "66e12864-8c26-4c3a-9658-95a10f8fea67",
    "248959df-3079-4947-b847-9e0892d1bab4",
];

/// Seeded uuids, and v5 uuids derived from names (users, conversations).
fn stable(uuid: &str) -> bool {
    STABLE_UUIDS.contains(&uuid)
        || uuid::Uuid::parse_str(uuid).is_ok_and(|u| u.get_version_num() == 5)
}

/// Times depend on when each store was seeded, and created uuids on the run: blank them out.
fn normalize(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                match key.as_str() {
                    "created_at" | "expires_at" => *value = Value::from("<time>"),
                    "uuid" if !value.as_str().is_some_and(stable) => *value = Value::from("<uuid>"),
                    _ => normalize(value),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalize),
        _ => {}
    }
}

fn events_of(function: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(events_dir())
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path().file_stem().unwrap().to_string_lossy().into_owned())
        .filter(|stem| {
            stem == function
                || (stem.starts_with(&format!("{function}-"))
                    && !ENDPOINTS
                        .iter()
                        .any(|e| e.function.len() > function.len() && stem.starts_with(e.function)))
        })
        .collect();
    names.sort();
    names
}

/// A new table on DynamoDB Local, made as the stack (or `cruddur-store create-table`) makes it.
async fn new_table() -> String {
    dynamo_store(dynamo_local().endpoint())
        .await
        .table()
        .to_owned()
}

async fn answers(function: &str, events: &[String], env: &[(&str, &str)]) -> Vec<(bool, Value)> {
    let runtime = RuntimeEmulator::start().await;
    let _process = FunctionProcess::spawn(function, &runtime.address(), env);
    let mut out = Vec::new();
    for name in events {
        let outcome = runtime
            .invoke(&event_json(name), None, WAIT)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut answer = outcome.json();
        if let Some(body) = answer.get("body").and_then(Value::as_str) {
            let decoded = serde_json::from_str(body).unwrap_or(Value::String(body.to_owned()));
            answer = serde_json::json!({"statusCode": answer["statusCode"], "body": decoded});
        }
        normalize(&mut answer);
        out.push((outcome.is_error, answer));
    }
    out
}

#[tokio::test]
async fn every_event_gets_the_same_answer_on_dynamodb_as_on_sqlite() {
    let endpoint = dynamo_local().endpoint().to_owned();
    let dir = std::env::temp_dir().join(format!("cruddur-same-{}", std::process::id()));
    let functions: Vec<&str> = ENDPOINTS
        .iter()
        .map(|e| e.function)
        .chain(TRIGGERS.iter().map(|t| t.function))
        .collect();
    let mut compared = 0;
    for function in functions {
        let events = events_of(function);
        assert!(!events.is_empty(), "{function} has events");
        let sqlite_path = dir.join(format!("{function}.db")).display().to_string();
        let table = new_table().await;
        let on_sqlite = answers(
            function,
            &events,
            &[
                ("CRUDDUR_SQLITE_PATH", &sqlite_path),
                ("CRUDDUR_STAGE", "prod"),
            ],
        )
        .await;
        let on_dynamo = answers(
            function,
            &events,
            &[
                ("CRUDDUR_TABLE_NAME", &table),
                ("AWS_ENDPOINT_URL_DYNAMODB", &endpoint),
                ("AWS_ACCESS_KEY_ID", "local"),
                ("AWS_SECRET_ACCESS_KEY", "local"),
                ("CRUDDUR_STAGE", "prod"),
            ],
        )
        .await;
        for ((name, sqlite), dynamo) in events.iter().zip(&on_sqlite).zip(&on_dynamo) {
            assert_eq!(sqlite, dynamo, "events/{name}.json answered differently");
            compared += 1;
        }
    }
    let _ = std::fs::remove_dir_all(dir);
    assert!(compared >= 30, "compared {compared} events");
}

#[tokio::test]
async fn x_ray_sees_the_dynamodb_node() {
    let runtime = RuntimeEmulator::start().await;
    let xray = XrayCollector::start();
    let table = new_table().await;
    let _process = FunctionProcess::spawn(
        "home-activities",
        &runtime.address(),
        &[
            ("CRUDDUR_TABLE_NAME", &table),
            ("AWS_ENDPOINT_URL_DYNAMODB", dynamo_local().endpoint()),
            ("AWS_ACCESS_KEY_ID", "local"),
            ("AWS_SECRET_ACCESS_KEY", "local"),
            ("AWS_XRAY_DAEMON_ADDRESS", xray.address()),
        ],
    );
    let (header, root, _) = lambda_trace_header(true);
    let outcome = runtime
        .invoke(&event_json("home-activities"), Some(&header), WAIT)
        .await
        .unwrap();
    assert_eq!(outcome.http().0, 200);
    let docs = xray
        .wait_for(WAIT, |d| {
            d.iter()
                .any(|d| d["trace_id"] == root && d["name"] == "home-activities")
        })
        .await;
    let dynamo: Vec<&Value> = docs
        .iter()
        .filter(|d| d["trace_id"] == root && d["name"] == "DynamoDB")
        .collect();
    assert!(!dynamo.is_empty(), "no DynamoDB subsegments in {docs:#?}");
    for doc in &dynamo {
        assert_eq!(doc["namespace"], "aws");
        assert_eq!(doc["aws"]["table_name"], table.as_str());
        assert_eq!(doc["aws"]["region"], "us-east-1");
        assert!(
            doc["aws"]["request_id"]
                .as_str()
                .is_some_and(|id| !id.is_empty()),
            "{doc}"
        );
    }
    let operations: Vec<&str> = dynamo
        .iter()
        .filter_map(|d| d["aws"]["operation"].as_str())
        .collect();
    assert!(operations.contains(&"Query"), "{operations:?}");
    assert!(operations.contains(&"GetItem"), "{operations:?}");
}

#[tokio::test]
async fn a_local_endpoint_needs_no_credentials_or_region() {
    let runtime = RuntimeEmulator::start().await;
    let table = new_table().await;
    let process = FunctionProcess::spawn(
        "home-activities",
        &runtime.address(),
        &[
            ("CRUDDUR_TABLE_NAME", &table),
            ("AWS_ENDPOINT_URL_DYNAMODB", dynamo_local().endpoint()),
        ],
    );
    let outcome = runtime
        .invoke(&event_json("home-activities"), None, WAIT)
        .await
        .unwrap();
    let (status, body, _) = outcome.http();
    if status != 200 {
        for l in process.lines() {
            eprintln!("LINE {l}");
        }
    }
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body.as_array().map(Vec::len),
        Some(3),
        "created, seeded and read"
    );
}

#[tokio::test]
async fn a_missing_table_is_unavailable_until_it_exists() {
    let runtime = RuntimeEmulator::start().await;
    // A table named, not created.
    let store = dynamo_client_store(dynamo_local().endpoint());
    let table = store.table().to_owned();
    let _process = FunctionProcess::spawn(
        "home-activities",
        &runtime.address(),
        &[
            ("CRUDDUR_TABLE_NAME", &table),
            ("AWS_ENDPOINT_URL_DYNAMODB", dynamo_local().endpoint()),
        ],
    );
    let home = event_json("home-activities");
    let outcome = runtime.invoke(&home, None, WAIT).await.unwrap();
    let (status, body, _) = outcome.http();
    assert_eq!(status, 503, "{body}");
    assert_eq!(body, serde_json::json!(["service_unavailable"]));

    // The stack (here: the test) creates the table; the next request opens the store and seeds it.
    store.create_table().await.unwrap();
    let outcome = runtime.invoke(&home, None, WAIT).await.unwrap();
    let (status, body, _) = outcome.http();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body.as_array().map(Vec::len), Some(3));
}
