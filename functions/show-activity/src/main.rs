//! `GET /api/activities/{handle}/status/{uuid}`: an activity and its replies, oldest reply first.

use cruddur_core::handlers::show_activity as handler;
use cruddur_core::{routes, Endpoint};

const ENDPOINT: Endpoint = routes::SHOW_ACTIVITY;

fn main() -> Result<(), cruddur_lambda::Error> {
    cruddur_lambda::serve(ENDPOINT, handler)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cruddur_core::testing::{
        event, event_as_function_url, event_json, event_with_query, request, TestApp,
    };
    use serde_json::json;

    #[tokio::test]
    async fn shows_activity_with_replies() {
        let app = TestApp::new().await;
        for req in [
            event("show-activity"),
            event_as_function_url("show-activity"),
        ] {
            let res = app.call(ENDPOINT, handler, req).await;
            assert_eq!(res.status, 200, "{}", res.text);
            assert_eq!(res.body["activity"]["message"], "Cloud is very fun!");
            assert_eq!(res.body["activity"]["replies_count"], 1);
            let replies = res.body["replies"].as_array().unwrap();
            assert_eq!(replies.len(), 1);
            assert_eq!(replies[0]["message"], "This post has no honor!");
            assert_eq!(
                replies[0]["reply_to_activity_uuid"],
                "68f126b0-1ceb-4a33-88be-d90fa7109eee"
            );
        }
    }

    #[tokio::test]
    async fn handle_without_at_is_accepted() {
        let app = TestApp::new().await;
        let mut ev = event_json("show-activity");
        ev["pathParameters"]["handle"] = json!("andrewbrown");
        let res = app.call(ENDPOINT, handler, request(&ev)).await;
        assert_eq!(res.status, 200, "{}", res.text);
    }

    #[tokio::test]
    async fn wrong_author_unknown_and_malformed() {
        let app = TestApp::new().await;
        let res = app
            .call(ENDPOINT, handler, event("show-activity-not-found"))
            .await;
        assert_eq!((res.status, res.body), (404, json!(["activity_not_found"])));
        let res = app
            .call(ENDPOINT, handler, event("show-activity-bad-input"))
            .await;
        assert_eq!(
            (res.status, res.body),
            (422, json!(["activity_uuid_invalid"]))
        );
        let mut ev = event_json("show-activity");
        ev["pathParameters"] = json!({"handle": "@", "uuid": "nope"});
        let res = app.call(ENDPOINT, handler, request(&ev)).await;
        assert_eq!(
            (res.status, res.body),
            (422, json!(["blank_user_handle", "activity_uuid_invalid"]))
        );
        ev["pathParameters"] = json!({"handle": "@no_such_user_at_all", "uuid": "nope"});
        let res = app.call(ENDPOINT, handler, request(&ev)).await;
        assert_eq!(
            (res.status, res.body),
            (404, json!(["activity_not_found"])),
            "nothing is under a handle that cannot exist"
        );
        ev["pathParameters"] =
            json!({"handle": "@andrewbrown", "uuid": "00000000-0000-4000-8000-000000000000"});
        let res = app.call(ENDPOINT, handler, request(&ev)).await;
        assert_eq!((res.status, res.body), (404, json!(["activity_not_found"])));
    }

    /// A popular thread: the first page is its 20 oldest replies, the cursor leads on.
    #[tokio::test]
    async fn replies_come_a_page_at_a_time_oldest_first() {
        let app = TestApp::new().await;
        let store = app.store.as_ref();
        let fun = "68f126b0-1ceb-4a33-88be-d90fa7109eee".parse().unwrap();
        let parent = store.activity(fun).await.unwrap().unwrap();
        let garek = store.user_by_handle("garek").await.unwrap().unwrap();
        let start = chrono::Utc::now();
        for i in 0..25 {
            let reply = cruddur_core::testing::NewActivity {
                uuid: uuid::Uuid::new_v4(),
                message: format!("reply {i}"),
                created_at: start + chrono::Duration::milliseconds(i),
                expires_at: parent.expires_at,
            };
            store.create_reply(&garek, &parent, reply).await.unwrap();
        }
        let first = app.call(ENDPOINT, handler, event("show-activity")).await;
        let replies = first.body["replies"].as_array().unwrap();
        assert_eq!(replies.len(), 20);
        assert_eq!(replies[0]["message"], "This post has no honor!");
        assert_eq!(replies[19]["message"], "reply 18");
        assert_eq!(first.body["activity"]["replies_count"], 26);
        let cursor = first.headers["x-next-cursor"].to_str().unwrap();
        let second = app
            .call(
                ENDPOINT,
                handler,
                event_with_query("show-activity", &[("cursor", cursor)]),
            )
            .await;
        assert_eq!(second.status, 200, "{}", second.text);
        let replies = second.body["replies"].as_array().unwrap();
        let texts: Vec<_> = replies
            .iter()
            .map(|r| r["message"].as_str().unwrap())
            .collect();
        assert_eq!(
            texts,
            ["reply 19", "reply 20", "reply 21", "reply 22", "reply 23", "reply 24"]
        );
        assert!(second.headers.get("x-next-cursor").is_none());
    }
}
