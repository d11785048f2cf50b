//! The DynamoDB store on the official DynamoDB Local: the same contract as SQLite, plus what only
//! a distributed store has to get right.

use std::sync::Arc;

use chrono::{Duration, Utc};
use cruddur_core::domain::{NewActivity, NewUser};
use cruddur_core::store::{PageRequest, Store, StoreError, UserCreation};
use cruddur_core::testing::{dynamo_store, seeded_dynamo_store};
use cruddur_testkit::dynamo_local;
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
async fn a_cursor_from_another_feed_is_invalid() {
    let store = seeded().await;
    let london = store.user_by_handle("londo").await.unwrap().unwrap();
    for i in 0..25 {
        let now = Utc::now() - Duration::seconds(i);
        store
            .create_activity(NewActivity {
                uuid: Uuid::new_v4(),
                user_uuid: london.uuid,
                message: format!("post {i}"),
                reply_to_activity_uuid: None,
                created_at: now,
                expires_at: now + Duration::hours(1),
            })
            .await
            .unwrap();
    }
    let home = store.home_feed(PageRequest::first()).await.unwrap();
    let cursor = home.next_cursor.expect("a second page");
    // The home feed's cursor does not address the user's feed.
    let result = store
        .user_activities(&london, PageRequest::after(Some(cursor)))
        .await;
    assert!(
        matches!(result, Err(StoreError::InvalidCursor)),
        "{result:?}"
    );
}

#[tokio::test]
async fn an_unreachable_table_is_unavailable() {
    let store = dynamo_store(dynamo_local().endpoint()).await;
    let missing = cruddur_core::store::DynamoStore::new(
        aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::Config::builder()
                .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
                .endpoint_url(dynamo_local().endpoint())
                .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
                .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                    "l", "l", None, None, "t",
                ))
                .build(),
        ),
        format!("{}-missing", store.table()),
        "us-east-1",
    );
    let result = missing.home_feed(PageRequest::first()).await;
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{result:?}"
    );
}
