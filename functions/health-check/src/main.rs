//! `GET /api/health-check`: the API is up.

use cruddur_core::handlers::health_check as handler;
use cruddur_core::{routes, Endpoint};

const ENDPOINT: Endpoint = routes::HEALTH_CHECK;

fn main() -> Result<(), cruddur_lambda::Error> {
    cruddur_lambda::serve(ENDPOINT, handler)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cruddur_core::testing::{event, event_as_function_url, TestApp};

    #[tokio::test]
    async fn answers_success() {
        let app = TestApp::new().await;
        for req in [event("health-check"), event_as_function_url("health-check")] {
            let res = app.call(ENDPOINT, handler, req).await;
            assert_eq!(res.status, 200);
            assert_eq!(res.body, serde_json::json!({"success": true, "ver": 1}));
            assert_eq!(res.headers["access-control-allow-origin"], "*");
        }
    }
}
