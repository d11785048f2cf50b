//! `POST /api/activities` `{message, ttl}`: the caller posts a crud.

use cruddur_core::handlers::create_activity as handler;
use cruddur_core::{routes, Endpoint};

const ENDPOINT: Endpoint = routes::CREATE_ACTIVITY;

fn main() -> Result<(), cruddur_lambda::Error> {
    cruddur_lambda::serve(ENDPOINT, handler)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cruddur_core::testing::{event, event_with_body, event_with_header, request, TestApp};
    use serde_json::json;

    #[tokio::test]
    async fn creates_an_activity_that_expires_after_its_ttl() {
        let app = TestApp::new().await;
        let res = app.call(ENDPOINT, handler, event("create-activity")).await;
        assert_eq!(res.status, 200, "{}", res.text);
        assert_eq!(res.body["message"], "Rust on Lambda is very fun!");
        assert_eq!(res.body["handle"], "andrewbrown");
        assert_eq!(res.body["replies_count"], 0);
        let created =
            chrono::DateTime::parse_from_rfc3339(res.body["created_at"].as_str().unwrap()).unwrap();
        let expires =
            chrono::DateTime::parse_from_rfc3339(res.body["expires_at"].as_str().unwrap()).unwrap();
        assert_eq!(expires - created, chrono::Duration::days(7));
    }

    #[tokio::test]
    async fn bad_input_reports_every_failing_check() {
        let app = TestApp::new().await;
        let long = "🦀".repeat(281);
        let cases = [
            ("{}", 422, json!(["message_blank", "ttl_blank"])),
            (
                r#"{"message":"","ttl":"2-days"}"#,
                422,
                json!(["message_blank", "ttl_invalid"]),
            ),
            (
                r#"{"message":"   ","ttl":" "}"#,
                422,
                json!(["message_blank", "ttl_blank"]),
            ),
            (
                &format!(r#"{{"message":"{long}","ttl":"1-hour"}}"#),
                422,
                json!(["message_exceed_max_chars"]),
            ),
            (r#"{"message":"hi"}"#, 422, json!(["ttl_blank"])),
            (r#"{"message":"unterminated"#, 400, json!(["invalid_json"])),
            ("[1,2,3]", 400, json!(["invalid_json"])),
            (
                r#"{"message":5,"ttl":"1-hour"}"#,
                400,
                json!(["invalid_json"]),
            ),
            ("", 400, json!(["invalid_json"])),
            ("null", 400, json!(["invalid_json"])),
        ];
        for (body, status, codes) in cases {
            let res = app
                .call(ENDPOINT, handler, event_with_body("create-activity", body))
                .await;
            assert_eq!((res.status, &res.body), (status, &codes), "body {body:?}");
        }
        let res = app
            .call(ENDPOINT, handler, event("create-activity-bad-input"))
            .await;
        assert_eq!(
            (res.status, res.body),
            (422, json!(["message_blank", "ttl_invalid"]))
        );
        let res = app
            .call(ENDPOINT, handler, event("create-activity-invalid-json"))
            .await;
        assert_eq!((res.status, res.body), (400, json!(["invalid_json"])));
    }

    #[tokio::test]
    async fn exactly_280_characters_is_allowed() {
        let app = TestApp::new().await;
        let body = json!({"message": "é".repeat(280), "ttl": "1-day"}).to_string();
        let res = app
            .call(ENDPOINT, handler, event_with_body("create-activity", &body))
            .await;
        assert_eq!(res.status, 200, "{}", res.text);
    }

    /// The React app's double submit, or a retry after a timeout: with the same
    /// `Idempotency-Key`, one activity, and the repeat answered with it.
    #[tokio::test]
    async fn a_repeat_with_the_same_idempotency_key_is_the_first_activity() {
        let app = TestApp::new().await;
        let keyed = event_with_header("create-activity", "Idempotency-Key", "\"retry-1\"");
        let first = app.call(ENDPOINT, handler, request(&keyed)).await;
        let again = app.call(ENDPOINT, handler, request(&keyed)).await;
        assert_eq!((first.status, again.status), (200, 200), "{}", again.text);
        assert_eq!(first.body, again.body);
        assert!(first.headers.get("idempotent-replayed").is_none());
        assert_eq!(again.headers["idempotent-replayed"], "true");
        let andrew = app
            .store
            .user_by_handle("andrewbrown")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            app.store.cruds_count(&andrew).await.unwrap(),
            2,
            "one new activity"
        );

        let mut other = keyed.clone();
        other["body"] = json!({"message": "Something else", "ttl": "1-day"})
            .to_string()
            .into();
        let res = app.call(ENDPOINT, handler, request(&other)).await;
        assert_eq!(
            (res.status, res.body),
            (422, json!(["idempotency_key_reused"]))
        );

        let res = app.call(ENDPOINT, handler, event("create-activity")).await;
        assert_eq!(res.status, 200, "no key: a new activity");
        assert_ne!(res.body["uuid"], first.body["uuid"]);
        assert_eq!(app.store.cruds_count(&andrew).await.unwrap(), 3);

        for bad in ["", "two words", &"k".repeat(256)] {
            let res = app
                .call(
                    ENDPOINT,
                    handler,
                    request(&event_with_header(
                        "create-activity",
                        "Idempotency-Key",
                        bad,
                    )),
                )
                .await;
            assert_eq!(
                (res.status, &res.body),
                (400, &json!(["idempotency_key_invalid"])),
                "{bad:?}"
            );
        }
        assert_eq!(app.store.cruds_count(&andrew).await.unwrap(), 3);
    }
}
