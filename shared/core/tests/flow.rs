//! A user's journey across endpoints, through the operations the functions call, on both stores;
//! and retried creates with and without an `Idempotency-Key`.

use cruddur_core::testing::services::{
    self, CreateActivityBody, CreateMessageBody, CreateReplyBody, ReplyTo,
};
use cruddur_core::testing::{demo_cognito_sub, IdempotencyKey, User};
use cruddur_core::testing::{seeded_dynamo_store, seeded_store};
use cruddur_core::ApiError;
use cruddur_core::Store;
use lambda_testkit::dynamo_local;

async fn users(store: &dyn Store) -> (User, User) {
    let bayko = store
        .user_by_cognito_sub(&demo_cognito_sub("bayko"))
        .await
        .unwrap()
        .unwrap();
    let worf = store.user_by_handle("worf").await.unwrap().unwrap();
    (bayko, worf)
}

async fn post_reply_and_message(store: &dyn Store) {
    let (bayko, worf) = users(store).await;

    // Bayko posts: the activity leads the home feed and shows on his page.
    let body = CreateActivityBody {
        message: Some("Shipping Rust to Lambda today".into()),
        ttl: Some("3-hours".into()),
    };
    let posted = services::create_activity(store, &bayko, body, None)
        .await
        .unwrap();
    assert!(!posted.replayed);
    let posted = posted.value;
    let home = services::home_activities(store, None).await.unwrap();
    assert_eq!(home.items[0].uuid, posted.uuid);
    let (page, _) = services::user_activities(store, Some("@bayko"), None)
        .await
        .unwrap();
    assert_eq!(page.profile.cruds_count, 1);
    assert_eq!(page.activities[0].message, "Shipping Rust to Lambda today");

    // Worf replies: the count goes up, the reply shows under the activity and notifies Bayko.
    let reply = CreateReplyBody {
        message: Some("Today is a good day to deploy.".into()),
        activity_uuid: None,
    };
    let uuid = posted.uuid.to_string();
    let to = ReplyTo::UnderAuthor {
        handle: Some("@bayko"),
        uuid: Some(&uuid),
    };
    let replied = services::create_reply(store, &worf, to, reply, None)
        .await
        .unwrap()
        .value;
    let (shown, next) = services::show_activity(store, Some("bayko"), Some(&uuid), None)
        .await
        .unwrap();
    assert_eq!(shown.activity.replies_count, 1);
    assert_eq!(shown.replies[0].uuid, replied.uuid);
    assert_eq!(next, None);
    assert_eq!(
        replied.expires_at, posted.expires_at,
        "a reply lives as long as its thread"
    );
    let notes = services::notifications(store, &bayko, None).await.unwrap();
    assert_eq!(notes.items[0].uuid, replied.uuid);

    // Bayko messages Worf: the conversation appears in both users' groups.
    let message = CreateMessageBody {
        user_receiver_handle: Some("@worf".into()),
        message: Some("Thanks for the review".into()),
        ..Default::default()
    };
    let sent = services::create_message(store, &bayko, message, None)
        .await
        .unwrap()
        .value;
    for (user, other) in [(&bayko, "worf"), (&worf, "bayko")] {
        let groups = services::message_groups(store, user, None).await.unwrap();
        let group = groups
            .items
            .iter()
            .find(|g| g.handle == other)
            .expect("group listed");
        assert_eq!(Some(group.uuid), sent.message_group_uuid);
        assert_eq!(group.message, "Thanks for the review");
    }
    let conversation = services::messages(store, &worf, Some("bayko"), None)
        .await
        .unwrap();
    assert_eq!(conversation.items.len(), 1);
    // The frontend links a conversation by its group uuid: the same messages.
    let group = sent.message_group_uuid.unwrap().to_string();
    let by_group = services::messages(store, &worf, Some(&group), None)
        .await
        .unwrap();
    assert_eq!(by_group, conversation);
}

fn key(text: &str) -> IdempotencyKey {
    IdempotencyKey::parse(text.as_bytes()).unwrap()
}

fn activity_body(message: &str) -> CreateActivityBody {
    CreateActivityBody {
        message: Some(message.into()),
        ttl: Some("1-day".into()),
    }
}

fn reused(result: Result<impl std::fmt::Debug, ApiError>) {
    match result {
        Err(ApiError::Validation(codes)) => assert_eq!(codes, ["idempotency_key_reused"]),
        other => panic!("{other:?}"),
    }
}

/// A client that retries a POST: without a key every attempt is a new item (as before); with the
/// same key the repeat returns the first result and writes nothing; the same key with another
/// body is refused; the same key from another caller or for another kind of create is its own.
async fn retried_creates(store: &dyn Store) {
    let (bayko, worf) = users(store).await;
    let count = |user: User| async move {
        services::user_activities(store, Some(&user.handle), None)
            .await
            .unwrap()
            .0
            .profile
            .cruds_count
    };

    // Without a key: two activities.
    let first = services::create_activity(store, &bayko, activity_body("double submit"), None)
        .await
        .unwrap();
    let second = services::create_activity(store, &bayko, activity_body("double submit"), None)
        .await
        .unwrap();
    assert_ne!(first.value.uuid, second.value.uuid);
    assert_eq!(count(bayko.clone()).await, 2);

    // With a key: one activity, the repeat answered with it.
    let k = key("\"8e03978e-40d5-43e8-bc93-6894a57f9324\"");
    let first = services::create_activity(store, &bayko, activity_body("once"), Some(&k))
        .await
        .unwrap();
    let repeat = services::create_activity(store, &bayko, activity_body("once"), Some(&k))
        .await
        .unwrap();
    assert!(!first.replayed && repeat.replayed);
    assert_eq!(repeat.value, first.value);
    assert_eq!(count(bayko.clone()).await, 3, "counted once");
    let home = services::home_activities(store, None).await.unwrap();
    assert_eq!(home.items.iter().filter(|a| a.message == "once").count(), 1);
    // The bare form of the same key is the same key.
    let bare = key("8e03978e-40d5-43e8-bc93-6894a57f9324");
    let again = services::create_activity(store, &bayko, activity_body("once"), Some(&bare))
        .await
        .unwrap();
    assert_eq!(again.value.uuid, first.value.uuid);
    // The same key with another body.
    reused(services::create_activity(store, &bayko, activity_body("twice"), Some(&k)).await);
    // Another caller's key is another key.
    let worfs = services::create_activity(store, &worf, activity_body("once"), Some(&k))
        .await
        .unwrap();
    assert!(!worfs.replayed);
    assert_ne!(worfs.value.uuid, first.value.uuid);

    // Replies: a repeat is one reply, counted once.
    let uuid = first.value.uuid.to_string();
    let reply = |message: &str| CreateReplyBody {
        message: Some(message.into()),
        activity_uuid: None,
    };
    let to = ReplyTo::Activity { uuid: Some(&uuid) };
    let r1 = services::create_reply(store, &worf, to, reply("Qapla'"), Some(&k))
        .await
        .unwrap();
    let r2 = services::create_reply(store, &worf, to, reply("Qapla'"), Some(&k))
        .await
        .unwrap();
    assert!(r2.replayed);
    assert_eq!(r1.value, r2.value);
    reused(services::create_reply(store, &worf, to, reply("Other"), Some(&k)).await);
    let (shown, _) = services::show_activity(store, Some("bayko"), Some(&uuid), None)
        .await
        .unwrap();
    assert_eq!(shown.activity.replies_count, 1);
    assert_eq!(shown.replies.len(), 1);

    // Messages: a repeat is one message.
    let message = |text: &str| CreateMessageBody {
        handle: Some("worf".into()),
        message: Some(text.into()),
        ..Default::default()
    };
    let m1 = services::create_message(store, &bayko, message("ping"), Some(&k))
        .await
        .unwrap();
    let m2 = services::create_message(store, &bayko, message("ping"), Some(&k))
        .await
        .unwrap();
    assert!(m2.replayed);
    assert_eq!(m1.value, m2.value);
    reused(services::create_message(store, &bayko, message("pong"), Some(&k)).await);
    let conversation = services::messages(store, &bayko, Some("worf"), None)
        .await
        .unwrap();
    assert_eq!(conversation.items.len(), 1);
}

#[tokio::test]
async fn journey_on_sqlite() {
    post_reply_and_message(seeded_store().await.as_ref()).await;
}

#[tokio::test]
async fn journey_on_dynamodb() {
    post_reply_and_message(
        seeded_dynamo_store(dynamo_local().endpoint())
            .await
            .as_ref(),
    )
    .await;
}

#[tokio::test]
async fn retried_creates_on_sqlite() {
    retried_creates(seeded_store().await.as_ref()).await;
}

#[tokio::test]
async fn retried_creates_on_dynamodb() {
    retried_creates(
        seeded_dynamo_store(dynamo_local().endpoint())
            .await
            .as_ref(),
    )
    .await;
}

#[test]
fn idempotency_keys_are_checked() {
    for good in [
        "a",
        "\"abc\"",
        " 8e03978e-40d5-43e8-bc93-6894a57f9324 ",
        &"k".repeat(255),
    ] {
        assert!(IdempotencyKey::parse(good.as_bytes()).is_ok(), "{good}");
    }
    for bad in [
        "",
        "\"\"",
        "two words",
        "naïve",
        &"k".repeat(256),
        "a\"b",
        "\u{0}",
    ] {
        assert_eq!(
            IdempotencyKey::parse(bad.as_bytes()),
            Err("idempotency_key_invalid"),
            "{bad:?}"
        );
    }
    assert!(IdempotencyKey::parse(&[0xff, 0xfe]).is_err());
    let k = key("same");
    let caller = uuid::Uuid::new_v4();
    assert_eq!(
        k.uuid_for("activity", caller),
        k.uuid_for("activity", caller)
    );
    assert_ne!(
        k.uuid_for("activity", caller),
        k.uuid_for("message", caller)
    );
    assert_ne!(
        k.uuid_for("activity", caller),
        k.uuid_for("activity", uuid::Uuid::new_v4())
    );
}
