//! The DynamoDB store on the official DynamoDB Local: the same contract as SQLite, plus what only
//! a distributed store has to get right.

use std::sync::Arc;

use chrono::{Duration, Utc};
use cruddur_core::testing::seed::{seed_demo_data, CLOUD_IS_FUN};
use cruddur_core::testing::{
    dynamo_client, dynamo_client_store, dynamo_store, seeded_dynamo_store,
};
use cruddur_core::testing::{NewActivity, NewUser};
use cruddur_core::testing::{PageRequest, UserCreation};
use cruddur_core::{Store, StoreError};
use lambda_testkit::dynamo_local;
use lambda_testkit::http::{HttpSink, SinkBehavior};
use uuid::Uuid;

async fn seeded() -> Arc<dyn Store> {
    seeded_dynamo_store(dynamo_local().endpoint()).await
}

cruddur_core::store_contract_tests!(seeded);

#[tokio::test]
async fn concurrent_sign_ups_for_one_handle_create_one_user() {
    let store = Arc::new(dynamo_store(dynamo_local().endpoint()).await);
    let attempts: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .create_user(NewUser {
                        uuid: Uuid::new_v4(),
                        handle: "contested".into(),
                        display_name: format!("Racer {i}"),
                        email: None,
                        bio: None,
                        cognito_user_id: format!("sub-{i}"),
                        created_at: Utc::now(),
                    })
                    .await
            })
        })
        .collect();
    let mut created = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(UserCreation::Created(_)) => created += 1,
            Err(StoreError::Conflict("user_handle_taken")) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(created, 1, "exactly one writer wins the handle");
    let winner = store.user_by_handle("contested").await.unwrap().unwrap();
    let sub = winner.cognito_user_id.clone().unwrap();
    assert_eq!(
        store.user_by_cognito_sub(&sub).await.unwrap().unwrap().uuid,
        winner.uuid
    );
}

#[tokio::test]
async fn replayed_confirmations_race_to_one_user() {
    let store = Arc::new(dynamo_store(dynamo_local().endpoint()).await);
    let attempts: Vec<_> = (0..6)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .create_user(NewUser {
                        uuid: Uuid::new_v4(),
                        handle: "replayed".into(),
                        display_name: "Replayed".into(),
                        email: None,
                        bio: None,
                        cognito_user_id: "same-sub".into(),
                        created_at: Utc::now(),
                    })
                    .await
            })
        })
        .collect();
    let mut uuids = Vec::new();
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(UserCreation::Created(user)) | Ok(UserCreation::AlreadyExists(user)) => {
                uuids.push(user.uuid)
            }
            // Lost the race on the handle before the winner's sub was visible: still one user.
            Err(StoreError::Conflict(_)) => {}
            Err(other) => panic!("{other:?}"),
        }
    }
    let user = store
        .user_by_cognito_sub("same-sub")
        .await
        .unwrap()
        .unwrap();
    assert!(uuids.iter().all(|u| *u == user.uuid));
}

#[tokio::test]
async fn an_unreachable_table_is_unavailable() {
    let store = dynamo_store(dynamo_local().endpoint()).await;
    let missing = cruddur_core::DynamoStore::new(
        dynamo_client(dynamo_local().endpoint()),
        format!("{}-missing", store.table()),
        "us-east-1",
    );
    let result = missing.home_feed(PageRequest::first()).await;
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{result:?}"
    );
}

fn new_activity(message: &str, created_at: chrono::DateTime<Utc>) -> NewActivity {
    NewActivity {
        uuid: Uuid::new_v4(),
        message: message.to_owned(),
        created_at,
        expires_at: created_at + Duration::days(1),
    }
}

/// Few shards holding many entries each: pages still merge into one newest-first order, and a
/// store with more shards than the writer reads every entry (raising the count is safe).
#[tokio::test]
async fn few_shards_with_many_entries_each_page_in_one_order() {
    let store = dynamo_store(dynamo_local().endpoint())
        .await
        .with_feed_shards(3);
    seed_demo_data(&store, Utc::now()).await.unwrap();
    let reader = cruddur_core::DynamoStore::new(
        dynamo_client(dynamo_local().endpoint()),
        store.table().to_owned(),
        "us-east-1",
    );
    let londo = store.user_by_handle("londo").await.unwrap().unwrap();
    let now = Utc::now();
    let mut expected = store.home_feed(PageRequest::first()).await.unwrap().items;
    for i in 0..57 {
        let at = now - Duration::milliseconds(i % 7);
        let created = store
            .create_activity(&londo, new_activity(&format!("post {i}"), at))
            .await
            .unwrap();
        expected.push(created);
    }
    expected.sort_by_key(|a| std::cmp::Reverse((a.created_at, a.uuid)));
    let expected: Vec<Uuid> = expected.iter().map(|a| a.uuid).collect();
    // The same table read with more shards than it was written with.
    for store in [store.with_feed_shards(3), reader.with_feed_shards(8)] {
        let mut seen = Vec::new();
        let mut page = PageRequest::first();
        loop {
            let result = store.home_feed(page.clone()).await.unwrap();
            seen.extend(result.items.iter().map(|a| a.uuid));
            match result.next_cursor {
                Some(cursor) => page.cursor = Some(cursor),
                None => break,
            }
        }
        assert_eq!(seen, expected);
    }
}

/// An item that does not decode (here: an activity whose message was removed outside Cruddur)
/// fails only the page that hands it out: the page before it reads it too (one item past the
/// page, to know that another follows) and is still served.
#[tokio::test]
async fn an_item_that_does_not_decode_fails_only_the_page_that_hands_it_out() {
    let store = dynamo_store(dynamo_local().endpoint())
        .await
        .with_feed_shards(1);
    seed_demo_data(&store, Utc::now()).await.unwrap();
    let londo = store.user_by_handle("londo").await.unwrap().unwrap();
    // Newer than the demo data: the oldest of these is the 21st in the feed, the item the first
    // page reads past its 20.
    let now = Utc::now();
    let mut broken = None;
    for i in 1..=21 {
        let created = store
            .create_activity(
                &londo,
                new_activity(&format!("post {i}"), now + Duration::seconds(i)),
            )
            .await
            .unwrap();
        broken.get_or_insert(created.uuid);
    }
    let broken = broken.unwrap().to_string();
    let client = dynamo_client(dynamo_local().endpoint());
    let found = client
        .scan()
        .table_name(store.table())
        .filter_expression("#uuid = :uuid AND attribute_exists(message)")
        .expression_attribute_names("#uuid", "uuid")
        .expression_attribute_values(
            ":uuid",
            aws_sdk_dynamodb::types::AttributeValue::S(broken.clone()),
        )
        .send()
        .await
        .unwrap();
    let items = found.items();
    assert!(!items.is_empty(), "the activity {broken} is stored");
    for item in items {
        client
            .update_item()
            .table_name(store.table())
            .key("pk", item["pk"].clone())
            .key("sk", item["sk"].clone())
            .update_expression("REMOVE message")
            .send()
            .await
            .unwrap();
    }

    let first = store.home_feed(PageRequest::first()).await.unwrap();
    assert_eq!(first.items.len(), 20);
    let cursor = first.next_cursor.expect("more pages follow");
    let second = store
        .home_feed(PageRequest {
            cursor: Some(cursor),
            ..PageRequest::first()
        })
        .await;
    match second {
        Err(StoreError::Unavailable(err)) => {
            assert!(err.to_string().contains("message"), "{err}")
        }
        other => panic!("expected the broken item to fail its page, got {other:?}"),
    }
}

/// Many writers replying to one activity at once: each transaction updates the parent's count,
/// so they contend; the store retries conflicts, and every reply that succeeded is counted and
/// listed exactly once.
#[tokio::test]
async fn concurrent_replies_to_one_activity_are_all_counted() {
    let store = seeded_dynamo_store(dynamo_local().endpoint()).await;
    let parent = store
        .activity(CLOUD_IS_FUN.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    let worf = store.user_by_handle("worf").await.unwrap().unwrap();
    let attempts: Vec<_> = (0..16)
        .map(|i| {
            let (store, parent, worf) = (store.clone(), parent.clone(), worf.clone());
            tokio::spawn(async move {
                let reply = NewActivity {
                    expires_at: parent.expires_at,
                    ..new_activity(&format!("reply {i}"), Utc::now())
                };
                store.create_reply(&worf, &parent, reply).await
            })
        })
        .collect();
    let mut succeeded = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(_) => succeeded += 1,
            // Retries ran out under contention: an honest 503, nothing half-written.
            Err(StoreError::Unavailable(_)) => {}
            Err(other) => panic!("{other:?}"),
        }
    }
    assert!(succeeded > 0);
    let (activity, replies) = store
        .activity_with_replies(parent.uuid, PageRequest::first())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(activity.replies_count, 1 + succeeded);
    assert_eq!(replies.items.len() as i64, 1 + succeeded);
}

/// A DynamoDB that cancels every transaction for conflicts: the store tries a bounded number of
/// times, then reports itself unavailable (503), having written nothing.
#[tokio::test]
async fn transactions_cancelled_by_conflicts_are_retried_then_unavailable() {
    let cancelled = serde_json::json!({
        "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
        "message": "Transaction cancelled, please refer cancellation reasons for specific reasons [None, TransactionConflict]",
        "CancellationReasons": [{"Code": "None"}, {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}]
    });
    let dynamo = HttpSink::with_behavior(SinkBehavior {
        status: 400,
        body: cancelled.to_string(),
        headers: vec![("content-type".into(), "application/x-amz-json-1.0".into())],
        ..Default::default()
    })
    .await;
    let store = dynamo_client_store(&dynamo.url());
    let author = cruddur_core::testing::User {
        uuid: Uuid::new_v4(),
        handle: "contended".into(),
        display_name: "Contended".into(),
        email: None,
        bio: None,
        cognito_user_id: None,
        created_at: Utc::now(),
    };
    let result = store
        .create_activity(&author, new_activity("hot", Utc::now()))
        .await;
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{result:?}"
    );
    let attempts = dynamo
        .requests()
        .iter()
        .filter(|r| r.header("x-amz-target") == Some("DynamoDB_20120810.TransactWriteItems"))
        .count();
    assert_eq!(attempts, 5, "bounded retries");
}
