//! `GET /api/message_groups`: the caller's conversations, newest first.

use cruddur_core::handlers::message_groups as handler;
use cruddur_core::{routes, Endpoint};

const ENDPOINT: Endpoint = routes::MESSAGE_GROUPS;

fn main() -> Result<(), cruddur_lambda::Error> {
    cruddur_lambda::serve(ENDPOINT, handler)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cruddur_core::testing::{event, event_with_query, TestApp};

    #[tokio::test]
    async fn lists_the_other_party_and_last_message() {
        let app = TestApp::new().await;
        let res = app.call(ENDPOINT, handler, event("message-groups")).await;
        assert_eq!(res.status, 200, "{}", res.text);
        let groups = res.body.as_array().unwrap();
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0]["handle"], "worf");
        assert_eq!(groups[0]["display_name"], "Worf");
        assert_eq!(groups[0]["message"], "This platform is great!");
        assert!(groups[0]["uuid"].is_string());
        assert!(groups[0]["created_at"].is_string());
    }

    /// Many conversations: a page of 20, most recent first, and a cursor to the rest.
    #[tokio::test]
    async fn conversations_come_a_page_at_a_time_by_latest_message() {
        let app = TestApp::new().await;
        let store = app.store.as_ref();
        let andrew = store.user_by_handle("andrewbrown").await.unwrap().unwrap();
        let start = chrono::Utc::now();
        for i in 0..22 {
            let created = store
                .create_user(cruddur_core::testing::NewUser {
                    uuid: uuid::Uuid::new_v4(),
                    handle: format!("friend_{i}"),
                    display_name: format!("Friend {i}"),
                    email: None,
                    bio: None,
                    cognito_user_id: format!("sub-friend-{i}"),
                    created_at: start,
                })
                .await
                .unwrap();
            let (cruddur_core::testing::UserCreation::Created(friend)
            | cruddur_core::testing::UserCreation::AlreadyExists(friend)) = created;
            let message = cruddur_core::testing::NewMessage {
                uuid: uuid::Uuid::new_v4(),
                message: format!("hello from {i}"),
                created_at: start + chrono::Duration::milliseconds(i),
            };
            store
                .create_message(&friend, &andrew, message)
                .await
                .unwrap();
        }
        let first = app.call(ENDPOINT, handler, event("message-groups")).await;
        let groups = first.body.as_array().unwrap();
        assert_eq!(groups.len(), 20);
        assert_eq!(groups[0]["handle"], "friend_21");
        assert_eq!(groups[0]["message"], "hello from 21");
        let cursor = first.headers["x-next-cursor"].to_str().unwrap();
        let rest = app
            .call(
                ENDPOINT,
                handler,
                event_with_query("message-groups", &[("cursor", cursor)]),
            )
            .await;
        let handles: Vec<_> = rest
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["handle"].as_str().unwrap())
            .collect();
        assert_eq!(handles, ["friend_1", "friend_0", "worf"]);
        assert!(rest.headers.get("x-next-cursor").is_none());
    }
}
