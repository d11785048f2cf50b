//! `GET /api/activities/{handle}/status/{uuid}`: an activity and its replies, oldest reply first.

use cruddur_core::{routes, services, ApiError, Ctx, Endpoint, Reply};

const ENDPOINT: Endpoint = routes::SHOW_ACTIVITY;

async fn handler(ctx: Ctx) -> Result<Reply, ApiError> {
    let shown = services::show_activity(
        ctx.store(),
        ctx.path_param("handle"),
        ctx.path_param("uuid"),
    )
    .await?;
    ctx.record_handle(&shown.activity.handle);
    Ok(Reply::json(&shown))
}

#[tokio::main]
async fn main() -> Result<(), cruddur_lambda::Error> {
    cruddur_lambda::serve(ENDPOINT, handler).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use cruddur_core::testing::{event, event_as_function_url, event_json, request, TestApp};
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
        ev["pathParameters"] =
            json!({"handle": "@andrewbrown", "uuid": "00000000-0000-4000-8000-000000000000"});
        let res = app.call(ENDPOINT, handler, request(&ev)).await;
        assert_eq!((res.status, res.body), (404, json!(["activity_not_found"])));
    }
}
