//! `GET /api/message_groups`: the caller's conversations, newest first.

use cruddur_core::{routes, services, ApiError, Ctx, Endpoint, Reply};

const ENDPOINT: Endpoint = routes::MESSAGE_GROUPS;

async fn handler(ctx: Ctx) -> Result<Reply, ApiError> {
    let caller = ctx.caller()?;
    Ok(Reply::json(
        &services::message_groups(ctx.store(), caller).await?,
    ))
}

#[tokio::main]
async fn main() -> Result<(), cruddur_lambda::Error> {
    cruddur_lambda::serve(ENDPOINT, handler).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use cruddur_core::testing::{event, TestApp};

    #[tokio::test]
    async fn lists_the_other_party_and_last_message() {
        let app = TestApp::new().await;
        let res = app.call(ENDPOINT, handler, event("message-groups")).await;
        assert_eq!(res.status, 200, "{}", res.text);
        let groups = res.body.as_array().unwrap();
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0]["handle"], "worf");
        assert_eq!(groups[0]["display_name"], "Worf");
        assert_eq!(groups[0]["message"], "This platform is great!");
        assert!(groups[0]["uuid"].is_string());
        assert!(groups[0]["created_at"].is_string());
    }
}
