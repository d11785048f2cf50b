//! The benchmarks' floor: a bare lambda_http function (no telemetry, no store, no routing),
//! built the way the functions are.

use lambda_http::{service_fn, Error, Request};

async fn hello(_request: Request) -> Result<&'static str, Error> {
    Ok("hello")
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::run(service_fn(hello)).await
}
