//! Assembles the one pipeline: `tracing` -> tracing-opentelemetry -> OpenTelemetry SDK
//! (X-Ray ids, Lambda resource) -> X-Ray over UDP and, when configured, OTLP/HTTP; plus JSON
//! logs, EMF metrics, the invocation context and error reports. Built once per cold start.
//!
//! Every layer carries its own filter, so an event no layer wants is never built: its fields (a
//! dependency's `trace!` of a raw event, say) are not even evaluated.

use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_aws::detector::LambdaResourceDetector;
use opentelemetry_aws::trace::XrayIdGenerator;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanExporter};
use opentelemetry_sdk::Resource;
use tracing::{Metadata, Subscriber};
use tracing_subscriber::filter::{filter_fn, LevelFilter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{Layer, Registry};

use crate::context::ContextLayer;
use crate::export::{keep_trace, otlp_view, Exports, PathStats};
use crate::logs::{self, JsonLogLayer, Output};
use crate::metrics::EmfLayer;
use crate::propagation::XRAY_UNSAMPLED;
use crate::rollbar::{ReportLayer, Reporter};
use crate::settings::{LateSecrets, Settings};
use crate::transport::BlockingHttp;
use crate::xray::{DaemonStats, UdpDaemonClient, XrayExporter};

/// The OTLP exports' extra headers; unset while they are still to arrive with the late secrets.
type OtlpHeaders = Arc<OnceLock<Vec<(String, String)>>>;

/// The process's telemetry: what to flush after each invocation, and its counters.
#[derive(Clone)]
pub struct Telemetry {
    settings: Arc<Settings>,
    exports: Exports,
    xray_documents: Arc<DaemonStats>,
    reporter: Option<Arc<Reporter>>,
    otlp_headers: OtlpHeaders,
    // Kept so the provider (and its processor) lives as long as the process.
    _provider: Option<SdkTracerProvider>,
}

/// What one exporter did since the process started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExporterStats {
    /// Spans handed to the exporter.
    pub exported: u64,
    /// Spans dropped because the queue was full (`OTEL_BSP_MAX_QUEUE_SIZE`).
    pub dropped: u64,
    /// Exports that failed (each a batch of spans).
    pub failed_exports: u64,
}

/// The telemetry's counters: what left, what was cut, what was lost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// The X-Ray exporter.
    pub xray: ExporterStats,
    /// The OTLP exporter, when one is configured.
    pub otlp: Option<ExporterStats>,
    /// Segment documents sent to the daemon.
    pub xray_documents_sent: u64,
    /// Segment documents whose metadata was cut to fit the daemon's 64 KiB.
    pub xray_documents_truncated: u64,
    /// Segment documents not sent (no daemon, or too large even without metadata).
    pub xray_documents_dropped: u64,
    /// Error reports Rollbar accepted.
    pub reports_delivered: u64,
    /// Error reports not delivered: rate-limited, over the per-invocation cap, or failed.
    pub reports_not_delivered: u64,
}

impl Telemetry {
    /// Builds the pipeline, logging to stdout, and the subscriber that feeds it. Nothing is
    /// installed globally (see [`crate::init`]).
    pub fn build(
        settings: Settings,
    ) -> (Self, impl Subscriber + Send + Sync + for<'a> LookupSpan<'a>) {
        Self::build_logging_to(settings, std::io::stdout())
    }

    /// [`Telemetry::build`] with log lines and metric documents written to `logs`.
    pub fn build_logging_to(
        settings: Settings,
        logs: impl Write + Send + 'static,
    ) -> (Self, impl Subscriber + Send + Sync + for<'a> LookupSpan<'a>) {
        install_crypto_provider();
        let output = Output::new(Box::new(logs));
        let settings = Arc::new(settings);
        let xray_documents = Arc::new(DaemonStats::default());
        let secrets_later = settings.secrets.is_some();
        let reporter = Reporter::start(
            &settings.rollbar,
            settings.function_name.clone(),
            secrets_later,
        );
        let otlp_headers: OtlpHeaders = Arc::new(OnceLock::new());
        if !secrets_later {
            // Only the environment's headers (`OTEL_EXPORTER_OTLP_HEADERS`), known now.
            let _ = otlp_headers.set(Vec::new());
        }
        let (exports, provider) = if settings.tracing_disabled {
            (Exports::default(), None)
        } else {
            let exports = exports(&settings, &xray_documents, &otlp_headers);
            let provider = SdkTracerProvider::builder()
                .with_id_generator(XrayIdGenerator::default())
                .with_resource(resource(&settings))
                .with_span_processor(exports.clone())
                .build();
            (exports, Some(provider))
        };
        let otel = provider.as_ref().map(|provider| {
            tracing_opentelemetry::layer()
                .with_tracer(provider.tracer(env!("CARGO_PKG_NAME")))
                .with_location(false)
                .with_threads(false)
                .with_target(false)
                .with_tracked_inactivity(false)
                .with_filter(filter_fn(is_application_span).with_max_level_hint(LevelFilter::INFO))
        });
        let subscriber = Registry::default()
            .with(JsonLogLayer::new(&settings, output.clone()).with_filter(logs::filter(&settings)))
            .with(EmfLayer::new(&settings, output).with_filter(LevelFilter::INFO))
            .with(ContextLayer.with_filter(LevelFilter::INFO))
            .with(
                reporter
                    .clone()
                    .map(|r| ReportLayer::new(r).with_filter(LevelFilter::INFO)),
            )
            .with(otel);
        let telemetry = Self {
            settings,
            exports,
            xray_documents,
            reporter,
            otlp_headers,
            _provider: provider,
        };
        (telemetry, subscriber)
    }

    /// Exports the invocation's spans and delivers its error reports, each within its deadline.
    /// The runtime calls it after each response (see [`crate::InvocationLayer`]).
    pub async fn flush(&self) {
        self.start_reading_secrets();
        let spans = async {
            if !self.exports.is_empty() && !self.exports.flush(self.settings.flush_timeout).await {
                tracing::debug!(target: "telemetry", "span export took longer than its deadline; moving on");
            }
        };
        let reports = async {
            if let Some(reporter) = &self.reporter {
                reporter.flush().await;
            }
        };
        tokio::join!(spans, reports);
    }

    /// Starts reading the late secrets, once: from the first flush, which runs after the first
    /// response. Spawned at init instead, on the current-thread runtime a function runs on, the
    /// task would run (building its client, sending its request) before the runtime's first
    /// poll for an event, and so lengthen every cold start.
    fn start_reading_secrets(&self) {
        if let Some(read) = self.settings.secrets.as_ref().and_then(|s| s.take()) {
            let late = self.clone();
            tokio::spawn(async move { late.provide_secrets(read.await) });
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> Stats {
        let exporter = |name| {
            self.exports
                .stats(name)
                .map(|s: Arc<PathStats>| ExporterStats {
                    exported: s.exported.load(Ordering::Relaxed),
                    dropped: s.dropped.load(Ordering::Relaxed),
                    failed_exports: s.failed_exports.load(Ordering::Relaxed),
                })
        };
        let (delivered, not_delivered) = self
            .reporter
            .as_ref()
            .map(|r| {
                let s = &r.stats;
                (
                    s.delivered.load(Ordering::Relaxed),
                    s.rate_limited.load(Ordering::Relaxed)
                        + s.over_invocation_limit.load(Ordering::Relaxed)
                        + s.failed.load(Ordering::Relaxed),
                )
            })
            .unwrap_or_default();
        Stats {
            xray: exporter("xray").unwrap_or_default(),
            otlp: exporter("otlp"),
            xray_documents_sent: self.xray_documents.sent.load(Ordering::Relaxed),
            xray_documents_truncated: self.xray_documents.truncated.load(Ordering::Relaxed),
            xray_documents_dropped: self.xray_documents.dropped.load(Ordering::Relaxed),
            reports_delivered: delivered,
            reports_not_delivered: not_delivered,
        }
    }

    /// Whether error reports are on, or will be once the late secrets arrive.
    pub(crate) fn reports_errors(&self) -> bool {
        self.reporter.is_some()
    }

    /// The late secrets arrived: error reports and OTLP export start (a value the environment
    /// gave is kept).
    pub(crate) fn provide_secrets(&self, secrets: LateSecrets) {
        let reports = match (&self.reporter, secrets.rollbar_token) {
            (Some(reporter), Some(token)) => {
                reporter.provide_token(token);
                "on"
            }
            (Some(reporter), None) if reporter.is_ready() => "on",
            _ => "off (no token)",
        };
        let _ = self.otlp_headers.set(secrets.otlp_headers);
        tracing::info!(target: "telemetry", reports, "secrets read: error reports {reports}, OTLP export on where configured");
    }

    pub(crate) fn settings(&self) -> &Settings {
        &self.settings
    }
}

/// Spans and events of the application and the runtime go to the trace backends; the
/// telemetry's own machinery (exporters, HTTP clients) never does, so exporting cannot trace
/// itself.
fn is_application_span(metadata: &Metadata<'_>) -> bool {
    const INTERNAL: [&str; 9] = [
        "opentelemetry",
        "ureq",
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

fn exports(
    settings: &Arc<Settings>,
    xray_documents: &Arc<DaemonStats>,
    otlp_headers: &OtlpHeaders,
) -> Exports {
    let xray_settings = settings.clone();
    let annotations = settings.annotations.clone();
    let stats = xray_documents.clone();
    let mut exports = Exports::default().with_exporter(
        "xray",
        settings.queue_size,
        Box::new(|span| {
            (span.span_context.trace_state().get(XRAY_UNSAMPLED.0) != Some(XRAY_UNSAMPLED.1))
                .then_some(span)
        }),
        move || {
            let client = UdpDaemonClient::new(&xray_settings.xray_daemon_address, stats);
            let mut exporter = XrayExporter::new(client, annotations);
            exporter.set_resource(&resource(&xray_settings));
            Some(exporter)
        },
    );
    if settings.otlp_endpoint.is_some() {
        let ratio = settings.otlp_sample_ratio;
        let otlp_settings = settings.clone();
        let gate = otlp_headers.clone();
        let headers = otlp_headers.clone();
        exports = exports.with_exporter(
            "otlp",
            settings.queue_size,
            // Off (nothing queued) until the headers are known.
            Box::new(move |span| {
                (gate.get().is_some() && keep_trace(&span, ratio)).then(|| otlp_view(span))
            }),
            move || otlp_exporter(&otlp_settings, headers.get().cloned().unwrap_or_default()),
        );
    }
    exports
}

/// Makes ring rustls' process-wide crypto provider, which the OTLP and Rollbar client (ureq
/// without a bundled provider, see `transport`) uses. Ring: the AWS SDK clients of an
/// application can use ring too, and one TLS stack is half the bytes of two. An application that
/// installed its own provider first keeps it.
fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The OTLP/HTTP protobuf exporter. Endpoint, headers (`x-honeycomb-team=...`) and timeout come
/// from the standard `OTEL_EXPORTER_OTLP_*` variables, plus any late `headers`. No retries: a
/// retry would hold the export thread while the next invocations queue up; the next flush tries
/// again with new spans.
fn otlp_exporter(
    settings: &Settings,
    headers: Vec<(String, String)>,
) -> Option<opentelemetry_otlp::SpanExporter> {
    let mut builder = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_http_client(BlockingHttp::new(settings.otlp_timeout))
        .with_retry_policy(opentelemetry_otlp::RetryPolicy::disabled());
    if !headers.is_empty() {
        builder = builder.with_headers(headers.into_iter().collect());
    }
    let mut exporter = builder
        .build()
        .map_err(|err| {
            tracing::warn!(target: "telemetry", error = %err, "cannot build the OTLP exporter; OTLP export is off");
        })
        .ok()?;
    exporter.set_resource(&resource(settings));
    Some(exporter)
}

#[cfg(test)]
#[path = "pipeline_tests.rs"]
mod tests;
