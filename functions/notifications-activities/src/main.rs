//! `GET /api/activities/notifications`: replies by others to the caller's activities.

use cruddur_core::handlers::notifications_activities as handler;
use cruddur_core::{routes, Endpoint};

const ENDPOINT: Endpoint = routes::NOTIFICATIONS_ACTIVITIES;

fn main() -> Result<(), cruddur_lambda::Error> {
    cruddur_lambda::serve(ENDPOINT, handler)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cruddur_core::testing::{event, TestApp};

    #[tokio::test]
    async fn lists_replies_to_the_caller() {
        let app = TestApp::new().await;
        let res = app
            .call(ENDPOINT, handler, event("notifications-activities"))
            .await;
        assert_eq!(res.status, 200, "{}", res.text);
        let replies = res.body.as_array().unwrap();
        assert_eq!(replies.len(), 1);
        assert_eq!(replies[0]["message"], "This post has no honor!");
        assert_eq!(replies[0]["handle"], "worf");
        assert_eq!(
            replies[0]["reply_to_activity_uuid"],
            "68f126b0-1ceb-4a33-88be-d90fa7109eee"
        );
    }
}
