//! `PUT /api/profile/update` `{display_name, bio}`: the caller edits their profile and gets it
//! back as it now reads.

use cruddur_core::handlers::update_profile as handler;
use cruddur_core::{routes, Endpoint};

const ENDPOINT: Endpoint = routes::UPDATE_PROFILE;

fn main() -> Result<(), cruddur_lambda::Error> {
    cruddur_lambda::serve(ENDPOINT, handler)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cruddur_core::testing::services;
    use cruddur_core::testing::{event, event_with_body, TestApp};
    use serde_json::json;

    #[tokio::test]
    async fn the_new_profile_shows_on_the_profile_and_new_activities() {
        let app = TestApp::new().await;
        let res = app.call(ENDPOINT, handler, event("update-profile")).await;
        assert_eq!(res.status, 200, "{}", res.text);
        assert_eq!(res.body["display_name"], "Andrew B.");
        assert_eq!(res.body["bio"], "Teaching the cloud, one crud at a time.");
        assert_eq!(res.body["handle"], "andrewbrown");
        assert_eq!(res.body["cruds_count"], 1);
        assert_eq!(
            res.body["cognito_user_uuid"],
            "c17b54ba-54c5-5ca9-82b6-70b8927cf096"
        );
        let store = app.store.as_ref();
        let (shown, _) = services::user_activities(store, Some("@andrewbrown"), None)
            .await
            .unwrap();
        assert_eq!(shown.profile.display_name, "Andrew B.");
        let andrew = store.user_by_handle("andrewbrown").await.unwrap().unwrap();
        let body = services::CreateActivityBody {
            message: Some("New name, same cloud.".into()),
            ttl: Some("1-day".into()),
        };
        let created = services::create_activity(store, &andrew, body, None)
            .await
            .unwrap();
        assert_eq!(created.value.display_name, "Andrew B.");
    }

    #[tokio::test]
    async fn every_failing_check_and_nothing_changed() {
        let app = TestApp::new().await;
        let cases = [
            (
                json!({"display_name": "  ", "bio": "b".repeat(301)}),
                json!(["display_name_blank", "bio_too_long"]),
            ),
            (
                json!({"display_name": "x".repeat(61)}),
                json!(["display_name_too_long"]),
            ),
            (
                json!({"display_name": "Andrew\u{202e}nworB", "bio": "a\u{200b}b"}),
                json!(["display_name_invalid", "bio_invalid"]),
            ),
            (json!({"bio": "only a bio"}), json!(["display_name_blank"])),
        ];
        for (body, codes) in cases {
            let res = app
                .call(
                    ENDPOINT,
                    handler,
                    event_with_body("update-profile", &body.to_string()),
                )
                .await;
            assert_eq!((res.status, &res.body), (422, &codes), "{body}");
        }
        let res = app
            .call(ENDPOINT, handler, event("update-profile-bad-input"))
            .await;
        assert_eq!(res.status, 422, "{}", res.text);
        let andrew = app
            .store
            .user_by_handle("andrewbrown")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(andrew.display_name, "Andrew Brown");
    }

    #[tokio::test]
    async fn trimmed_and_an_empty_bio_is_none() {
        let app = TestApp::new().await;
        let body = json!({"display_name": "  Andrew  ", "bio": "   "}).to_string();
        let res = app
            .call(ENDPOINT, handler, event_with_body("update-profile", &body))
            .await;
        assert_eq!(res.status, 200, "{}", res.text);
        assert_eq!(res.body["display_name"], "Andrew");
        assert_eq!(res.body["bio"], json!(null));
    }
}
