//! `GET /api/activities/search?term=`: activities whose message contains the term.

use cruddur_core::handlers::search_activities as handler;
use cruddur_core::{routes, Endpoint};

const ENDPOINT: Endpoint = routes::SEARCH_ACTIVITIES;

fn main() -> Result<(), cruddur_lambda::Error> {
    cruddur_lambda::serve(ENDPOINT, handler)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cruddur_core::testing::{event, event_as_function_url, event_with_query, TestApp};
    use serde_json::json;

    #[tokio::test]
    async fn finds_matching_activities() {
        let app = TestApp::new().await;
        for req in [
            event("search-activities"),
            event_as_function_url("search-activities"),
        ] {
            let res = app.call(ENDPOINT, handler, req).await;
            assert_eq!(res.status, 200, "{}", res.text);
            let found = res.body.as_array().unwrap();
            assert_eq!(found.len(), 1);
            assert_eq!(found[0]["message"], "Cloud is very fun!");
        }
    }

    #[tokio::test]
    async fn rejects_bad_terms() {
        let app = TestApp::new().await;
        let cases = [
            (
                event("search-activities-blank"),
                json!(["search_term_blank"]),
            ),
            (
                event("search-activities-too-long"),
                json!(["search_term_too_long"]),
            ),
            (
                event_with_query("search-activities", &[]),
                json!(["search_term_blank"]),
            ),
        ];
        for (req, codes) in cases {
            let res = app.call(ENDPOINT, handler, req).await;
            assert_eq!((res.status, res.body), (422, codes));
        }
    }
}
