//! `POST /api/activities` `{message, ttl}`: the caller posts a crud.

use cruddur_core::{routes, services, ApiError, Ctx, Endpoint, Reply};

const ENDPOINT: Endpoint = routes::CREATE_ACTIVITY;

async fn handler(ctx: Ctx) -> Result<Reply, ApiError> {
    let caller = ctx.caller()?;
    let body = ctx.json()?;
    let activity = services::create_activity(ctx.store(), caller, body).await?;
    Ok(Reply::json(&activity))
}

#[tokio::main]
async fn main() -> Result<(), cruddur_lambda::Error> {
    cruddur_lambda::serve(ENDPOINT, handler).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use cruddur_core::testing::{event, event_with_body, TestApp};
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
}
