//! `POST /api/activities/{uuid}/reply` `{message, activity_uuid}`: the caller replies to an
//! activity named by its uuid alone, as the Cruddur frontend does. On API Gateway the route is
//! `/api/activities/{handle}/reply`: its `{handle}` carries the uuid (see `routes`).

use cruddur_core::handlers::create_reply_by_uuid as handler;
use cruddur_core::{routes, Endpoint};

const ENDPOINT: Endpoint = routes::CREATE_REPLY_BY_UUID;

fn main() -> Result<(), cruddur_lambda::Error> {
    cruddur_lambda::serve(ENDPOINT, handler)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cruddur_core::testing::services;
    use cruddur_core::testing::{event, event_as_function_url, event_with_body, TestApp};
    use serde_json::json;

    const FUN: &str = "68f126b0-1ceb-4a33-88be-d90fa7109eee";

    async fn replies(app: &TestApp) -> Vec<String> {
        let shown =
            services::show_activity(app.store.as_ref(), Some("andrewbrown"), Some(FUN), None)
                .await
                .unwrap()
                .0;
        assert_eq!(shown.activity.replies_count as usize, shown.replies.len());
        shown.replies.into_iter().map(|r| r.message).collect()
    }

    #[tokio::test]
    async fn replies_by_uuid_as_the_frontend_sends_it() {
        let app = TestApp::new().await;
        for req in [
            event("create-reply-by-uuid"),
            event_as_function_url("create-reply-by-uuid"),
        ] {
            let local = cruddur_core::Config {
                stage: "local".into(),
                local_user: "garek".into(),
                ..Default::default()
            };
            let app = TestApp::with_config(local).await;
            let res = app.call(ENDPOINT, handler, req).await;
            assert_eq!(res.status, 200, "{}", res.text);
            assert_eq!(res.body["handle"], "garek");
            assert_eq!(res.body["reply_to_activity_uuid"], FUN);
            assert_eq!(res.body["message"], "Simple, yes. Plain, never.");
            assert_eq!(
                replies(&app).await,
                ["This post has no honor!", "Simple, yes. Plain, never."]
            );
        }
        let res = app
            .call(ENDPOINT, handler, event("create-reply-by-uuid"))
            .await;
        assert_eq!(res.status, 200, "{}", res.text);
    }

    #[tokio::test]
    async fn bad_input_writes_nothing() {
        let app = TestApp::new().await;
        let other = "248959df-3079-4947-b847-9e0892d1bab4";
        let cases = [
            (json!({}), 422, json!(["message_blank"])),
            (
                json!({"message": "\u{200b}", "activity_uuid": other}),
                422,
                json!(["message_blank", "activity_uuid_mismatch"]),
            ),
            (
                json!({"message": "é".repeat(1025)}),
                422,
                json!(["message_exceed_max_chars"]),
            ),
            (json!(["hi", FUN]), 400, json!(["invalid_json"])),
        ];
        for (body, status, codes) in cases {
            let res = app
                .call(
                    ENDPOINT,
                    handler,
                    event_with_body("create-reply-by-uuid", &body.to_string()),
                )
                .await;
            assert_eq!((res.status, &res.body), (status, &codes), "body {body}");
        }
        let res = app
            .call(ENDPOINT, handler, event("create-reply-by-uuid-bad-input"))
            .await;
        assert_eq!(
            (res.status, res.body),
            (422, json!(["activity_uuid_invalid"]))
        );
        let res = app
            .call(ENDPOINT, handler, event("create-reply-by-uuid-not-found"))
            .await;
        assert_eq!((res.status, res.body), (404, json!(["activity_not_found"])));
        assert_eq!(replies(&app).await, ["This post has no honor!"]);
    }
}
