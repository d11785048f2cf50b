//! An event function: an SQS consumer on `lambda_telemetry::run_events`.
//!
//! Each message is processed in a span of its own. An empty message is handed back to the queue
//! (a batch item failure, `FunctionResponseTypes: ReportBatchItemFailures`); a message that reads
//! `poison` fails the whole invocation, which is a fault in X-Ray and an error report.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use lambda_telemetry::Settings;

async fn handler(event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, Error> {
    let mut response = SqsBatchResponse::default();
    for message in event.payload.records {
        let id = message.message_id.unwrap_or_default();
        let span = tracing::info_span!("message", messaging.message.id = %id);
        let _entered = span.enter();
        match message.body.as_deref().map(str::trim) {
            Some("poison") => return Err(format!("message {id} cannot be processed").into()),
            Some(body) if !body.is_empty() => {
                tracing::info!(
                    metric.MessagesProcessed = 1,
                    bytes = body.len(),
                    "processed"
                );
            }
            _ => {
                tracing::warn!("an empty message; handed back to the queue");
                response.add_failure(id);
            }
        }
    }
    Ok(response)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let settings = Settings::from_env().default_service_name("orders");
    lambda_telemetry::run_events(settings, service_fn(handler)).await
}
