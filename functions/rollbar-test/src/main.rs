//! `GET /rollbar/test`: reports the warning "Hello World!" and returns it.

use cruddur_core::handlers::rollbar_test as handler;
use cruddur_core::{routes, Endpoint};

const ENDPOINT: Endpoint = routes::ROLLBAR_TEST;

fn main() -> Result<(), cruddur_lambda::Error> {
    cruddur_lambda::serve(ENDPOINT, handler)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cruddur_core::testing::{event, TestApp};

    #[tokio::test]
    async fn returns_hello_world() {
        let app = TestApp::new().await;
        let res = app.call(ENDPOINT, handler, event("rollbar-test")).await;
        assert_eq!(res.status, 200);
        assert_eq!(res.text, "Hello World!");
    }
}
