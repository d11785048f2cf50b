//! `cruddur-store create-table` against DynamoDB Local: the table the functions expect, created
//! once, and a clear failure where there is no DynamoDB.

use std::process::{Command, Output};

use aws_sdk_dynamodb::types::TimeToLiveStatus;
use cruddur_core::testing::dynamo_client;
use cruddur_core::{DynamoStore, Store};
use lambda_testkit::dynamo_local;

fn create_table(endpoint: &str, table: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cruddur-store"))
        .args(["create-table", "--table", table])
        .env_clear()
        .env("AWS_ENDPOINT_URL_DYNAMODB", endpoint)
        .output()
        .expect("run cruddur-store")
}

#[tokio::test]
async fn creates_the_table_the_functions_use_and_leaves_an_existing_one_alone() {
    let endpoint = dynamo_local().endpoint();
    let table = format!("cruddur-store-{}", uuid::Uuid::new_v4().simple());
    for run in 0..2 {
        let output = create_table(endpoint, &table);
        assert!(output.status.success(), "run {run}: {output:?}");
        assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            format!("table {table} is ready\n")
        );
    }

    let client = dynamo_client(endpoint);
    let described = client
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    let description = described.table().unwrap();
    let keys: Vec<_> = description
        .key_schema()
        .iter()
        .map(|key| key.attribute_name())
        .collect();
    assert_eq!(keys, ["pk", "sk"]);
    let mut indexes: Vec<_> = description
        .global_secondary_indexes()
        .iter()
        .filter_map(|index| index.index_name())
        .collect();
    indexes.sort();
    assert_eq!(indexes, ["gsi1", "gsi2"]);
    let ttl = client
        .describe_time_to_live()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    let ttl = ttl.time_to_live_description().unwrap();
    assert_eq!(ttl.time_to_live_status(), Some(&TimeToLiveStatus::Enabled));
    assert_eq!(ttl.attribute_name(), Some("ttl"));

    // The functions find the table and seed it: a store on it answers.
    let store = DynamoStore::new(client, table, "us-east-1");
    assert!(!store.is_seeded().await.unwrap());
}

#[test]
fn says_why_when_there_is_no_dynamodb() {
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let output = create_table(&format!("http://127.0.0.1:{port}"), "cruddur");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("cruddur-store: could not create table cruddur: store unavailable:"),
        "{stderr}"
    );
}
