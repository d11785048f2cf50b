//! Assembles the one pipeline: `tracing` -> tracing-opentelemetry -> OpenTelemetry SDK
//! (X-Ray ids, Lambda resource) -> X-Ray over UDP and, when configured, OTLP/HTTP; plus JSON
//! logs, EMF metrics and the error-cause capture. Built once per cold start.

use std::sync::Arc;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_aws::detector::LambdaResourceDetector;
use opentelemetry_aws::trace::XrayIdGenerator;
use opentelemetry_aws::xray_exporter::{SegmentTranslator, XrayExporter};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanExporter};
use opentelemetry_sdk::Resource;
use tracing::{Metadata, Subscriber};
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{Layer, Registry};

use crate::context::ContextLayer;
use crate::export::{keep_trace, otlp_view, Exports};
use crate::logs::{self, JsonLogLayer, Output};
use crate::metrics::EmfLayer;
use crate::rollbar::Reporter;
use crate::settings::Settings;
use crate::xray::{xray_attributes, DaemonStats, UdpDaemonClient};

impl Telemetry {
    /// Exports the invocation's spans and delivers its error reports, each within its deadline.
    pub async fn flush(&self) {
        let spans = async {
            if !self.exports.is_empty() && !self.exports.flush(self.settings.flush_timeout).await {
                tracing::debug!(target: "cruddur_telemetry", "span export took longer than its deadline; moving on");
            }
        };
        let reports = async {
            if let Some(reporter) = &self.reporter {
                reporter.flush().await;
            }
        };
        tokio::join!(spans, reports);
    }

    /// A new invocation begins.
    pub fn begin_invocation(&self) {
        if let Some(reporter) = &self.reporter {
            reporter.begin_invocation();
        }
    }
}

/// Trace-state key marking a trace that Lambda's X-Ray sampling left out (`xray=0`).
pub const XRAY_UNSAMPLED: (&str, &str) = ("xray", "0");

/// The process's telemetry: settings, and the exports to flush after each invocation.
#[derive(Clone)]
pub struct Telemetry {
    pub settings: Arc<Settings>,
    pub exports: Exports,
    pub xray_stats: Arc<DaemonStats>,
    /// Rollbar, when `ROLLBAR_ACCESS_TOKEN` is set.
    pub reporter: Option<Arc<Reporter>>,
    // Kept so the provider (and its processor) lives as long as the process.
    _provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Builds the pipeline and the subscriber that feeds it. Nothing is installed globally.
    pub fn build(
        settings: Settings,
        output: Output,
    ) -> (Self, impl Subscriber + Send + Sync + for<'a> LookupSpan<'a>) {
        let settings = Arc::new(settings);
        let xray_stats = Arc::new(DaemonStats::default());
        let reporter = Reporter::start(&settings);
        let (exports, provider) = if settings.tracing_disabled {
            (Exports::default(), None)
        } else {
            let exports = exports(&settings, &xray_stats);
            let provider = SdkTracerProvider::builder()
                .with_id_generator(XrayIdGenerator::default())
                .with_resource(resource(&settings))
                .with_span_processor(exports.clone())
                .build();
            (exports, Some(provider))
        };
        let otel = provider.as_ref().map(|provider| {
            tracing_opentelemetry::layer()
                .with_tracer(provider.tracer("cruddur-telemetry"))
                .with_location(false)
                .with_threads(false)
                .with_target(false)
                .with_tracked_inactivity(false)
                .with_filter(filter_fn(is_application_span))
        });
        let subscriber = Registry::default()
            .with(JsonLogLayer::new(&settings, output.clone()).with_filter(logs::filter(&settings)))
            .with(EmfLayer::new(&settings, output))
            .with(ContextLayer::new(reporter.clone()))
            .with(otel);
        let telemetry = Self {
            settings,
            exports,
            xray_stats,
            reporter,
            _provider: provider,
        };
        (telemetry, subscriber)
    }
}

/// Spans and events of the application and the runtime go to the trace backends; the
/// telemetry's own machinery (exporters, HTTP clients) never does, so exporting cannot trace
/// itself.
fn is_application_span(metadata: &Metadata<'_>) -> bool {
    const INTERNAL: [&str; 9] = [
        "opentelemetry",
        "reqwest",
        "hyper",
        "h2",
        "rustls",
        "tower",
        "aws_smithy",
        "aws_config",
        "lambda_runtime_api_client",
    ];
    *metadata.level() <= tracing::Level::INFO
        && !INTERNAL
            .iter()
            .any(|prefix| metadata.target().starts_with(prefix))
}

/// `service.name` plus what Lambda's environment says about the function.
fn resource(settings: &Settings) -> Resource {
    Resource::builder()
        .with_detector(Box::new(LambdaResourceDetector))
        .with_service_name(settings.service_name.clone())
        .build()
}

/// The X-Ray translator's resource: all but `service.name`, so a segment is named after its
/// function (as Lambda names it), not after the whole service.
fn xray_resource(settings: &Settings) -> Resource {
    let attributes: Vec<KeyValue> = resource(settings)
        .iter()
        .filter(|(key, _)| key.as_str() != "service.name")
        .map(|(key, value)| KeyValue::new(key.clone(), value.clone()))
        .collect();
    Resource::builder_empty()
        .with_attributes(attributes)
        .build()
}

fn exports(settings: &Arc<Settings>, xray_stats: &Arc<DaemonStats>) -> Exports {
    let xray_settings = settings.clone();
    let stats = xray_stats.clone();
    let mut exports = Exports::default().with_path(
        "xray",
        settings.queue_size,
        Box::new(|mut span| {
            if span.span_context.trace_state().get(XRAY_UNSAMPLED.0) == Some(XRAY_UNSAMPLED.1) {
                return None;
            }
            xray_attributes(&mut span.attributes);
            Some(span)
        }),
        move || {
            let client = UdpDaemonClient::new(&xray_settings.xray_daemon_address, stats);
            let translator = SegmentTranslator::new();
            let mut exporter = XrayExporter::new(client).with_translator(translator);
            exporter.set_resource(&xray_resource(&xray_settings));
            Some(exporter)
        },
    );
    if settings.otlp_endpoint.is_some() {
        let ratio = settings.otlp_sample_ratio;
        let otlp_settings = settings.clone();
        exports = exports.with_path(
            "otlp",
            settings.queue_size,
            Box::new(move |span| keep_trace(&span, ratio).then(|| otlp_view(span))),
            move || otlp_exporter(&otlp_settings),
        );
    }
    exports
}

/// The OTLP/HTTP protobuf exporter. Endpoint, headers (`x-honeycomb-team=...`) and timeout come
/// from the standard `OTEL_EXPORTER_OTLP_*` variables. No retries: a retry would hold the export
/// thread while the next invocations queue up; the next flush tries again with new spans.
fn otlp_exporter(settings: &Settings) -> Option<opentelemetry_otlp::SpanExporter> {
    let mut exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_retry_policy(opentelemetry_otlp::RetryPolicy::disabled())
        .build()
        .map_err(|err| {
            tracing::warn!(target: "cruddur_telemetry", error = %err, "cannot build the OTLP exporter; OTLP export is off");
        })
        .ok()?;
    exporter.set_resource(&resource(settings));
    Some(exporter)
}
