//! `POST /api/activities/{handle}/status/{uuid}/reply` `{message}`: the caller replies.

use cruddur_core::handlers::create_reply as handler;
use cruddur_core::{routes, Endpoint};

const ENDPOINT: Endpoint = routes::CREATE_REPLY;

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

    async fn replies_count(app: &TestApp) -> i64 {
        let shown =
            services::show_activity(app.store.as_ref(), Some("andrewbrown"), Some(FUN), None)
                .await
                .unwrap()
                .0;
        shown.activity.replies_count
    }

    #[tokio::test]
    async fn reply_is_stored_and_counted() {
        let app = TestApp::new().await;
        let res = app.call(ENDPOINT, handler, event("create-reply")).await;
        assert_eq!(res.status, 200, "{}", res.text);
        assert_eq!(res.body["message"], "Plain and simple: it is.");
        assert_eq!(res.body["handle"], "garek");
        assert_eq!(res.body["reply_to_activity_uuid"], FUN);
        assert_eq!(replies_count(&app).await, 2);
    }

    #[tokio::test]
    async fn works_without_path_parameters() {
        let app = TestApp::new().await;
        let res = app
            .call(ENDPOINT, handler, event_as_function_url("create-reply"))
            .await;
        // Function URL events carry no authorizer: the deployed stage refuses them.
        assert_eq!(res.status, 401);
        let local = cruddur_core::Config {
            stage: "local".into(),
            ..Default::default()
        };
        let app = TestApp::with_config(local).await;
        let res = app
            .call(ENDPOINT, handler, event_as_function_url("create-reply"))
            .await;
        assert_eq!(res.status, 200, "{}", res.text);
        assert_eq!(res.body["handle"], "andrewbrown");
    }

    #[tokio::test]
    async fn bad_input_table() {
        let app = TestApp::new().await;
        let cases = [
            ("{}", 422, json!(["message_blank"])),
            (r#"{"message":" "}"#, 422, json!(["message_blank"])),
            (
                &json!({"message": "ü".repeat(1025)}).to_string(),
                422,
                json!(["message_exceed_max_chars"]),
            ),
            ("{", 400, json!(["invalid_json"])),
            (r#"{"message":["a"]}"#, 400, json!(["invalid_json"])),
        ];
        for (body, status, codes) in cases {
            let res = app
                .call(ENDPOINT, handler, event_with_body("create-reply", body))
                .await;
            assert_eq!((res.status, &res.body), (status, &codes), "body {body:?}");
        }
        let res = app
            .call(ENDPOINT, handler, event("create-reply-bad-input"))
            .await;
        assert_eq!(
            (res.status, res.body),
            (422, json!(["message_exceed_max_chars"]))
        );
        assert_eq!(replies_count(&app).await, 1, "nothing written");
    }

    #[tokio::test]
    async fn parent_under_wrong_author_is_404() {
        let app = TestApp::new().await;
        let res = app
            .call(ENDPOINT, handler, event("create-reply-not-found"))
            .await;
        assert_eq!((res.status, res.body), (404, json!(["activity_not_found"])));
        assert_eq!(replies_count(&app).await, 1);
    }
}
