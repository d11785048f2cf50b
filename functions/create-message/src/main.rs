//! `POST /api/messages` `{message}` and one target: `handle` (or `user_receiver_handle`) for a
//! conversation with a user, which answers with its `message_group_uuid`, or the
//! `message_group_uuid` of a conversation the caller is in.

use cruddur_core::handlers::create_message as handler;
use cruddur_core::{routes, Endpoint};

const ENDPOINT: Endpoint = routes::CREATE_MESSAGE;

fn main() -> Result<(), cruddur_lambda::Error> {
    cruddur_lambda::serve(ENDPOINT, handler)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cruddur_core::testing::services;
    use cruddur_core::testing::{event, event_with_body, TestApp};
    use serde_json::json;

    #[tokio::test]
    async fn message_reaches_both_users() {
        let app = TestApp::new().await;
        let res = app.call(ENDPOINT, handler, event("create-message")).await;
        assert_eq!(res.status, 200, "{}", res.text);
        assert_eq!(res.body["message"], "Qapla'! The deploy succeeded.");
        assert_eq!(res.body["handle"], "andrewbrown");
        // Addressed to a handle: the frontend opens the conversation.
        assert_eq!(res.body["message_group_uuid"], WORF_AND_ANDREW);
        let store = app.store.as_ref();
        let worf = store.user_by_handle("worf").await.unwrap().unwrap();
        let groups = services::message_groups(store, &worf, None)
            .await
            .unwrap()
            .items;
        assert_eq!(groups[0].handle, "andrewbrown");
        assert_eq!(groups[0].message, "Qapla'! The deploy succeeded.");
    }

    const WORF_AND_ANDREW: &str = "3ea990ac-e1a9-54ff-aa2a-bdf470cfcf0f";

    #[tokio::test]
    async fn every_way_the_frontend_names_a_conversation() {
        let app = TestApp::new().await;
        let res = app
            .call(ENDPOINT, handler, event("create-message-to-handle"))
            .await;
        assert_eq!(res.status, 200, "{}", res.text);
        assert_eq!(res.body["message_group_uuid"], WORF_AND_ANDREW);
        // Into the conversation on screen: no group uuid, so the frontend appends the message.
        let res = app
            .call(ENDPOINT, handler, event("create-message-to-group"))
            .await;
        assert_eq!(res.status, 200, "{}", res.text);
        assert_eq!(res.body["message"], "Today is a good day to deploy.");
        assert_eq!(res.body["handle"], "andrewbrown");
        assert!(res.body.get("message_group_uuid").is_none(), "{}", res.text);
        let store = app.store.as_ref();
        let worf = store.user_by_handle("worf").await.unwrap().unwrap();
        let groups = services::message_groups(store, &worf, None)
            .await
            .unwrap()
            .items;
        assert_eq!(groups.len(), 1, "still one conversation");
        let conversation = services::messages(store, &worf, Some(WORF_AND_ANDREW), None)
            .await
            .unwrap()
            .items;
        let texts: Vec<_> = conversation.iter().map(|m| m.message.as_str()).collect();
        assert_eq!(texts.len(), 4, "{texts:?}");
        assert!(texts.contains(&"Today is a good day to deploy."));
    }

    #[tokio::test]
    async fn a_group_the_caller_is_not_in_is_not_found_and_gets_nothing() {
        let app = TestApp::new().await;
        let res = app
            .call(ENDPOINT, handler, event("create-message-other-group"))
            .await;
        assert_eq!(
            (res.status, res.body),
            (404, json!(["message_group_not_found"]))
        );
        let store = app.store.as_ref();
        let worf = store.user_by_handle("worf").await.unwrap().unwrap();
        let groups = services::message_groups(store, &worf, None)
            .await
            .unwrap()
            .items;
        assert_eq!(groups[0].message, "This platform is great!", "nothing sent");
    }

    #[tokio::test]
    async fn bad_input_table() {
        let app = TestApp::new().await;
        let cases = [
            (
                "{}",
                422,
                json!(["user_receiver_handle_blank", "message_blank"]),
            ),
            (
                r#"{"user_receiver_handle":"@","message":"hi"}"#,
                422,
                json!(["user_receiver_handle_blank"]),
            ),
            (
                &json!({"user_receiver_handle": "worf", "message": "x".repeat(1025)}).to_string(),
                422,
                json!(["message_exceed_max_chars"]),
            ),
            (
                r#"{"user_receiver_handle":"andrewbrown","message":""}"#,
                422,
                json!(["message_blank", "cannot_message_self"]),
            ),
            (
                r#"{"user_receiver_handle":"nobody","message":"hi"}"#,
                404,
                json!(["user_not_found"]),
            ),
            ("not json", 400, json!(["invalid_json"])),
            (
                r#"{"handle":"worf","message_group_uuid":"3ea990ac-e1a9-54ff-aa2a-bdf470cfcf0f","message":"hi"}"#,
                422,
                json!(["message_target_ambiguous"]),
            ),
            (
                r#"{"handle":"worf","user_receiver_handle":"worf","message":"hi"}"#,
                422,
                json!(["message_target_ambiguous"]),
            ),
            (
                r#"{"message_group_uuid":"not-a-uuid","message":" "}"#,
                422,
                json!(["message_group_uuid_invalid", "message_blank"]),
            ),
            (
                r#"{"handle":"WO\u200bRF","message":"hi"}"#,
                422,
                json!(["user_handle_invalid"]),
            ),
            (r#"{"handle":"WORF","message":"hi"}"#, 200, json!(null)),
        ];
        for (body, status, codes) in cases {
            let res = app
                .call(ENDPOINT, handler, event_with_body("create-message", body))
                .await;
            if status == 200 {
                assert_eq!(res.status, 200, "body {body:?}: {}", res.text);
                continue;
            }
            assert_eq!((res.status, &res.body), (status, &codes), "body {body:?}");
        }
        let res = app
            .call(ENDPOINT, handler, event("create-message-bad-input"))
            .await;
        assert_eq!(
            (res.status, res.body),
            (422, json!(["user_receiver_handle_blank", "message_blank"]))
        );
        let res = app
            .call(ENDPOINT, handler, event("create-message-self"))
            .await;
        assert_eq!(
            (res.status, res.body),
            (422, json!(["cannot_message_self"]))
        );
    }
}
