//! `GET /api/users/{handle}/short`: a user's uuid, handle and display name, for the frontend's
//! "new message to @handle" page.

use cruddur_core::handlers::users_short as handler;
use cruddur_core::{routes, Endpoint};

const ENDPOINT: Endpoint = routes::USERS_SHORT;

fn main() -> Result<(), cruddur_lambda::Error> {
    cruddur_lambda::serve(ENDPOINT, handler)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cruddur_core::testing::{event, event_as_function_url, event_with_path_param, TestApp};
    use serde_json::json;

    #[tokio::test]
    async fn short_profile_by_handle() {
        let app = TestApp::new().await;
        let res = app.call(ENDPOINT, handler, event("users-short")).await;
        assert_eq!(res.status, 200, "{}", res.text);
        assert_eq!(res.body["handle"], "worf");
        assert_eq!(res.body["display_name"], "Worf");
        assert!(res.body["uuid"].is_string());
        let fields = res.body.as_object().unwrap().len();
        assert_eq!(fields, 3, "nothing private: {}", res.text);
        let local = cruddur_core::Config {
            stage: "local".into(),
            ..Default::default()
        };
        let app = TestApp::with_config(local).await;
        let res = app
            .call(ENDPOINT, handler, event_as_function_url("users-short"))
            .await;
        assert_eq!((res.status, &res.body["handle"]), (200, &json!("worf")));
    }

    #[tokio::test]
    async fn unknown_blank_and_invalid_handles() {
        let app = TestApp::new().await;
        let res = app
            .call(ENDPOINT, handler, event("users-short-unknown"))
            .await;
        assert_eq!((res.status, res.body), (404, json!(["user_not_found"])));
        for (handle, status, codes) in [
            ("@", 422, json!(["blank_user_handle"])),
            // A handle that cannot exist is as unknown as one that does not.
            ("@ｗｏｒｆ", 404, json!(["user_not_found"])),
            ("@no_such_user_at_all", 404, json!(["user_not_found"])),
            ("@WORF", 200, json!(null)),
        ] {
            let res = app
                .call(
                    ENDPOINT,
                    handler,
                    event_with_path_param("users-short", "handle", handle),
                )
                .await;
            if status == 200 {
                assert_eq!((res.status, &res.body["handle"]), (200, &json!("worf")));
            } else {
                assert_eq!((res.status, res.body), (status, codes), "{handle}");
            }
        }
    }
}
