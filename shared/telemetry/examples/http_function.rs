//! An HTTP function (API Gateway REST or HTTP API, Function URL) on `lambda_telemetry::run`.
//!
//! - `GET /hello?name=ada`: 200, with a custom span whose `user_id` field is an X-Ray annotation
//!   and a `Greetings` EMF metric.
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

async fn handler(request: Request) -> Result<Response<Body>, Error> {
    match request.raw_http_path() {
        "/hello" => Ok(hello(&request)),
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

fn hello(request: &Request) -> Response<Body> {
    let name = request
        .query_string_parameters_ref()
        .and_then(|query| query.first("name"))
        .unwrap_or("world")
        .to_owned();
    // `user_id` is made an annotation in `main`; `app.name_length` lands in the metadata.
    let span = tracing::info_span!("greeting", user_id = %name, app.name_length = name.len());
    let greeting = span.in_scope(|| {
        tracing::info!(metric.Greetings = 1, "greeted");
        format!("hello {name}")
    });
    answer(200, greeting)
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
