//! Structured logs for CloudWatch: one JSON object per line on stdout.
//!
//! Each line carries the event's fields and the fields of every span it happened in (the
//! invocation's request id, trace id, cold start, the request's correlation id, ...), so a line can
//! be found from any of them in CloudWatch Logs Insights.

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Record};
use tracing::{Event, Id, Subscriber};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use crate::settings::Settings;

/// Where log lines and metric documents go (stdout in Lambda; a buffer in tests).
#[derive(Clone)]
pub(crate) struct Output(Arc<Mutex<Box<dyn Write + Send>>>);

impl Output {
    pub(crate) fn new(writer: Box<dyn Write + Send>) -> Self {
        Self(Arc::new(Mutex::new(writer)))
    }

    /// Writes one line. A closed stdout must not take the function down with it.
    pub(crate) fn write_line(&self, line: &str) {
        let mut writer = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writer.write_all(line.as_bytes());
        let _ = writer.write_all(b"\n");
        let _ = writer.flush();
    }
}

/// Writes every event as one JSON line.
pub(crate) struct JsonLogLayer {
    service: String,
    function_name: Option<String>,
    output: Output,
}

impl JsonLogLayer {
    pub(crate) fn new(settings: &Settings, output: Output) -> Self {
        Self {
            service: settings.service_name.clone(),
            function_name: settings.function_name.clone(),
            output,
        }
    }
}

/// The filter for log lines: `RUST_LOG` when set, else Lambda's `AWS_LAMBDA_LOG_LEVEL` (set by
/// the function's `LoggingConfig`), else `info`. `RUST_LOG` takes comma-separated `level` and
/// `target=level` directives (`warn,my_app=debug`). tracing-subscriber's `EnvFilter` would
/// also take span and field filters, but brings a regular-expression compiler (about 60 KB of
/// every bootstrap) for directives a function's logs do not need.
pub(crate) fn filter(settings: &Settings) -> Targets {
    let directives = settings
        .rust_log
        .clone()
        .or_else(|| {
            settings
                .lambda_log_level
                .as_deref()
                .map(lambda_level_directive)
        })
        .unwrap_or_else(|| "info".to_owned());
    directives.parse().unwrap_or_else(|err| {
        eprintln!("invalid log filter {directives:?} ({err}); using info");
        Targets::new().with_default(tracing::Level::INFO)
    })
}

/// Lambda's level names (`TRACE` .. `FATAL`) as a tracing directive.
fn lambda_level_directive(level: &str) -> String {
    match level.trim().to_ascii_uppercase().as_str() {
        "TRACE" => "trace",
        "DEBUG" => "debug",
        "WARN" | "WARNING" => "warn",
        "ERROR" | "FATAL" => "error",
        _ => "info",
    }
    .to_owned()
}

/// The fields recorded on a span so far, kept in its extensions.
struct SpanFields(Map<String, Value>);

impl<S> Layer<S> for JsonLogLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Map::new();
        attrs.record(&mut JsonVisitor(&mut fields));
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanFields(fields));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            let mut extensions = span.extensions_mut();
            if let Some(SpanFields(fields)) = extensions.get_mut::<SpanFields>() {
                values.record(&mut JsonVisitor(fields));
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut line = Map::new();
        line.insert("timestamp".into(), now().into());
        line.insert("level".into(), event.metadata().level().as_str().into());
        line.insert("message".into(), Value::Null);
        line.insert("target".into(), event.metadata().target().into());
        line.insert("service".into(), self.service.clone().into());
        if let Some(name) = &self.function_name {
            line.insert("function_name".into(), name.clone().into());
        }
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(SpanFields(fields)) = span.extensions().get::<SpanFields>() {
                    for (key, value) in fields {
                        line.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        event.record(&mut JsonVisitor(&mut line));
        self.output.write_line(&Value::Object(line).to_string());
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Records tracing fields as JSON values. `otel.*` fields steer tracing backends, not logs.
struct JsonVisitor<'a>(&'a mut Map<String, Value>);

impl JsonVisitor<'_> {
    fn put(&mut self, field: &Field, value: Value) {
        let name = field.name();
        if !name.starts_with("otel.") {
            self.0.insert(name.to_owned(), value);
        }
    }
}

impl Visit for JsonVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        let mut text = value.to_string();
        let mut source = value.source();
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        self.put(field, text.into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field, format!("{value:?}").into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().write(buf)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn lines(buffer: &Buffer) -> Vec<Value> {
        String::from_utf8(buffer.0.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).expect("each line is JSON"))
            .collect()
    }

    #[test]
    fn lines_carry_span_and_event_fields() {
        let buffer = Buffer::default();
        let settings = Settings::from_lookup(|name| {
            (name == "AWS_LAMBDA_FUNCTION_NAME").then(|| "list-orders".to_owned())
        });
        let subscriber = tracing_subscriber::registry().with(JsonLogLayer::new(
            &settings,
            Output::new(Box::new(buffer.clone())),
        ));
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!(
                "invocation",
                function_request_id = "req-1",
                cold_start = true,
                correlation_id = tracing::field::Empty,
                otel.kind = "server"
            );
            let _e = span.enter();
            span.record("correlation_id", "apigw-1");
            let err = std::io::Error::other("disk on fire");
            tracing::error!(
                error = &err as &dyn std::error::Error,
                status = 503u16,
                "store unavailable"
            );
        });
        let lines = lines(&buffer);
        assert_eq!(lines.len(), 1);
        let line = &lines[0];
        assert_eq!(line["level"], "ERROR");
        assert_eq!(line["message"], "store unavailable");
        assert_eq!(line["service"], "unknown_service");
        assert_eq!(line["function_name"], "list-orders");
        assert_eq!(line["function_request_id"], "req-1");
        assert_eq!(line["correlation_id"], "apigw-1");
        assert_eq!(line["cold_start"], true);
        assert_eq!(line["status"], 503);
        assert_eq!(line["error"], "disk on fire");
        assert!(line.get("otel.kind").is_none());
        assert!(chrono::DateTime::parse_from_rfc3339(line["timestamp"].as_str().unwrap()).is_ok());
    }

    #[test]
    fn lambda_log_level_maps_to_a_filter() {
        assert_eq!(lambda_level_directive("DEBUG"), "debug");
        assert_eq!(lambda_level_directive("FATAL"), "error");
        assert_eq!(lambda_level_directive("nonsense"), "info");
        let with = |vars: &'static [(&'static str, &'static str)]| {
            filter(&Settings::from_lookup(|name| {
                vars.iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| (*value).to_owned())
            }))
        };
        use tracing::Level;
        let directives = with(&[("RUST_LOG", "warn,my_app=debug")]);
        assert!(directives.would_enable("my_app::store", &Level::DEBUG));
        assert!(!directives.would_enable("hyper::client", &Level::INFO));
        assert!(directives.would_enable("hyper::client", &Level::WARN));
        let lambda = with(&[("AWS_LAMBDA_LOG_LEVEL", "DEBUG")]);
        assert!(lambda.would_enable("any", &Level::DEBUG));
        assert!(!lambda.would_enable("any", &Level::TRACE));
        // A bad RUST_LOG falls back to info instead of failing the cold start.
        let fallback = with(&[("RUST_LOG", "warn,my_app=loud")]);
        assert!(fallback.would_enable("any", &Level::INFO));
        assert!(!fallback.would_enable("any", &Level::DEBUG));
        assert!(with(&[]).would_enable("any", &Level::INFO));
    }
}
