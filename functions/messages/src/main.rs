//! `GET /api/messages/{handle}`: the caller's conversation with a user, oldest first.

use cruddur_core::{routes, services, ApiError, Ctx, Reply, Route};

const ROUTE: Route = routes::MESSAGES;

async fn handler(ctx: Ctx) -> Result<Reply, ApiError> {
    let caller = ctx.caller().await?;
    Ok(Reply::json(
        &services::messages(ctx.store(), &caller, ctx.path_param("handle")).await?,
    ))
}

#[tokio::main]
async fn main() -> Result<(), cruddur_telemetry::Error> {
    cruddur_telemetry::run(cruddur_core::endpoint(ROUTE, handler)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use cruddur_core::testing::{event, TestApp};
    use serde_json::json;

    #[tokio::test]
    async fn conversation_oldest_first() {
        let app = TestApp::new().await;
        let res = app.call(ROUTE, handler, event("messages")).await;
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
    async fn unknown_user_and_no_identity() {
        let app = TestApp::new().await;
        let res = app.call(ROUTE, handler, event("messages-unknown")).await;
        assert_eq!((res.status, res.body), (404, json!(["user_not_found"])));
        let res = app
            .call(ROUTE, handler, event("messages-unauthenticated"))
            .await;
        assert_eq!((res.status, res.body), (401, json!(["unauthorized"])));
    }
}
