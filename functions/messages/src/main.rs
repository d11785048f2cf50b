//! `GET /api/messages/{handle}`: the caller's conversation, oldest first, with a user
//! (`@handle`) or in a message group the caller is in (its uuid, as the frontend links it).

use cruddur_core::handlers::messages as handler;
use cruddur_core::{routes, Endpoint};

const ENDPOINT: Endpoint = routes::MESSAGES;

fn main() -> Result<(), cruddur_lambda::Error> {
    cruddur_lambda::serve(ENDPOINT, handler)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cruddur_core::testing::{event, event_with_path_param, event_with_query, TestApp};
    use serde_json::json;

    #[tokio::test]
    async fn conversation_oldest_first() {
        let app = TestApp::new().await;
        let res = app.call(ENDPOINT, handler, event("messages")).await;
        assert_eq!(res.status, 200, "{}", res.text);
        let messages = res.body.as_array().unwrap();
        let texts: Vec<_> = messages
            .iter()
            .map(|m| m["message"].as_str().unwrap())
            .collect();
        assert_eq!(texts, ["Cloud is fun!", "This platform is great!"]);
        assert_eq!(messages[0]["handle"], "andrewbrown");
        assert_eq!(messages[1]["handle"], "worf");
    }

    #[tokio::test]
    async fn a_group_uuid_names_the_same_conversation() {
        let app = TestApp::new().await;
        let by_handle = app.call(ENDPOINT, handler, event("messages")).await;
        let by_group = app
            .call(ENDPOINT, handler, event("messages-by-group"))
            .await;
        assert_eq!(by_group.status, 200, "{}", by_group.text);
        assert_eq!(by_group.body, by_handle.body);
    }

    #[tokio::test]
    async fn unknown_users_and_other_peoples_groups_are_not_found() {
        let app = TestApp::new().await;
        let res = app.call(ENDPOINT, handler, event("messages-unknown")).await;
        assert_eq!((res.status, res.body), (404, json!(["user_not_found"])));
        // garek asks for the conversation of andrewbrown and worf.
        let res = app
            .call(ENDPOINT, handler, event("messages-other-group"))
            .await;
        assert_eq!(
            (res.status, res.body),
            (404, json!(["message_group_not_found"]))
        );
        let res = app
            .call(
                ENDPOINT,
                handler,
                event_with_path_param("messages", "handle", &uuid::Uuid::new_v4().to_string()),
            )
            .await;
        assert_eq!(
            (res.status, res.body),
            (404, json!(["message_group_not_found"]))
        );
        let res = app
            .call(
                ENDPOINT,
                handler,
                event_with_path_param("messages", "handle", "@wörf"),
            )
            .await;
        assert_eq!(
            (res.status, res.body),
            (404, json!(["user_not_found"])),
            "a handle that cannot exist is an unknown user"
        );
    }

    /// A long conversation: the first page is the newest 20 messages, oldest first (what a
    /// person opening it wants to see); the cursor leads to older ones.
    #[tokio::test]
    async fn a_long_conversation_opens_on_its_newest_messages() {
        let app = TestApp::new().await;
        let store = app.store.as_ref();
        let andrew = store.user_by_handle("andrewbrown").await.unwrap().unwrap();
        let worf = store.user_by_handle("worf").await.unwrap().unwrap();
        let start = chrono::Utc::now();
        for i in 0..25 {
            let message = cruddur_core::testing::NewMessage {
                uuid: uuid::Uuid::new_v4(),
                message: format!("message {i}"),
                created_at: start + chrono::Duration::milliseconds(i),
            };
            store.create_message(&worf, &andrew, message).await.unwrap();
        }
        let first = app.call(ENDPOINT, handler, event("messages")).await;
        let texts = |body: &serde_json::Value| -> Vec<String> {
            body.as_array()
                .unwrap()
                .iter()
                .map(|m| m["message"].as_str().unwrap().to_owned())
                .collect()
        };
        let newest: Vec<String> = (5..25).map(|i| format!("message {i}")).collect();
        assert_eq!(texts(&first.body), newest);
        let cursor = first.headers["x-next-cursor"].to_str().unwrap();
        let older = app
            .call(
                ENDPOINT,
                handler,
                event_with_query("messages", &[("cursor", cursor)]),
            )
            .await;
        assert_eq!(older.status, 200, "{}", older.text);
        let mut expected = vec![
            "Cloud is fun!".to_owned(),
            "This platform is great!".to_owned(),
        ];
        expected.extend((0..5).map(|i| format!("message {i}")));
        assert_eq!(texts(&older.body), expected);
        assert!(older.headers.get("x-next-cursor").is_none());
    }
}
