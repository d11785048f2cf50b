//! CloudWatch metrics in Embedded Metric Format: an event with `metric.<Name> = <count>` fields
//! becomes one EMF line in the log stream, with the `service` dimension. CloudWatch turns it into
//! metrics; no API call, no latency.

use serde_json::{json, Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::Layer;

use crate::logs::Output;
use crate::settings::Settings;

/// Fields with this prefix are metrics.
pub(crate) const METRIC_PREFIX: &str = "metric.";

pub(crate) struct EmfLayer {
    namespace: String,
    service: String,
    function_name: Option<String>,
    output: Output,
}

impl EmfLayer {
    pub(crate) fn new(settings: &Settings, output: Output) -> Self {
        Self {
            namespace: settings.metrics_namespace().to_owned(),
            service: settings.service_name.clone(),
            function_name: settings.function_name.clone(),
            output,
        }
    }

    /// The EMF document for some counters.
    fn document(&self, counters: &[(String, f64)], timestamp_ms: i64) -> Value {
        let metrics: Vec<Value> = counters
            .iter()
            .map(|(name, _)| json!({"Name": name, "Unit": "Count"}))
            .collect();
        let mut doc = Map::new();
        doc.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{"Namespace": self.namespace, "Dimensions": [["service"]], "Metrics": metrics}]
            }),
        );
        doc.insert("service".into(), self.service.clone().into());
        if let Some(name) = &self.function_name {
            doc.insert("function_name".into(), name.clone().into());
        }
        for (name, value) in counters {
            doc.insert(name.clone(), json!(value));
        }
        Value::Object(doc)
    }
}

impl<S: Subscriber> Layer<S> for EmfLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut visitor = MetricVisitor::default();
        event.record(&mut visitor);
        if visitor.0.is_empty() {
            return;
        }
        let doc = self.document(&visitor.0, chrono::Utc::now().timestamp_millis());
        self.output.write_line(&doc.to_string());
    }
}

#[derive(Default)]
struct MetricVisitor(Vec<(String, f64)>);

impl MetricVisitor {
    fn add(&mut self, field: &Field, value: f64) {
        if let Some(name) = field.name().strip_prefix(METRIC_PREFIX) {
            self.0.push((name.to_owned(), value));
        }
    }
}

impl Visit for MetricVisitor {
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.add(field, value as f64);
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.add(field, value as f64);
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.add(field, value);
    }
    fn record_debug(&mut self, _field: &Field, _value: &dyn std::fmt::Debug) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_document_shape() {
        let layer = EmfLayer::new(
            &Settings::default().default_service_name("orders"),
            Output::new(Box::new(std::io::sink())),
        );
        let doc = layer.document(&[("OrdersPlaced".into(), 1.0)], 1_700_000_000_000);
        assert_eq!(doc["_aws"]["Timestamp"], 1_700_000_000_000i64);
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "orders");
        assert_eq!(directive["Dimensions"], json!([["service"]]));
        assert_eq!(
            directive["Metrics"][0],
            json!({"Name": "OrdersPlaced", "Unit": "Count"})
        );
        assert_eq!(doc["service"], "orders");
        assert_eq!(doc["OrdersPlaced"], 1.0);
    }
}
