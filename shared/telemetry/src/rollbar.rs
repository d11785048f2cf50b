//! Error reports to Rollbar. No maintained Rust client exists (the `rollbar` crate's last release is
//! from 2020, on tokio 0.1), so this is a small one for the item API (`POST /api/1/item/`), built
//! for Lambda: reports are sent from the telemetry's own thread and awaited, with a deadline,
//! after the response is posted and before the next invocation is polled, so the freeze loses
//! none and callers wait for none.
//!
//! [`ReportLayer`] decides what is reported, from what the invocation's context says when it ends:
//! a panic (critical, with its frames), a 5xx or a failed event handler (error, with the logged
//! cause), and any event logged with `report = true` (at its level).
//!
//! Every item carries a `uuid`, so a retry is never counted twice; at most
//! `ROLLBAR_MAX_ITEMS_PER_INVOCATION` items leave per invocation. Rollbar has a [`Breaker`]: when
//! it does not answer (or answers 5xx, or 429 with its rate-limit window), invocations stop
//! waiting for it and items are held on the delivery thread (at most `ROLLBAR_QUEUE_SIZE`), then
//! delivered oldest first once a probe finds it answering. A 401 or 403 turns reports off.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_http::http::Request;
use serde_json::{json, Map, Value};
use tokio::sync::oneshot;
use tracing::field::{Field, Visit};
use tracing::span::Id;
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use crate::breaker::{Backoff, Breaker, Failure, Permit};
use crate::context::{closing_context, InvocationContext, INVOCATION_SPAN};
use crate::panics::Frame;
use crate::settings::RollbarSettings;
use crate::transport::{Answer, BlockingHttp};
use crate::worker::Worker;

/// The window a 429 pauses sending for when Rollbar does not say.
const DEFAULT_RATE_LIMIT_WINDOW: Duration = Duration::from_secs(60);

/// The version of the code that reports: the git commit it was built from, else the crate version.
pub(crate) fn code_version() -> &'static str {
    option_env!("ROLLBAR_CODE_VERSION")
        .filter(|v| !v.is_empty())
        .unwrap_or(env!("CARGO_PKG_VERSION"))
}

/// A Rollbar level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    Critical,
    Error,
    Warning,
    Info,
    Debug,
}

impl Level {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Level::Critical => "critical",
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }
}

impl From<&tracing::Level> for Level {
    fn from(level: &tracing::Level) -> Self {
        match *level {
            tracing::Level::ERROR => Level::Error,
            tracing::Level::WARN => Level::Warning,
            tracing::Level::INFO => Level::Info,
            _ => Level::Debug,
        }
    }
}

/// What to report: a level and a body (`trace` for exceptions, `message` otherwise).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Item {
    pub(crate) level: Level,
    pub(crate) body: Value,
}

impl Item {
    pub(crate) fn message(level: &tracing::Level, text: &str) -> Self {
        Self {
            level: level.into(),
            body: json!({"message": {"body": text}}),
        }
    }

    /// An exception. Frames are oldest call first (Rollbar's order); an empty list gets one
    /// frame naming `fallback_file`, as Rollbar requires at least one.
    pub(crate) fn exception(
        level: Level,
        class: &str,
        message: &str,
        frames: &[Frame],
        fallback_file: &str,
    ) -> Self {
        let mut frames: Vec<Value> = frames
            .iter()
            .map(|f| {
                let mut frame = Map::new();
                frame.insert("filename".into(), f.filename.clone().into());
                if let Some(line) = f.lineno {
                    frame.insert("lineno".into(), line.into());
                }
                if let Some(method) = &f.method {
                    frame.insert("method".into(), method.clone().into());
                }
                Value::Object(frame)
            })
            .collect();
        if frames.is_empty() {
            frames.push(json!({"filename": fallback_file}));
        }
        Self {
            level,
            body: json!({"trace": {"frames": frames, "exception": {"class": class, "message": message}}}),
        }
    }
}

/// Counters of what the reporter did.
#[derive(Debug, Default)]
pub(crate) struct ReporterStats {
    pub(crate) delivered: AtomicU64,
    /// 429 answers (each holds the items for the window Rollbar names).
    pub(crate) rate_limited: AtomicU64,
    pub(crate) over_invocation_limit: AtomicU64,
    /// Items that cannot be delivered: refused by Rollbar, or reports off.
    pub(crate) failed: AtomicU64,
    /// Items dropped because `ROLLBAR_QUEUE_SIZE` items were already held.
    pub(crate) dropped: AtomicU64,
}

/// What the delivery thread is told.
enum Message {
    /// An item to deliver (held until the next flush that sends).
    Item(Value),
    /// Deliver what is held if `send`, then say so.
    Flush {
        send: bool,
        done: oneshot::Sender<()>,
    },
}

/// Sends items to Rollbar from its own thread.
pub(crate) struct Reporter {
    /// Known from the start, or once the late secrets arrive; until then nothing is reported.
    token: Arc<OnceLock<String>>,
    settings: RollbarSettings,
    /// `server` of every item; the host name is read with the first item, off the cold start.
    server: OnceLock<Value>,
    function_name: Option<String>,
    /// The delivery thread, started by the first item.
    worker: Worker<Message>,
    /// Items handed to the thread and not yet delivered or given up.
    held: Arc<AtomicUsize>,
    breaker: Arc<Breaker>,
    pub(crate) stats: Arc<ReporterStats>,
    limit_logged: AtomicBool,
}

impl std::fmt::Debug for Reporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reporter")
            .field("endpoint", &self.settings.endpoint)
            .finish()
    }
}

impl Reporter {
    /// A reporter when a token is set, or will be (`token_later`); otherwise `None`. Its delivery
    /// thread starts with the first item.
    pub(crate) fn start(
        rollbar: &RollbarSettings,
        function_name: Option<String>,
        token_later: bool,
        backoff: Backoff,
    ) -> Option<Arc<Self>> {
        let rollbar = rollbar.clone();
        if rollbar.token.is_none() && !token_later {
            return None;
        }
        let token = Arc::new(OnceLock::new());
        if let Some(known) = &rollbar.token {
            let _ = token.set(known.clone());
        }
        let stats = Arc::new(ReporterStats::default());
        let breaker = Arc::new(Breaker::new("Rollbar", "ROLLBAR_ACCESS_TOKEN", backoff));
        let held = Arc::new(AtomicUsize::new(0));
        let delivery = Delivery {
            settings: rollbar.clone(),
            stats: stats.clone(),
            breaker: breaker.clone(),
            held: held.clone(),
        };
        let thread_token = token.clone();
        let worker = Worker::new("telemetry-rollbar", move |receiver| {
            // Items are only queued once the token is known.
            let token = thread_token.get().cloned().unwrap_or_default();
            delivery.run(receiver, &token)
        });
        Some(Arc::new(Self {
            token,
            settings: rollbar,
            server: OnceLock::new(),
            function_name,
            worker,
            held,
            breaker,
            stats,
            limit_logged: AtomicBool::new(false),
        }))
    }

    /// The token arrived (from the late secrets).
    pub(crate) fn provide_token(&self, token: String) {
        let _ = self.token.set(token);
    }

    /// Whether reports can be sent (the token is known).
    pub(crate) fn is_ready(&self) -> bool {
        self.token.get().is_some()
    }

    /// Queues an item with the invocation's context. Never blocks. Before the token is known,
    /// or once Rollbar refused it, the item is counted and dropped.
    pub(crate) fn report(&self, item: Item, context: &InvocationContext) {
        if !self.is_ready() || self.breaker.is_stopped() {
            self.stats.failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if context.reports.fetch_add(1, Ordering::Relaxed) >= self.settings.max_items_per_invocation
        {
            self.stats
                .over_invocation_limit
                .fetch_add(1, Ordering::Relaxed);
            if !self.limit_logged.swap(true, Ordering::Relaxed) {
                tracing::warn!(target: "telemetry", "more error reports in one invocation than ROLLBAR_MAX_ITEMS_PER_INVOCATION; the rest are dropped");
            }
            return;
        }
        let payload = self.payload(item, context);
        self.held.fetch_add(1, Ordering::AcqRel);
        if self.worker.send(Message::Item(payload)).is_err() {
            self.held.fetch_sub(1, Ordering::AcqRel);
            self.stats.failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Delivers what is held, waiting at most the timeout while Rollbar is healthy, the probe
    /// budget once the backoff has passed, and not at all while it rests (or when `wait` is
    /// false: the thread delivers on its own).
    pub(crate) async fn flush(&self, wait_for_it: bool) {
        // Asking for a permit with nothing to send would take a probe that never goes out.
        if self.held.load(Ordering::Acquire) == 0 {
            return;
        }
        let wait = match self.breaker.permit(self.settings.timeout) {
            Permit::Send(wait) | Permit::Probe(wait) => wait,
            Permit::Hold | Permit::Stopped => return,
        };
        let (done, delivered) = oneshot::channel();
        let sent = self.worker.send(Message::Flush { send: true, done });
        if sent.is_err() || !wait_for_it {
            return;
        }
        if tokio::time::timeout(wait, delivered).await.is_err() {
            self.breaker.failed(Failure::Unavailable(format!(
                "no answer within {} ms",
                wait.as_millis()
            )));
        }
    }

    /// Delivers what is held whatever the breaker says (short of a refused token), waiting at
    /// most `timeout`: the last chance, at shutdown.
    pub(crate) async fn flush_now(&self, timeout: Duration) {
        if self.held.load(Ordering::Acquire) == 0 || self.breaker.is_stopped() {
            return;
        }
        let (done, delivered) = oneshot::channel();
        if self
            .worker
            .send(Message::Flush { send: true, done })
            .is_ok()
        {
            let _ = tokio::time::timeout(timeout, delivered).await;
        }
    }

    fn server(&self) -> &Value {
        self.server.get_or_init(|| {
            let host = std::env::var("HOSTNAME")
                .ok()
                .or_else(|| {
                    std::fs::read_to_string("/proc/sys/kernel/hostname")
                        .ok()
                        .map(|h| h.trim().to_owned())
                })
                .unwrap_or_else(|| "unknown".to_owned());
            let mut server = json!({"host": host});
            if let Some(function) = &self.function_name {
                server["function_name"] = function.clone().into();
            }
            server
        })
    }

    /// The item API payload.
    fn payload(&self, item: Item, context: &InvocationContext) -> Value {
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let mut data = json!({
            "environment": self.settings.environment(),
            "level": item.level.as_str(),
            "timestamp": timestamp,
            "platform": std::env::consts::OS,
            "language": "rust",
            "framework": "aws-lambda-rust-runtime",
            "code_version": code_version(),
            "server": self.server(),
            "notifier": {"name": env!("CARGO_PKG_NAME"), "version": env!("CARGO_PKG_VERSION")},
            "uuid": uuid::Uuid::new_v4().to_string(),
            "body": item.body,
            "custom": {"trace_id": context.trace_id, "request_id": context.request_id},
        });
        if let Some(request) = &context.request {
            data["request"] = request.clone();
            if let Some(route) = request.get("route").and_then(Value::as_str) {
                data["context"] = route.into();
            }
        }
        if let Some(user_id) = &context.user_id {
            data["person"] = json!({"id": user_id});
        }
        json!({"data": data})
    }
}

/// The delivery thread's state.
struct Delivery {
    settings: RollbarSettings,
    stats: Arc<ReporterStats>,
    breaker: Arc<Breaker>,
    held: Arc<AtomicUsize>,
}

impl Delivery {
    /// Holds items as they come (at most `ROLLBAR_QUEUE_SIZE`) and delivers them, oldest first,
    /// when a flush says so. An item that fails for the backend's sake stays first in line and
    /// goes again, with the same uuid, with the next flush that may send.
    fn run(self, receiver: Receiver<Message>, token: &str) {
        // Built with the first delivery, off the cold-start path.
        let mut http = None;
        let mut queue: VecDeque<Value> = VecDeque::new();
        let mut drop_logged = false;
        for message in receiver {
            match message {
                Message::Item(payload) if queue.len() < self.settings.queue_size => {
                    queue.push_back(payload);
                }
                Message::Item(_) => {
                    self.held.fetch_sub(1, Ordering::AcqRel);
                    self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                    if !std::mem::replace(&mut drop_logged, true) {
                        tracing::warn!(target: "telemetry", "error reports are being dropped: ROLLBAR_QUEUE_SIZE reports already wait for Rollbar; counted, and published as a metric");
                    }
                }
                Message::Flush { send, done } => {
                    if send {
                        let client =
                            http.get_or_insert_with(|| BlockingHttp::new(self.settings.timeout));
                        self.deliver(&mut queue, client, token);
                    }
                    let _ = done.send(());
                }
            }
        }
    }

    fn deliver(&self, queue: &mut VecDeque<Value>, client: &BlockingHttp, token: &str) {
        while let Some(payload) = queue.front() {
            let body = payload.to_string();
            let outcome = post(client, &self.settings.endpoint, token, &body);
            let (done_with_item, failure) = match outcome {
                Attempt::Delivered => {
                    self.stats.delivered.fetch_add(1, Ordering::Relaxed);
                    self.breaker.succeeded();
                    (true, None)
                }
                Attempt::RateLimited(window) => {
                    self.stats.rate_limited.fetch_add(1, Ordering::Relaxed);
                    (
                        false,
                        Some(Failure::RetryAfter(window, "Rollbar answered 429".into())),
                    )
                }
                Attempt::Retry(failure) => (false, Some(failure)),
                Attempt::GiveUp(err) => {
                    // Rollbar answered: it is up, only this item is refused.
                    self.breaker.succeeded();
                    self.stats.failed.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(target: "telemetry", error = %err, "Rollbar refused an error report; it is dropped");
                    (true, None)
                }
            };
            if done_with_item {
                queue.pop_front();
                self.held.fetch_sub(1, Ordering::AcqRel);
            }
            if let Some(failure) = failure {
                let refused = matches!(failure, Failure::Refused(_));
                self.breaker.failed(failure);
                if refused {
                    let lost = queue.len();
                    queue.clear();
                    self.held.fetch_sub(lost, Ordering::AcqRel);
                    self.stats.failed.fetch_add(lost as u64, Ordering::Relaxed);
                }
                return;
            }
        }
    }
}

/// How one POST went.
enum Attempt {
    Delivered,
    /// Rollbar is not answering (or refused the token): the item may go again later.
    Retry(Failure),
    /// A 429: stop sending for this long.
    RateLimited(Duration),
    /// Any other refusal: the same item cannot succeed.
    GiveUp(String),
}

fn post(client: &BlockingHttp, endpoint: &str, token: &str, body: &str) -> Attempt {
    let request = Request::post(endpoint)
        .header("X-Rollbar-Access-Token", token)
        .header("Content-Type", "application/json")
        .body(body.as_bytes());
    let request = match request {
        Ok(request) => request,
        Err(err) => return Attempt::GiveUp(format!("cannot address Rollbar at {endpoint}: {err}")),
    };
    match client.send(request) {
        Err(err) => Attempt::Retry(Failure::Unavailable(err.to_string())),
        Ok(r) if r.status().is_success() => Attempt::Delivered,
        Ok(r) if r.status().as_u16() == 429 => Attempt::RateLimited(
            r.headers()
                .get("X-Rate-Limit-Remaining-Seconds")
                .or_else(|| r.headers().get("Retry-After"))
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs)
                .unwrap_or(DEFAULT_RATE_LIMIT_WINDOW),
        ),
        Ok(r) if matches!(r.status().as_u16(), 401 | 403) || r.status().is_server_error() => {
            let error = format!("Rollbar answered {}", r.status());
            Attempt::Retry(Answer::failure(client.take_last_answer(), error))
        }
        Ok(r) => Attempt::GiveUp(format!("Rollbar refused the item: {}", r.status())),
    }
}

/// Decides what is reported: events logged with `report = true`, and each invocation that ended
/// with a panic, a 5xx or a failed event handler.
pub(crate) struct ReportLayer {
    reporter: Arc<Reporter>,
}

impl ReportLayer {
    pub(crate) fn new(reporter: Arc<Reporter>) -> Self {
        Self { reporter }
    }
}

impl<S> Layer<S> for ReportLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = ReportFields::default();
        event.record(&mut fields);
        if !fields.report {
            return;
        }
        let context = ctx
            .event_scope(event)
            .and_then(|scope| {
                scope
                    .from_root()
                    .find_map(|s| s.extensions().get::<InvocationContext>().cloned())
            })
            .unwrap_or_default();
        let mut text = fields.message.unwrap_or_default();
        if let Some(error) = fields.error {
            text = format!("{text}: {error}");
        }
        self.reporter
            .report(Item::message(event.metadata().level(), &text), &context);
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        if ctx.metadata(&id).map(|m| m.name()) != Some(INVOCATION_SPAN) {
            return;
        }
        let Some(context) = closing_context(&id, &ctx) else {
            return;
        };
        if let Some(panic) = &context.panic {
            let item = Item::exception(
                Level::Critical,
                "panic",
                &panic.message,
                &panic.frames(),
                &panic.location_text(),
            );
            self.reporter.report(item, &context);
        } else if context.status.is_some_and(|s| s >= 500) || context.failed {
            let status = context.status.unwrap_or_default();
            let cause = context.cause_or(
                format!("HTTP {status}"),
                format!("the function answered {status}"),
            );
            let item = Item::exception(Level::Error, &cause.kind, &cause.message, &[], "lambda");
            self.reporter.report(item, &context);
        }
    }
}

#[derive(Default)]
struct ReportFields {
    report: bool,
    message: Option<String>,
    error: Option<String>,
}

impl Visit for ReportFields {
    fn record_bool(&mut self, field: &Field, value: bool) {
        if field.name() == "report" {
            self.report = value;
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message = Some(value.to_owned()),
            "error" => self.error = Some(value.to_owned()),
            _ => {}
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.record_str(field, &format!("{value:?}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exception_items_always_have_a_frame() {
        let item = Item::exception(
            Level::Error,
            "ServiceUnavailable",
            "store unavailable",
            &[],
            "lambda",
        );
        assert_eq!(item.body["trace"]["frames"][0]["filename"], "lambda");
        assert_eq!(
            item.body["trace"]["exception"]["class"],
            "ServiceUnavailable"
        );
        let message = Item::message(&tracing::Level::WARN, "Hello World!");
        assert_eq!(message.level, Level::Warning);
        assert_eq!(message.body["message"]["body"], "Hello World!");
    }
}
