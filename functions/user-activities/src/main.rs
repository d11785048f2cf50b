//! `GET /api/activities/{handle}`: a user's profile and activities.

use cruddur_core::handlers::user_activities as handler;
use cruddur_core::{routes, Endpoint};

const ENDPOINT: Endpoint = routes::USER_ACTIVITIES;

fn main() -> Result<(), cruddur_lambda::Error> {
    cruddur_lambda::serve(ENDPOINT, handler)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cruddur_core::testing::{event, event_as_function_url, event_with_path_param, TestApp};

    #[tokio::test]
    async fn shows_profile_and_activities() {
        let app = TestApp::new().await;
        for req in [
            event("user-activities"),
            event_as_function_url("user-activities"),
        ] {
            let res = app.call(ENDPOINT, handler, req).await;
            assert_eq!(res.status, 200, "{}", res.text);
            let profile = &res.body["profile"];
            assert_eq!(profile["handle"], "andrewbrown");
            assert_eq!(profile["display_name"], "Andrew Brown");
            assert_eq!(profile["cruds_count"], 1);
            assert!(profile["uuid"].is_string());
            assert!(profile.get("bio").is_some());
            let activities = res.body["activities"].as_array().unwrap();
            assert_eq!(activities.len(), 1);
            assert_eq!(activities[0]["message"], "Cloud is very fun!");
        }
    }

    #[tokio::test]
    async fn unknown_and_blank_handles() {
        let app = TestApp::new().await;
        let res = app
            .call(ENDPOINT, handler, event("user-activities-unknown"))
            .await;
        assert_eq!(
            (res.status, res.body.clone()),
            (404, serde_json::json!(["user_not_found"]))
        );
        // The example: 18 characters, over the handle rule's 15, names nobody.
        for handle in ["@no_such_user_at_all", "@wörf"] {
            let res = app
                .call(
                    ENDPOINT,
                    handler,
                    event_with_path_param("user-activities", "handle", handle),
                )
                .await;
            assert_eq!(
                (res.status, res.body.clone()),
                (404, serde_json::json!(["user_not_found"])),
                "{handle}"
            );
        }
        let res = app
            .call(ENDPOINT, handler, event("user-activities-blank"))
            .await;
        assert_eq!(
            (res.status, res.body.clone()),
            (422, serde_json::json!(["blank_user_handle"]))
        );
    }
}
