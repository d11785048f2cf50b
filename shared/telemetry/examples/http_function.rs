//! An HTTP function (API Gateway REST or HTTP API, Function URL) on `lambda_telemetry::run`.
//!
//! - `GET /hello?name=ada`: 200, with a custom span whose `user_id` field is an X-Ray annotation
//!   and a `Greetings` EMF metric (`&wait_ms=300` makes the greeting take that long, as a call to
//!   a slow backend would).
//! - `GET /report`: 200, and a warning reported to Rollbar (`report = true`).
//! - `GET /unavailable`: 503 after logging why: a fault in X-Ray, with that cause, and an error
//!   report.
//! - `GET /panic`: the handler panics; the caller gets a 500 and the process serves on.
//! - anything else: 404, an error (not a fault) in X-Ray.
//!
//! Run it with `cargo lambda watch --example http-function` and call
//! `http://localhost:9000/hello?name=ada`.

use lambda_http::{service_fn, Body, Error, Request, RequestExt, Response};
use lambda_telemetry::Settings;
use tracing::Instrument;

async fn handler(request: Request) -> Result<Response<Body>, Error> {
    match request.raw_http_path() {
        "/hello" => Ok(hello(&request).await),
        "/report" => {
            tracing::warn!(report = true, "a report was asked for");
            Ok(answer(200, "reported"))
        }
        "/unavailable" => {
            // The first error logged in an invocation is its cause in X-Ray and Rollbar.
            tracing::error!(
                error.type = "UpstreamUnavailable",
                error = "the upstream refused the connection",
                "cannot answer without the upstream"
            );
            Ok(answer(503, "try again later"))
        }
        "/panic" => explode(request.raw_http_path()),
        _ => Ok(answer(404, "not found")),
    }
}

async fn hello(request: &Request) -> Response<Body> {
    let query = request.query_string_parameters_ref();
    let name = query
        .and_then(|query| query.first("name"))
        .unwrap_or("world")
        .to_owned();
    let wait_ms: u64 = query
        .and_then(|query| query.first("wait_ms"))
        .and_then(|ms| ms.parse().ok())
        .unwrap_or(0);
    // `user_id` is made an annotation in `main`; `app.name_length` lands in the metadata.
    let span = tracing::info_span!("greeting", user_id = %name, app.name_length = name.len());
    async {
        tokio::time::sleep(std::time::Duration::from_millis(wait_ms)).await;
        tracing::info!(metric.Greetings = 1, "greeted");
    }
    .instrument(span)
    .await;
    answer(200, format!("hello {name}"))
}

fn explode(path: &str) -> ! {
    panic!("the handler gave up on {path}");
}

fn answer(status: u16, text: impl Into<String>) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain")
        .body(Body::from(text.into()))
        .expect("a valid response")
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let settings = Settings::from_env()
        .default_service_name("greeter")
        .annotation("user_id", "user_id");
    lambda_telemetry::run(settings, service_fn(handler)).await
}
