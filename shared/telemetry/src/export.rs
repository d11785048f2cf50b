//! Span export that stays out of the request's way.
//!
//! Ended spans are queued (bounded; drops are counted and logged once) for each exporter, each on
//! its own thread (started by the first flush), and nothing is exported until [`Exports::flush`]
//! is called: the runtime layer calls it after the response has been posted to the Runtime API and before it asks for the next
//! invocation, so Lambda's freeze loses nothing and callers wait for nothing. The flush is awaited
//! with a deadline on the async side (a oneshot per exporter), never by blocking a runtime thread,
//! so current-thread runtimes cannot deadlock on it.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[cfg(feature = "otlp")]
use opentelemetry::trace::{SpanId, Status};
use opentelemetry::Context;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Span, SpanData, SpanExporter, SpanProcessor};
use tokio::sync::oneshot;

use crate::worker::Worker;

/// Decides per exporter whether and how a span is exported.
pub(crate) type Transform = Box<dyn Fn(SpanData) -> Option<SpanData> + Send + Sync>;

/// What an exporter thread is asked to do: export these spans, then say so.
struct Flush {
    spans: Vec<SpanData>,
    done: oneshot::Sender<()>,
}

/// Counters of one export path.
#[derive(Debug, Default)]
pub(crate) struct PathStats {
    pub(crate) exported: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) failed_exports: AtomicU64,
}

/// One exporter: its queue, its thread and its transform.
struct ExportPath {
    name: &'static str,
    worker: Worker<Flush>,
    /// Spans of the current invocation, handed to the exporter thread in one message at flush:
    /// a message per span would wake that thread on the request path, once per span.
    pending: Mutex<Vec<SpanData>>,
    /// Spans accepted and not yet exported; at most `queue_size`.
    queued: Arc<AtomicUsize>,
    queue_size: usize,
    transform: Transform,
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
    /// The path and its exporter thread, which starts with the first flush. `make` builds the
    /// exporter on that thread, off the cold-start path.
    fn new<E, F>(name: &'static str, queue_size: usize, transform: Transform, make: F) -> Self
    where
        E: SpanExporter + 'static,
        F: FnOnce() -> Option<E> + Send + 'static,
    {
        // The thread's channel is unbounded so a flush request always gets through; spans are
        // bounded by the `queued` count instead.
        let queued = Arc::new(AtomicUsize::new(0));
        let thread_queued = queued.clone();
        let stats = Arc::new(PathStats::default());
        let drop_logged = Arc::new(AtomicBool::new(false));
        let thread_stats = stats.clone();
        let worker = Worker::new(format!("telemetry-{name}"), move |receiver| {
            run_path(name, make, receiver, &thread_queued, &thread_stats)
        });
        Self {
            name,
            worker,
            pending: Mutex::new(Vec::new()),
            queued,
            queue_size: queue_size.max(1),
            transform,
            stats,
            drop_logged,
        }
    }

    fn enqueue(&self, span: SpanData) {
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

    fn request_flush(&self) -> Option<oneshot::Receiver<()>> {
        let spans = self
            .pending
            .lock()
            .map(|mut pending| std::mem::take(&mut *pending))
            .unwrap_or_default();
        let (done, waiter) = oneshot::channel();
        match self.worker.send(Flush { spans, done }) {
            Ok(()) => Some(waiter),
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
        tracing::warn!(target: "telemetry", exporter = name, "telemetry export queue is full; spans are being dropped (counted, logged once)");
    }
}

/// The exporter thread. The exporter is built at the first flush: after the process's
/// subscriber is installed (so its warnings are logged) and off the cold-start path.
fn run_path<E: SpanExporter, F: FnOnce() -> Option<E>>(
    name: &'static str,
    make: F,
    receiver: Receiver<Flush>,
    queued: &AtomicUsize,
    stats: &PathStats,
) {
    let mut failure_logged = false;
    let mut make = Some(make);
    let mut exporter = None;
    for Flush { spans, done } in receiver {
        // Built with the first spans to export, when whatever it needs (e.g. late headers) is in.
        if !spans.is_empty() {
            if let Some(make) = make.take() {
                exporter = make();
            }
        }
        let held = spans.len();
        if let (Some(exporter), false) = (&exporter, spans.is_empty()) {
            // A plain executor, not tokio: the blocking HTTP client refuses to run inside a tokio
            // runtime context.
            match futures_executor::block_on(exporter.export(spans)) {
                Ok(()) => {
                    stats.exported.fetch_add(held as u64, Ordering::Relaxed);
                }
                Err(err) => {
                    stats.failed_exports.fetch_add(1, Ordering::Relaxed);
                    if !failure_logged {
                        failure_logged = true;
                        tracing::warn!(target: "telemetry", exporter = name, error = %err, "telemetry export failed; further failures are counted, not logged");
                    }
                }
            }
        }
        queued.fetch_sub(held, Ordering::AcqRel);
        let _ = done.send(());
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
        make: F,
    ) -> Self
    where
        E: SpanExporter + 'static,
        F: FnOnce() -> Option<E> + Send + 'static,
    {
        Arc::get_mut(&mut self.paths)
            .expect("paths are added before sharing")
            .push(ExportPath::new(name, queue_size, transform, make));
        self
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// Exports everything queued so far, waiting at most `timeout`. Returns whether every
    /// exporter finished in time.
    pub(crate) async fn flush(&self, timeout: Duration) -> bool {
        let pending: Vec<_> = self
            .paths
            .iter()
            .filter_map(ExportPath::request_flush)
            .collect();
        let all = async {
            for done in pending {
                let _ = done.await;
            }
        };
        tokio::time::timeout(timeout, all).await.is_ok()
    }

    /// Counters per exporter name.
    pub(crate) fn stats(&self, name: &str) -> Option<Arc<PathStats>> {
        self.paths
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.stats.clone())
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
            let _ = path.request_flush();
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
