//! `GET /api/activities/home`: the newest unexpired activities, a page at a time.

use cruddur_core::handlers::home_activities as handler;
use cruddur_core::{routes, Endpoint};

const ENDPOINT: Endpoint = routes::HOME_ACTIVITIES;

fn main() -> Result<(), cruddur_lambda::Error> {
    cruddur_lambda::serve(ENDPOINT, handler)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cruddur_core::testing::{event, event_as_function_url, event_with_query, TestApp};

    #[tokio::test]
    async fn lists_seeded_activities_newest_first() {
        let app = TestApp::new().await;
        for req in [
            event("home-activities"),
            event_as_function_url("home-activities"),
        ] {
            let res = app.call(ENDPOINT, handler, req).await;
            assert_eq!(res.status, 200, "{}", res.text);
            let messages: Vec<_> = res
                .body
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["message"].as_str().unwrap())
                .collect();
            assert_eq!(
                messages,
                [
                    "My dear doctor, I am just simple tailor",
                    "Cloud is very fun!",
                    "I am out of prune juice"
                ]
            );
            let fun = &res.body[1];
            assert_eq!(fun["uuid"], "68f126b0-1ceb-4a33-88be-d90fa7109eee");
            assert_eq!(fun["handle"], "andrewbrown");
            assert_eq!(fun["display_name"], "Andrew Brown");
            assert_eq!(fun["replies_count"], 1);
            assert!(fun["created_at"].as_str().unwrap().ends_with('Z'));
            assert!(fun.get("reply_to_activity_uuid").is_none());
            assert!(!res.headers.contains_key("x-next-cursor"));
        }
    }

    #[tokio::test]
    async fn tampered_cursor_is_rejected() {
        let app = TestApp::new().await;
        let res = app
            .call(ENDPOINT, handler, event("home-activities-bad-cursor"))
            .await;
        assert_eq!(res.status, 422);
        assert_eq!(res.body, serde_json::json!(["cursor_invalid"]));
        let res = app
            .call(
                ENDPOINT,
                handler,
                event_with_query("home-activities", &[("cursor", "")]),
            )
            .await;
        assert_eq!(res.status, 200, "an empty cursor is the first page");
    }
}
