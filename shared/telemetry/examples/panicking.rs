//! A function whose handler panics on `/panic` and answers "ok" otherwise: the telemetry must
//! report the panic, answer 500 and keep serving. The panic tests run its release build.

use lambda_http::{service_fn, Body, Error, Request, RequestExt, Response};

async fn handler(req: Request) -> Result<Response<Body>, Error> {
    if req.raw_http_path() == "/panic" {
        explode(req.raw_http_path());
    }
    Ok(Response::new(Body::from("ok")))
}

fn explode(path: &str) -> ! {
    panic!("the handler gave up on {path}");
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    cruddur_telemetry::run(cruddur_telemetry::Settings::from_env(), service_fn(handler)).await
}
