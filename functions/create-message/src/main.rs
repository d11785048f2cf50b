//! `POST /api/messages` `{user_receiver_handle, message}`: the caller sends a direct message.

use cruddur_core::{routes, services, ApiError, Ctx, Reply, Route};

const ROUTE: Route = routes::CREATE_MESSAGE;

async fn handler(ctx: Ctx) -> Result<Reply, ApiError> {
    let caller = ctx.caller().await?;
    let body = ctx.json()?;
    Ok(Reply::json(
        &services::create_message(ctx.store(), &caller, body).await?,
    ))
}

#[tokio::main]
async fn main() -> Result<(), cruddur_telemetry::Error> {
    cruddur_telemetry::run(cruddur_core::endpoint(ROUTE, handler)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use cruddur_core::testing::{event, event_with_body, TestApp};
    use serde_json::json;

    #[tokio::test]
    async fn message_reaches_both_users() {
        let app = TestApp::new().await;
        let res = app.call(ROUTE, handler, event("create-message")).await;
        assert_eq!(res.status, 200, "{}", res.text);
        assert_eq!(res.body["message"], "Qapla'! The deploy succeeded.");
        assert_eq!(res.body["handle"], "andrewbrown");
        let store = app.store.as_ref();
        let worf = store.user_by_handle("worf").await.unwrap().unwrap();
        let groups = services::message_groups(store, &worf).await.unwrap();
        assert_eq!(groups[0].handle, "andrewbrown");
        assert_eq!(groups[0].message, "Qapla'! The deploy succeeded.");
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
        ];
        for (body, status, codes) in cases {
            let res = app
                .call(ROUTE, handler, event_with_body("create-message", body))
                .await;
            assert_eq!((res.status, &res.body), (status, &codes), "body {body:?}");
        }
        let res = app
            .call(ROUTE, handler, event("create-message-bad-input"))
            .await;
        assert_eq!(
            (res.status, res.body),
            (422, json!(["user_receiver_handle_blank", "message_blank"]))
        );
        let res = app.call(ROUTE, handler, event("create-message-self")).await;
        assert_eq!(
            (res.status, res.body),
            (422, json!(["cannot_message_self"]))
        );
        let res = app
            .call(ROUTE, handler, event("create-message-unauthenticated"))
            .await;
        assert_eq!((res.status, res.body), (401, json!(["unauthorized"])));
    }
}
