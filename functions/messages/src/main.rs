//! `GET /api/messages/{handle}`: the caller's conversation, oldest first, with a user
//! (`@handle`) or in a message group the caller is in (its uuid, as the frontend links it).

use cruddur_core::{routes, services, ApiError, Ctx, Endpoint, Reply};

const ENDPOINT: Endpoint = routes::MESSAGES;

async fn handler(ctx: Ctx) -> Result<Reply, ApiError> {
    let caller = ctx.caller()?;
    Ok(Reply::json(
        &services::messages(ctx.store(), caller, ctx.path_param("handle")).await?,
    ))
}

#[tokio::main]
async fn main() -> Result<(), cruddur_lambda::Error> {
    cruddur_lambda::serve(ENDPOINT, handler).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use cruddur_core::testing::{event, event_with_path_param, TestApp};
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
            (422, json!(["user_handle_invalid"]))
        );
    }
}
