//! A function that keeps a `tracing` subscriber of its own and assembles its runtime from this
//! crate's layers, instead of calling `lambda_telemetry::run`.
//!
//! The application writes its own plain-text log lines (the `PlainLines` layer below) and takes
//! from this crate the invocation context and the traces (X-Ray, OTLP), not the JSON logs. Its
//! runtime stacks the same tower layers `run` uses: the invocation span and flush, the HTTP
//! event and access line, the panic catcher.

use lambda_http::tower::Layer as _;
use lambda_http::{service_fn, Body, Error, Request, Response};
use lambda_telemetry::{CatchPanicLayer, HttpEventLayer, HttpLayer, Settings, Telemetry};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::SubscriberExt;

/// The application's own log format: `app-log LEVEL message` on stdout.
struct PlainLines;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for PlainLines {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Message(String);
        impl Visit for Message {
            fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{value:?}");
                }
            }
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        println!("app-log {} {}", event.metadata().level(), message.0);
    }
}

async fn handler(_request: Request) -> Result<Response<Body>, Error> {
    tracing::info!("answering");
    let _work = tracing::info_span!("work", app.items = 3).entered();
    Ok(Response::new(Body::from("assembled by hand")))
}

fn main() -> Result<(), Error> {
    // Chains to the hook installed before it: panics outside an invocation print as before.
    lambda_telemetry::install_panic_hook();
    let telemetry = Telemetry::new(Settings::from_env().default_service_name("assembled"));
    let subscriber = tracing_subscriber::registry()
        .with(PlainLines)
        .with(telemetry.context_layer())
        .with(telemetry.traces_layer());
    tracing::subscriber::set_global_default(subscriber)?;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let handler = HttpLayer::new().layer(
            CatchPanicLayer::new(r#"{"message":"Internal Server Error"}"#)
                .layer(service_fn(handler)),
        );
        let service = HttpEventLayer::new(r#"{"message":"Bad Request"}"#).layer(handler);
        lambda_runtime::Runtime::new(service)
            .layer(telemetry.invocation_layer())
            .run()
            .await
    })
}
