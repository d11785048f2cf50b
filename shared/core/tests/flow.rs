//! A user's journey across endpoints, through the operations the functions call.

use cruddur_core::domain::demo_cognito_sub;
use cruddur_core::services::{
    self, CreateActivityBody, CreateMessageBody, CreateReplyBody, ReplyTo,
};
use cruddur_core::testing::seeded_store;

#[tokio::test]
async fn post_reply_and_message() {
    let store = seeded_store().await;
    let store = store.as_ref();
    let bayko = store
        .user_by_cognito_sub(&demo_cognito_sub("bayko"))
        .await
        .unwrap()
        .unwrap();
    let worf = store.user_by_handle("worf").await.unwrap().unwrap();

    // Bayko posts: the activity leads the home feed and shows on his page.
    let body = CreateActivityBody {
        message: Some("Shipping Rust to Lambda today".into()),
        ttl: Some("3-hours".into()),
    };
    let posted = services::create_activity(store, &bayko, body)
        .await
        .unwrap();
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
    let replied = services::create_reply(store, &worf, to, reply)
        .await
        .unwrap();
    let shown = services::show_activity(store, Some("bayko"), Some(&uuid))
        .await
        .unwrap();
    assert_eq!(shown.activity.replies_count, 1);
    assert_eq!(shown.replies[0].uuid, replied.uuid);
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
    let sent = services::create_message(store, &bayko, message)
        .await
        .unwrap();
    for (user, other) in [(&bayko, "worf"), (&worf, "bayko")] {
        let groups = services::message_groups(store, user).await.unwrap();
        let group = groups
            .iter()
            .find(|g| g.handle == other)
            .expect("group listed");
        assert_eq!(Some(group.uuid), sent.message_group_uuid);
        assert_eq!(group.message, "Thanks for the review");
    }
    let conversation = services::messages(store, &worf, Some("bayko"))
        .await
        .unwrap();
    assert_eq!(conversation.len(), 1);
    // The frontend links a conversation by its group uuid: the same messages.
    let group = sent.message_group_uuid.unwrap().to_string();
    let by_group = services::messages(store, &worf, Some(&group))
        .await
        .unwrap();
    assert_eq!(by_group, conversation);
}
