//! Assembles the one pipeline: `tracing` -> tracing-opentelemetry -> OpenTelemetry SDK
//! (X-Ray ids, Lambda resource) -> X-Ray over UDP and, when configured, OTLP/HTTP; plus JSON
//! logs, EMF metrics, the invocation context and error reports. Built once per cold start.
//!
//! Every layer carries its own filter, so an event no layer wants is never built: its fields (a
//! dependency's `trace!` of a raw event, say) are not even evaluated.

use std::future::Future;
use std::io::Write;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
#[cfg(feature = "otlp")]
use std::sync::OnceLock;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_aws::detector::LambdaResourceDetector;
use opentelemetry_aws::trace::XrayIdGenerator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing::{Metadata, Subscriber};
use tracing_subscriber::filter::{filter_fn, LevelFilter};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use crate::breaker::{Breaker, Failure, Permit};
use crate::context::ContextLayer;
use crate::export::{Exports, PathStats};
use crate::invocation::InvocationLayer;
use crate::logs::{self, JsonLogLayer, Output};
#[cfg(feature = "rollbar")]
use crate::rollbar::{ReportLayer, Reporter};
use crate::settings::{LateSecrets, Settings};

/// The future of one flush, as the invocation layer runs it.
type FlushFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The OTLP exports' extra headers; unset while they are still to arrive with the late secrets.
#[cfg(feature = "otlp")]
type OtlpHeaders = Arc<OnceLock<Vec<(String, String)>>>;

/// The process's telemetry: its exporters and error reporter, the `tracing` layers that feed
/// them, what to flush after each invocation, and its counters. Cheap to clone.
///
/// [`crate::init`] builds one and installs [`Telemetry::layer`] as the global subscriber. An
/// application with a subscriber of its own builds one with [`Telemetry::new`] and adds the
/// layers it wants to its own stack:
///
/// ```no_run
/// use lambda_telemetry::{Settings, Telemetry};
/// use tracing_subscriber::layer::SubscriberExt;
///
/// let telemetry = Telemetry::new(Settings::from_env());
/// let subscriber = tracing_subscriber::registry()
///     // The invocation context the other layers read, then traces only: the application
///     // keeps its own log format.
///     .with(telemetry.context_layer())
///     .with(telemetry.traces_layer());
/// tracing::subscriber::set_global_default(subscriber).expect("the first subscriber");
/// ```
#[derive(Clone)]
pub struct Telemetry {
    settings: Arc<Settings>,
    output: Output,
    exports: Exports,
    #[cfg(feature = "xray")]
    xray_documents: Arc<crate::xray::DaemonStats>,
    #[cfg(feature = "rollbar")]
    reporter: Option<Arc<Reporter>>,
    #[cfg(feature = "otlp")]
    otlp_headers: OtlpHeaders,
    /// Spans cut to fit X-Ray's OTLP per-span limit.
    #[cfg(feature = "otlp")]
    xray_otlp_trimmed: Arc<std::sync::atomic::AtomicU64>,
    // Kept so the provider (and its processor) lives as long as the process.
    provider: Option<SdkTracerProvider>,
    drops: Arc<Mutex<DropCounts>>,
    secrets: Arc<SecretsState>,
}

/// Where the read of the late secrets stands.
#[derive(Debug)]
struct SecretsState {
    breaker: Breaker,
    /// A read is under way.
    reading: AtomicBool,
    /// The secrets arrived.
    read: AtomicBool,
}

/// The longest a read of the late secrets may take before it counts as failed.
const SECRETS_DEADLINE: Duration = Duration::from_secs(5);

/// What was last said about dropped telemetry.
#[derive(Debug, Default)]
struct DropCounts {
    said_at: Option<Instant>,
    /// (backend, dropped so far) as last said.
    said: Vec<(&'static str, u64)>,
}

/// How often dropped counts are logged and published at most (each a log line and an EMF
/// document while a backend is down).
const DROPS_EVERY: Duration = Duration::from_secs(60);

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

/// The telemetry's counters: what left, what was cut, what was lost. A backend whose feature is
/// off counts nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// The X-Ray exporter.
    pub xray: ExporterStats,
    /// The OTLP exporter, when one is configured.
    pub otlp: Option<ExporterStats>,
    /// Segment documents sent to the daemon.
    pub xray_documents_sent: u64,
    /// Spans cut to fit X-Ray's OTLP endpoint (200 KB a span): attributes, then events left out.
    pub xray_otlp_spans_trimmed: u64,
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
    /// Builds the exporters and the error reporter, logging to stdout (Lambda's log stream).
    /// Nothing is installed globally and no thread starts: exporters start with the first
    /// [`Telemetry::flush`].
    pub fn new(settings: Settings) -> Self {
        Self::with_log_writer(settings, std::io::stdout())
    }

    /// [`Telemetry::new`] with log lines and metric documents written to `logs`.
    pub fn with_log_writer(settings: Settings, logs: impl Write + Send + 'static) -> Self {
        #[cfg(feature = "https")]
        crate::transport::install_crypto_provider();
        let settings = Arc::new(settings);
        #[cfg(feature = "xray")]
        let xray_documents = Arc::new(crate::xray::DaemonStats::default());
        #[cfg(feature = "rollbar")]
        let reporter = Reporter::start(
            &settings.rollbar,
            settings.function_name.clone(),
            settings.secrets.is_some(),
            settings.backoff,
        );
        #[cfg(feature = "otlp")]
        let otlp_headers: OtlpHeaders = Arc::new(OnceLock::new());
        #[cfg(feature = "otlp")]
        if settings.secrets.is_none() || settings.xray_otlp.is_some() {
            // Only the environment's headers (`OTEL_EXPORTER_OTLP_HEADERS`), known now; X-Ray's
            // endpoint takes none (late headers are another backend's key, never sent to AWS).
            let _ = otlp_headers.set(Vec::new());
        }
        #[cfg(feature = "otlp")]
        let xray_otlp_trimmed = Arc::default();
        // X-Ray's OTLP endpoint replaces the daemon: both would deliver every span twice.
        #[cfg(feature = "xray")]
        let daemon = !(cfg!(feature = "otlp") && settings.xray_otlp.is_some());
        #[allow(unused_mut)] // without a trace exporter feature
        let mut exports = Exports::default();
        if !settings.tracing_disabled {
            #[cfg(feature = "xray")]
            if daemon {
                exports = xray_export(exports, &settings, &xray_documents);
            }
            #[cfg(feature = "otlp")]
            {
                exports = match &settings.xray_otlp {
                    Some(target) => {
                        xray_otlp_export(exports, &settings, target, &xray_otlp_trimmed)
                    }
                    None => otlp_export(exports, &settings, &otlp_headers),
                };
            }
        }
        let provider = (!exports.is_empty()).then(|| {
            SdkTracerProvider::builder()
                .with_id_generator(XrayIdGenerator::default())
                .with_resource(resource(&settings))
                .with_span_processor(exports.clone())
                .build()
        });
        let backoff = settings.backoff;
        Self {
            settings,
            output: Output::new(Box::new(logs)),
            exports,
            #[cfg(feature = "xray")]
            xray_documents,
            #[cfg(feature = "rollbar")]
            reporter,
            #[cfg(feature = "otlp")]
            otlp_headers,
            #[cfg(feature = "otlp")]
            xray_otlp_trimmed,
            provider,
            drops: Arc::default(),
            secrets: Arc::new(SecretsState {
                breaker: Breaker::new(
                    "the secrets read",
                    "the application's access to its secrets",
                    backoff,
                ),
                reading: AtomicBool::new(false),
                read: AtomicBool::new(false),
            }),
        }
    }

    /// Every layer below, each with its own filter, in the order they work together: what
    /// [`crate::init`] installs.
    pub fn layer<S>(&self) -> impl Layer<S>
    where
        S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
    {
        // A `Vec` of layers, not a chain of `and_then`: a chain of filtered layers reports the
        // outermost layer's level hint as the whole stack's, so `RUST_LOG=debug` lines were
        // never built; a `Vec` reports the most verbose of its layers' hints.
        let mut layers: Vec<Box<dyn Layer<S> + Send + Sync>> =
            vec![Box::new(self.logs_layer()), Box::new(self.context_layer())];
        #[cfg(feature = "emf")]
        layers.push(Box::new(self.metrics_layer()));
        #[cfg(feature = "rollbar")]
        layers.push(Box::new(self.reports_layer()));
        layers.push(Box::new(self.traces_layer()));
        layers
    }

    /// The invocation context (request id, trace, caller, status, cause) that logs, reports
    /// and traces read from the invocation span. Add it whenever you add any other layer of
    /// this crate.
    pub fn context_layer<S>(&self) -> impl Layer<S>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        ContextLayer.with_filter(LevelFilter::INFO)
    }

    /// One JSON object per log line, with the invocation's context, for CloudWatch Logs.
    /// Filtered by `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG`.
    pub fn logs_layer<S>(&self) -> impl Layer<S>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        JsonLogLayer::new(&self.settings, self.output.clone())
            .with_filter(logs::filter(&self.settings))
    }

    /// Events with `metric.<Name> = <count>` fields as CloudWatch Embedded Metric Format lines.
    #[cfg(feature = "emf")]
    pub fn metrics_layer<S>(&self) -> impl Layer<S>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        crate::metrics::EmfLayer::new(&self.settings, self.output.clone())
            .with_filter(LevelFilter::INFO)
    }

    /// Error reports to Rollbar: panics, 5xx answers, failed handlers and events logged with
    /// `report = true`. Does nothing without a token.
    #[cfg(feature = "rollbar")]
    pub fn reports_layer<S>(&self) -> impl Layer<S>
    where
        S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
    {
        present_or_identity(
            self.reporter
                .clone()
                .map(|r| ReportLayer::new(r).with_filter(LevelFilter::INFO)),
        )
    }

    /// Spans to the trace backends (X-Ray, OTLP) through OpenTelemetry; INFO spans and above of
    /// the application and the runtime, never this crate's own traffic.
    pub fn traces_layer<S>(&self) -> impl Layer<S>
    where
        S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
    {
        present_or_identity(self.provider.as_ref().map(|provider| {
            tracing_opentelemetry::layer()
                .with_tracer(provider.tracer(env!("CARGO_PKG_NAME")))
                .with_location(false)
                .with_threads(false)
                .with_target(false)
                .with_tracked_inactivity(false)
                .with_filter(filter_fn(is_application_span).with_max_level_hint(LevelFilter::INFO))
        }))
    }

    /// Exports the invocation's spans and delivers its error reports, each within its deadline.
    /// The runtime calls it after each response (see [`crate::InvocationLayer`]).
    ///
    /// With invocations in flight at once (`AWS_LAMBDA_MAX_CONCURRENCY` above 1), it hands them
    /// over and returns at once: Lambda Managed Instances do not freeze a process between
    /// invocations, and waiting would hold this invocation's poller behind the exports of all
    /// the others. What is still queued at shutdown is sent then.
    pub async fn flush(&self) {
        self.start_reading_secrets();
        let wait = self.settings.max_concurrency <= 1;
        let spans = async {
            if !self.exports.is_empty()
                && !self.exports.flush(self.settings.flush_timeout, wait).await
            {
                tracing::debug!(target: "telemetry", "span export took longer than its deadline; moving on");
            }
        };
        let reports = async {
            #[cfg(feature = "rollbar")]
            if let Some(reporter) = &self.reporter {
                reporter.flush(wait).await;
            }
        };
        tokio::join!(spans, reports);
        self.say_drops();
    }

    /// Sends everything still queued, to every backend whose credentials were not refused,
    /// within `budget`: what runs at shutdown (see [`Telemetry::flush_on_shutdown`]).
    pub async fn flush_now(&self, budget: Duration) {
        let spans = self.exports.flush_now(budget);
        let reports = async {
            #[cfg(feature = "rollbar")]
            if let Some(reporter) = &self.reporter {
                reporter.flush_now(budget).await;
            }
        };
        tokio::join!(spans, reports);
    }

    /// On Lambda, registers the process as an internal extension so that Lambda sends it SIGTERM
    /// before shutting the sandbox down, and on SIGTERM sends what is still queued within
    /// 400 ms of Lambda's 500 ms, then exits. [`crate::run`] and [`crate::run_events`] call it
    /// unless the settings turn it off (`LAMBDA_TELEMETRY_SHUTDOWN_FLUSH=false`, or a local
    /// run); call it before `Runtime::run` in a runtime of your own. Where there is no
    /// Extensions API (`cargo lambda watch`, an emulator), it does nothing.
    pub async fn flush_on_shutdown(&self) {
        crate::shutdown::flush_on_shutdown(self.clone()).await;
    }

    /// Logs what was dropped since it was last said, per backend, with an EMF metric each
    /// (`XraySpansDropped`, `OtlpSpansDropped`, `RollbarReportsDropped`): at most once a minute.
    fn say_drops(&self) {
        #[allow(unused_mut)] // without the `rollbar` feature
        let mut any = self
            .exports
            .all_stats()
            .any(|(_, stats)| stats.dropped.load(Ordering::Relaxed) > 0);
        #[cfg(feature = "rollbar")]
        {
            any |= self
                .reporter
                .as_ref()
                .is_some_and(|r| r.stats.dropped.load(Ordering::Relaxed) > 0);
        }
        // The common case, after every response: nothing was ever dropped, nothing to build.
        if !any {
            return;
        }
        #[allow(unused_mut)] // without the `rollbar` feature
        let mut counts: Vec<(&'static str, u64)> = self
            .exports
            .all_stats()
            .map(|(name, stats)| (name, stats.dropped.load(Ordering::Relaxed)))
            .collect();
        #[cfg(feature = "rollbar")]
        if let Some(reporter) = &self.reporter {
            counts.push(("rollbar", reporter.stats.dropped.load(Ordering::Relaxed)));
        }
        let mut drops = self.drops.lock().unwrap_or_else(PoisonError::into_inner);
        let recent = drops.said_at.is_some_and(|at| at.elapsed() < DROPS_EVERY);
        if recent || counts.iter().all(|c| drops.said.contains(c) || c.1 == 0) {
            return;
        }
        for &(backend, total) in &counts {
            let before = drops
                .said
                .iter()
                .find(|(b, _)| *b == backend)
                .map_or(0, |c| c.1);
            let dropped = total - before.min(total);
            if dropped == 0 {
                continue;
            }
            match backend {
                "xray" => {
                    tracing::warn!(target: "telemetry", backend, dropped, total, metric.XraySpansDropped = dropped, "telemetry dropped")
                }
                "otlp" => {
                    tracing::warn!(target: "telemetry", backend, dropped, total, metric.OtlpSpansDropped = dropped, "telemetry dropped")
                }
                _ => {
                    tracing::warn!(target: "telemetry", backend, dropped, total, metric.RollbarReportsDropped = dropped, "telemetry dropped")
                }
            }
        }
        drops.said = counts;
        drops.said_at = Some(Instant::now());
    }

    /// Starts reading the late secrets: from the first flush, which runs after the first
    /// response, and again after a failed read once its backoff has passed, until one succeeds.
    /// Spawned at init instead, on the current-thread runtime a function runs on, the task would
    /// run (building its client, sending its request) before the runtime's first poll for an
    /// event, and so lengthen every cold start.
    fn start_reading_secrets(&self) {
        let Some(secrets) = &self.settings.secrets else {
            return;
        };
        if self.secrets.read.load(Ordering::Acquire) {
            return;
        }
        // One read at a time: the breaker hands out a probe once, and a first read is marked.
        if !matches!(
            self.secrets.breaker.permit(Duration::ZERO),
            Permit::Send(_) | Permit::Probe(_)
        ) || self.secrets.reading.swap(true, Ordering::AcqRel)
        {
            return;
        }
        let read = secrets.read();
        let late = self.clone();
        tokio::spawn(async move {
            let state = &late.secrets;
            match tokio::time::timeout(SECRETS_DEADLINE, read).await {
                Ok(Ok(secrets)) => {
                    state.breaker.succeeded();
                    state.read.store(true, Ordering::Release);
                    late.provide_secrets(secrets);
                }
                Ok(Err(why)) => state.breaker.failed(Failure::Unavailable(why)),
                Err(_) => state.breaker.failed(Failure::Unavailable(format!(
                    "no answer within {} s",
                    SECRETS_DEADLINE.as_secs()
                ))),
            }
            state.reading.store(false, Ordering::Release);
        });
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
        #[allow(unused_mut)]
        let mut stats = Stats {
            xray: exporter("xray").unwrap_or_default(),
            otlp: exporter("otlp"),
            ..Stats::default()
        };
        #[cfg(feature = "otlp")]
        {
            stats.xray_otlp_spans_trimmed = self.xray_otlp_trimmed.load(Ordering::Relaxed);
        }
        #[cfg(feature = "xray")]
        {
            let documents = &self.xray_documents;
            stats.xray_documents_sent = documents.sent.load(Ordering::Relaxed);
            stats.xray_documents_truncated = documents.truncated.load(Ordering::Relaxed);
            stats.xray_documents_dropped = documents.dropped.load(Ordering::Relaxed);
        }
        #[cfg(feature = "rollbar")]
        if let Some(reporter) = &self.reporter {
            let s = &reporter.stats;
            stats.reports_delivered = s.delivered.load(Ordering::Relaxed);
            stats.reports_not_delivered = s.over_invocation_limit.load(Ordering::Relaxed)
                + s.failed.load(Ordering::Relaxed)
                + s.dropped.load(Ordering::Relaxed);
        }
        stats
    }

    /// Whether error reports are on, or will be once the late secrets arrive.
    pub(crate) fn reports_errors(&self) -> bool {
        #[cfg(feature = "rollbar")]
        return self.reporter.is_some();
        #[cfg(not(feature = "rollbar"))]
        false
    }

    /// The late secrets arrived: error reports and OTLP export start (a value the environment
    /// gave is kept).
    pub(crate) fn provide_secrets(&self, secrets: LateSecrets) {
        #[cfg(feature = "rollbar")]
        let reports = match (&self.reporter, secrets.rollbar_token) {
            (Some(reporter), Some(token)) => {
                reporter.provide_token(token);
                "on"
            }
            (Some(reporter), None) if reporter.is_ready() => "on",
            _ => "off (no token)",
        };
        #[cfg(not(feature = "rollbar"))]
        let reports = "off (feature `rollbar` not built)";
        #[cfg(feature = "otlp")]
        let _ = self.otlp_headers.set(secrets.otlp_headers);
        #[cfg(not(feature = "otlp"))]
        let _ = secrets.otlp_headers;
        tracing::info!(target: "telemetry", reports, "secrets read: error reports {reports}, OTLP export on where configured");
    }

    /// The settings the telemetry was built with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The runtime layer for this telemetry: one span per invocation, flushed with
    /// [`Telemetry::flush`] after each response (see [`InvocationLayer`]).
    pub fn invocation_layer(&self) -> InvocationLayer<impl Fn() -> FlushFuture + Clone> {
        let telemetry = self.clone();
        InvocationLayer::new(&self.settings, move || -> FlushFuture {
            let telemetry = telemetry.clone();
            Box::pin(async move { telemetry.flush().await })
        })
    }
}

/// `layer`, or a layer that does nothing. Not `Option<L>`: a `None` layer tells the subscriber
/// that nothing at all is enabled (`LevelFilter::OFF` as its hint), and composed with
/// `Layer::and_then`, that silenced the layers beside it.
fn present_or_identity<S, L>(layer: Option<L>) -> Box<dyn Layer<S> + Send + Sync>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    L: Layer<S> + Send + Sync,
{
    match layer {
        Some(layer) => Box::new(layer),
        None => Box::new(tracing_subscriber::layer::Identity::new()),
    }
}

/// Spans and events of the application and the runtime go to the trace backends; the
/// telemetry's own machinery (exporters, HTTP clients) never does, so exporting cannot trace
/// itself.
fn is_application_span(metadata: &Metadata<'_>) -> bool {
    const INTERNAL: [&str; 10] = [
        "opentelemetry",
        "ureq",
        "hyper",
        "h2",
        "rustls",
        "tower",
        "aws_smithy",
        "aws_config",
        "aws_sigv4",
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

/// The X-Ray path: every span of a sampled trace, as segment documents over UDP.
#[cfg(feature = "xray")]
fn xray_export(
    exports: Exports,
    settings: &Arc<Settings>,
    xray_documents: &Arc<crate::xray::DaemonStats>,
) -> Exports {
    use crate::export::Exporter;
    use crate::propagation::xray_sampled;
    use crate::xray::{UdpDaemonClient, XrayExporter};
    let xray_settings = settings.clone();
    let annotations = settings.annotations.clone();
    let stats = xray_documents.clone();
    exports.with_exporter(
        "xray",
        settings.queue_size,
        Box::new(|span| xray_sampled(&span).then_some(span)),
        // No breaker: a UDP send to the daemon never waits for an answer.
        Exporter {
            make: move || {
                use opentelemetry_sdk::trace::SpanExporter as _;
                let client = UdpDaemonClient::new(&xray_settings.xray_daemon_address, stats);
                let mut exporter = XrayExporter::new(client, annotations);
                exporter.set_resource(&resource(&xray_settings));
                Some(exporter)
            },
            breaker: None,
            classify: None,
        },
    )
}

/// The OTLP path, when an endpoint is configured: its own sampling, off until its headers are
/// known.
#[cfg(feature = "otlp")]
fn otlp_export(exports: Exports, settings: &Arc<Settings>, otlp_headers: &OtlpHeaders) -> Exports {
    use crate::export::{keep_trace, otlp_view, Exporter};
    use crate::transport::{Answer, BlockingHttp};
    if settings.otlp_endpoint.is_none() {
        return exports;
    }
    let ratio = settings.otlp_sample_ratio;
    let otlp_settings = settings.clone();
    let gate = otlp_headers.clone();
    let headers = otlp_headers.clone();
    let http = BlockingHttp::new(settings.otlp_timeout);
    let answers = http.clone();
    exports.with_exporter(
        "otlp",
        settings.queue_size,
        // Off (nothing queued) until the headers are known.
        Box::new(move |span| {
            (gate.get().is_some() && keep_trace(&span, ratio)).then(|| otlp_view(span))
        }),
        Exporter {
            make: move || {
                otlp_exporter(
                    &otlp_settings,
                    headers.get().cloned().unwrap_or_default(),
                    http,
                )
            },
            breaker: Some(Arc::new(Breaker::new(
                "the OTLP endpoint",
                "OTEL_EXPORTER_OTLP_HEADERS (the endpoint's API key)",
                settings.backoff,
            ))),
            classify: Some(Box::new(move |err| {
                Answer::failure(answers.take_last_answer(), err.to_string())
            })),
        },
    )
}

/// The X-Ray OTLP path: the spans the daemon would have had (Lambda's sampling decision), in
/// X-Ray's view, signed for the endpoint.
#[cfg(feature = "otlp")]
fn xray_otlp_export(
    exports: Exports,
    settings: &Arc<Settings>,
    target: &crate::settings::XrayOtlp,
    trimmed: &Arc<std::sync::atomic::AtomicU64>,
) -> Exports {
    use crate::export::Exporter;
    use crate::propagation::xray_sampled;
    use crate::transport::{Answer, BlockingHttp};
    use crate::xray_otlp::XrayOtlpExporter;
    use opentelemetry_sdk::trace::SpanExporter as _;
    let http = BlockingHttp::new(settings.otlp_timeout);
    let answers = http.clone();
    let annotations = settings.annotations.clone();
    let exporter_settings = settings.clone();
    let target = target.clone();
    let trimmed = trimmed.clone();
    exports.with_exporter(
        "otlp",
        settings.queue_size,
        // Only the sampling decision where spans end; X-Ray's view is made on the exporter's thread.
        Box::new(|span| xray_sampled(&span).then_some(span)),
        Exporter {
            make: move || {
                let mut exporter = XrayOtlpExporter::new(target, annotations, http, trimmed)?;
                exporter.set_resource(&resource(&exporter_settings));
                Some(exporter)
            },
            breaker: Some(Arc::new(Breaker::new(
                "X-Ray's OTLP endpoint",
                "that the function's role allows xray:PutTraceSegments, that its AWS credentials are current, and that Transaction Search is on for the account",
                settings.backoff,
            ))),
            classify: Some(Box::new(move |err| {
                Answer::failure(answers.take_last_answer(), err.to_string())
            })),
        },
    )
}

/// The OTLP/HTTP protobuf exporter. Endpoint, headers (`x-honeycomb-team=...`) and timeout come
/// from the standard `OTEL_EXPORTER_OTLP_*` variables, plus any late `headers`. No retries: a
/// retry would hold the export thread while the next invocations queue up; the next flush tries
/// again with new spans.
#[cfg(feature = "otlp")]
fn otlp_exporter(
    settings: &Settings,
    headers: Vec<(String, String)>,
    http: crate::transport::BlockingHttp,
) -> Option<opentelemetry_otlp::SpanExporter> {
    use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
    use opentelemetry_sdk::trace::SpanExporter as _;
    let mut builder = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_http_client(http)
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

#[cfg(all(test, feature = "xray"))]
#[path = "pipeline_tests.rs"]
mod tests;
