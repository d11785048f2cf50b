//! Span export that stays out of the request's way.
//!
//! Ended spans are queued (bounded; drops are counted and logged) for each exporter, each on its
//! own thread (started by the first flush), and nothing is exported until [`Exports::flush`] is
//! called: the runtime layer calls it after the response has been posted to the Runtime API and
//! before it asks for the next invocation, so Lambda's freeze loses nothing and callers wait for
//! nothing. The flush is awaited with a deadline on the async side (a oneshot per exporter),
//! never by blocking a runtime thread, so current-thread runtimes cannot deadlock on it.
//!
//! An exporter that talks to a remote backend (OTLP) has a [`Breaker`]: once the backend fails,
//! flushes stop waiting for it and its spans stay on the exporter's thread (within the same
//! bound) until a probe finds it answering again; they are then sent first, oldest first.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[cfg(feature = "otlp")]
use opentelemetry::trace::{SpanId, Status};
use opentelemetry::Context;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{Span, SpanData, SpanExporter, SpanProcessor};
use tokio::sync::oneshot;

use crate::breaker::{Breaker, Failure, Permit};
use crate::worker::Worker;

/// Decides per exporter whether and how a span is exported.
pub(crate) type Transform = Box<dyn Fn(SpanData) -> Option<SpanData> + Send + Sync>;

/// Reads why an export failed (the backend's answer, where the exporter's error hides it).
pub(crate) type Classify = Box<dyn Fn(&OTelSdkError) -> Failure + Send>;

/// What an exporter thread is asked to do: take these spans, export everything it holds if
/// `send` (else keep it: the backend is resting), then say so.
struct Flush {
    spans: Vec<SpanData>,
    send: bool,
    done: oneshot::Sender<()>,
}

/// Counters of one export path.
#[derive(Debug, Default)]
pub(crate) struct PathStats {
    pub(crate) exported: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) failed_exports: AtomicU64,
}

/// How a path's thread is made: its exporter (built on that thread, off the cold-start path),
/// and, for a remote backend, the breaker and how to read a failure.
pub(crate) struct Exporter<F> {
    pub(crate) make: F,
    pub(crate) breaker: Option<Arc<Breaker>>,
    pub(crate) classify: Option<Classify>,
}

/// One exporter: its queue, its thread and its transform.
struct ExportPath {
    name: &'static str,
    worker: Worker<Flush>,
    /// Spans of the current invocation, handed to the exporter thread in one message at flush:
    /// a message per span would wake that thread on the request path, once per span.
    pending: Mutex<Vec<SpanData>>,
    /// Spans accepted and not yet exported or dropped (pending, or held by the thread while
    /// the backend rests); at most `queue_size`.
    queued: Arc<AtomicUsize>,
    queue_size: usize,
    transform: Transform,
    breaker: Option<Arc<Breaker>>,
    stats: Arc<PathStats>,
    drop_logged: Arc<AtomicBool>,
}

impl fmt::Debug for ExportPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExportPath")
            .field("name", &self.name)
            .field("stats", &self.stats)
            .finish()
    }
}

impl ExportPath {
    /// The path and its exporter thread, which starts with the first flush.
    fn new<E, F>(
        name: &'static str,
        queue_size: usize,
        transform: Transform,
        exporter: Exporter<F>,
    ) -> Self
    where
        E: SpanExporter + 'static,
        F: FnOnce() -> Option<E> + Send + 'static,
    {
        // The thread's channel is unbounded so a flush request always gets through; spans are
        // bounded by the `queued` count instead.
        let queued = Arc::new(AtomicUsize::new(0));
        let stats = Arc::new(PathStats::default());
        let drop_logged = Arc::new(AtomicBool::new(false));
        let breaker = exporter.breaker.clone();
        let thread = PathThread {
            name,
            queued: queued.clone(),
            stats: stats.clone(),
            drop_logged: drop_logged.clone(),
            breaker: exporter.breaker,
            classify: exporter.classify,
        };
        let make = exporter.make;
        let worker = Worker::new(format!("telemetry-{name}"), move |receiver| {
            thread.run(make, receiver)
        });
        Self {
            name,
            worker,
            pending: Mutex::new(Vec::new()),
            queued,
            queue_size: queue_size.max(1),
            transform,
            breaker,
            stats,
            drop_logged,
        }
    }

    fn enqueue(&self, span: SpanData) {
        if self.breaker.as_ref().is_some_and(|b| b.is_stopped()) {
            return;
        }
        let Some(span) = (self.transform)(span) else {
            return;
        };
        if self.queued.fetch_add(1, Ordering::AcqRel) >= self.queue_size {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            count_drop(self.name, &self.stats, &self.drop_logged, 1);
            return;
        }
        match self.pending.lock() {
            Ok(mut pending) => pending.push(span),
            Err(_) => {
                self.queued.fetch_sub(1, Ordering::AcqRel);
                count_drop(self.name, &self.stats, &self.drop_logged, 1);
            }
        }
    }

    /// Hands this invocation's spans to the thread; with a `wait`, asks it to export and
    /// returns how to wait for that.
    fn request_flush(&self, wait: Option<Duration>) -> Option<(oneshot::Receiver<()>, Duration)> {
        let spans = self
            .pending
            .lock()
            .map(|mut pending| std::mem::take(&mut *pending))
            .unwrap_or_default();
        if spans.is_empty() && wait.is_none() {
            return None;
        }
        let (done, waiter) = oneshot::channel();
        let flush = Flush {
            spans,
            send: wait.is_some(),
            done,
        };
        match self.worker.send(flush) {
            Ok(()) => wait.map(|wait| (waiter, wait)),
            Err(Flush { spans, .. }) => {
                if !spans.is_empty() {
                    self.queued.fetch_sub(spans.len(), Ordering::AcqRel);
                    count_drop(
                        self.name,
                        &self.stats,
                        &self.drop_logged,
                        spans.len() as u64,
                    );
                }
                None
            }
        }
    }
}

fn count_drop(name: &str, stats: &PathStats, logged: &AtomicBool, n: u64) {
    stats.dropped.fetch_add(n, Ordering::Relaxed);
    if !logged.swap(true, Ordering::Relaxed) {
        tracing::warn!(target: "telemetry", exporter = name, "telemetry spans are being dropped (the export queue, OTEL_BSP_MAX_QUEUE_SIZE, is full, or the exporter is off); counted, and published as a metric");
    }
}

/// What an exporter thread keeps and counts.
struct PathThread {
    name: &'static str,
    queued: Arc<AtomicUsize>,
    stats: Arc<PathStats>,
    drop_logged: Arc<AtomicBool>,
    breaker: Option<Arc<Breaker>>,
    classify: Option<Classify>,
}

impl PathThread {
    /// The exporter thread. The exporter is built with the first spans to export: after the
    /// process's subscriber is installed (so its warnings are logged), off the cold-start path,
    /// and once whatever it needs (e.g. late headers) is in.
    fn run<E: SpanExporter, F: FnOnce() -> Option<E>>(self, make: F, receiver: Receiver<Flush>) {
        let mut failure_logged = false;
        let mut make = Some(make);
        let mut exporter = None;
        // Spans held while the backend rests, oldest first: the next export sends them first.
        let mut held: Vec<SpanData> = Vec::new();
        for Flush { spans, send, done } in receiver {
            held.extend(spans);
            if self.breaker.as_ref().is_some_and(|b| b.is_stopped()) {
                self.forget(std::mem::take(&mut held).len());
            }
            if send && !held.is_empty() {
                if let Some(make) = make.take() {
                    exporter = make();
                }
                match &exporter {
                    Some(exporter) => {
                        held = self.export(exporter, std::mem::take(&mut held), &mut failure_logged)
                    }
                    None => self.forget(std::mem::take(&mut held).len()),
                }
            }
            let _ = done.send(());
        }
    }

    /// Exports `batch`; gives back what is to be held for the next try.
    fn export<E: SpanExporter>(
        &self,
        exporter: &E,
        batch: Vec<SpanData>,
        failure_logged: &mut bool,
    ) -> Vec<SpanData> {
        let count = batch.len();
        // With a breaker, a batch the backend did not take is held for the next try (the
        // exporter consumes what it is given, so it gets a copy).
        let kept = self.breaker.is_some().then(|| batch.clone());
        // A plain executor, not tokio: the blocking HTTP client refuses to run inside a tokio
        // runtime context.
        match futures_executor::block_on(exporter.export(batch)) {
            Ok(()) => {
                self.stats
                    .exported
                    .fetch_add(count as u64, Ordering::Relaxed);
                self.queued.fetch_sub(count, Ordering::AcqRel);
                if let Some(breaker) = &self.breaker {
                    breaker.succeeded();
                }
                Vec::new()
            }
            Err(err) => {
                self.stats.failed_exports.fetch_add(1, Ordering::Relaxed);
                match (&self.breaker, &self.classify) {
                    (Some(breaker), Some(classify)) => breaker.failed(classify(&err)),
                    (Some(breaker), None) => breaker.failed(Failure::Unavailable(err.to_string())),
                    _ if !*failure_logged => {
                        *failure_logged = true;
                        tracing::warn!(target: "telemetry", exporter = self.name, error = %err, "telemetry export failed; further failures are counted, not logged");
                    }
                    _ => {}
                }
                match kept {
                    Some(kept) => kept,
                    None => {
                        self.forget(count);
                        Vec::new()
                    }
                }
            }
        }
    }

    /// `count` spans leave the queue unexported.
    fn forget(&self, count: usize) {
        if count > 0 {
            self.queued.fetch_sub(count, Ordering::AcqRel);
            count_drop(self.name, &self.stats, &self.drop_logged, count as u64);
        }
    }
}

/// The span processor behind every exporter, and the handle the runtime flushes.
#[derive(Debug, Clone, Default)]
pub(crate) struct Exports {
    paths: Arc<Vec<ExportPath>>,
}

impl Exports {
    /// Adds an exporter, with its own queue, thread and transform (before the processor is handed
    /// to the tracer provider).
    pub(crate) fn with_exporter<E, F>(
        mut self,
        name: &'static str,
        queue_size: usize,
        transform: Transform,
        exporter: Exporter<F>,
    ) -> Self
    where
        E: SpanExporter + 'static,
        F: FnOnce() -> Option<E> + Send + 'static,
    {
        Arc::get_mut(&mut self.paths)
            .expect("paths are added before sharing")
            .push(ExportPath::new(name, queue_size, transform, exporter));
        self
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// Exports everything queued so far: each exporter is waited for at most `timeout`, or its
    /// probe budget, or not at all while its backend rests (or when `wait` is false). A wait
    /// that runs out counts as the backend's failure. Returns whether every awaited exporter
    /// finished in time.
    pub(crate) async fn flush(&self, timeout: Duration, wait: bool) -> bool {
        let start = tokio::time::Instant::now();
        let mut waits = Vec::new();
        for path in self.paths.iter() {
            // Nothing to send: no permit is taken (a probe with nothing in it would prove
            // nothing, and would leave the breaker waiting for its outcome).
            if path.queued.load(Ordering::Acquire) == 0 {
                continue;
            }
            let permit = path
                .breaker
                .as_ref()
                .map_or(Permit::Send(timeout), |b| b.permit(timeout));
            let wait = match permit {
                Permit::Send(wait) | Permit::Probe(wait) => Some(wait),
                Permit::Hold | Permit::Stopped => None,
            };
            if let Some((done, wait)) = path.request_flush(wait) {
                waits.push((path, done, wait));
            }
        }
        if !wait {
            return true;
        }
        let mut all_in_time = true;
        for (path, done, wait) in waits {
            if tokio::time::timeout_at(start + wait, done).await.is_err() {
                all_in_time = false;
                if let Some(breaker) = &path.breaker {
                    breaker.failed(Failure::Unavailable(format!(
                        "no answer within {} ms",
                        wait.as_millis()
                    )));
                }
            }
        }
        all_in_time
    }

    /// Sends everything queued, whatever the breakers say (short of refused credentials), and
    /// waits for it at most `timeout`: the last chance, at shutdown.
    pub(crate) async fn flush_now(&self, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        let waits: Vec<_> = self
            .paths
            .iter()
            .filter(|path| !path.breaker.as_ref().is_some_and(|b| b.is_stopped()))
            .filter_map(|path| path.request_flush(Some(timeout)))
            .collect();
        for (done, _) in waits {
            let _ = tokio::time::timeout_at(deadline, done).await;
        }
    }

    /// Counters per exporter name.
    pub(crate) fn stats(&self, name: &str) -> Option<Arc<PathStats>> {
        self.paths
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.stats.clone())
    }

    /// The exporters' names and counters.
    pub(crate) fn all_stats(&self) -> impl Iterator<Item = (&'static str, &PathStats)> {
        self.paths.iter().map(|p| (p.name, &*p.stats))
    }
}

impl SpanProcessor for Exports {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        if let Some((last, rest)) = self.paths.split_last() {
            for path in rest {
                path.enqueue(span.clone());
            }
            last.enqueue(span);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        // Only the SDK's shutdown path calls this; the runtime uses the async `flush`.
        for path in self.paths.iter() {
            let _ = path.request_flush(Some(Duration::ZERO));
        }
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        self.force_flush()
    }
}

/// The OTLP view of a span: the invocation's remote parent (Lambda's facade segment, which the
/// OTLP backend never receives) is dropped so the trace there has a root; and a 4xx is a client's
/// error, not the server span's (OpenTelemetry's HTTP conventions).
#[cfg(feature = "otlp")]
pub(crate) fn otlp_view(mut span: SpanData) -> SpanData {
    if span.parent_span_is_remote {
        span.parent_span_id = SpanId::INVALID;
        span.parent_span_is_remote = false;
    }
    client_errors_are_not_span_errors(span)
}

/// The view X-Ray's OTLP endpoint gets: the invocation keeps its parent, Lambda's facade segment
/// (X-Ray has it, so the trace joins it, as on the daemon path); a 4xx is not the span's error
/// (X-Ray derives error, throttle and fault from `http.response.status_code`); and the span's
/// annotations (the configured fields under their keys, `annotation.<key>` fields) are
/// attributes listed in `aws.xray.annotations`, the attribute by which X-Ray indexes them.
#[cfg(feature = "otlp")]
pub(crate) fn xray_otlp_view(span: SpanData, annotations: &[(String, String)]) -> SpanData {
    use opentelemetry::{Array, KeyValue, StringValue, Value};
    let mut span = client_errors_are_not_span_errors(span);
    let mut keys: Vec<StringValue> = Vec::new();
    let mut copies = Vec::new();
    for kv in span.attributes.iter_mut() {
        if let Some(key) = kv.key.as_str().strip_prefix("annotation.") {
            let key = crate::settings::annotation_key(key);
            kv.key = key.clone().into();
            keys.push(key.into());
        } else if let Some((_, key)) = annotations.iter().find(|(f, _)| f == kv.key.as_str()) {
            if key != kv.key.as_str() {
                copies.push(KeyValue::new(key.clone(), kv.value.clone()));
            }
            keys.push(key.clone().into());
        }
    }
    if !keys.is_empty() {
        span.attributes.extend(copies);
        span.attributes.push(KeyValue::new(
            crate::settings::XRAY_ANNOTATIONS_ATTRIBUTE,
            Value::Array(Array::String(keys)),
        ));
    }
    span
}

#[cfg(feature = "otlp")]
fn client_errors_are_not_span_errors(mut span: SpanData) -> SpanData {
    let client_error = span.attributes.iter().any(|kv| {
        kv.key.as_str() == "http.response.status_code"
            && matches!(kv.value.as_str().parse::<u16>(), Ok(400..=499))
    });
    if client_error && matches!(span.status, Status::Error { .. }) {
        span.status = Status::Unset;
    }
    span
}

/// Keeps a deterministic fraction of traces (by trace id, so a trace is kept or dropped whole).
#[cfg(feature = "otlp")]
pub(crate) fn keep_trace(span: &SpanData, ratio: f64) -> bool {
    if ratio >= 1.0 {
        return true;
    }
    if ratio <= 0.0 {
        return false;
    }
    let bytes = span.span_context.trace_id().to_bytes();
    let low = u64::from_be_bytes(bytes[8..16].try_into().expect("16-byte trace id"));
    (low >> 1) < ((ratio * (1u64 << 63) as f64) as u64)
}
