//! Panics in a handler: caught, described (message, location, backtrace) and answered, so the
//! process serves the next invocation. An HTTP handler's panic is a 500 with the settings' error
//! body; another handler's is an error for the Lambda caller. Needs `panic = "unwind"`.
//!
//! The hook keeps each panic's backtrace unresolved: resolving symbols takes milliseconds to
//! seconds, and only a report that is actually sent needs the frames.

use std::any::Any;
use std::backtrace::Backtrace;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Once};
use std::task::{Context, Poll};

use lambda_http::http::header::CONTENT_TYPE;
use lambda_http::http::{HeaderValue, StatusCode};
use lambda_http::tower::{Layer, Service};
use lambda_http::{Body, Request, Response};
use lambda_runtime::{Diagnostic, LambdaEvent};

use crate::context::{with_context, Cause, PanicReport};
use crate::outcome::record_fault;

/// One stack frame.
#[cfg_attr(not(feature = "rollbar"), allow(dead_code))] // what error reports read
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Frame {
    pub(crate) filename: String,
    pub(crate) lineno: Option<u32>,
    pub(crate) method: Option<String>,
}

#[cfg_attr(not(feature = "rollbar"), allow(dead_code))]
impl PanicReport {
    /// The backtrace's frames, oldest call first, ending with the panic's own location.
    pub(crate) fn frames(&self) -> Vec<Frame> {
        let mut frames = self
            .backtrace
            .as_ref()
            .map(|b| parse_backtrace(&b.to_string()))
            .unwrap_or_default();
        // Release builds carry no line tables: the panic's location may be the only line known.
        if let Some((file, line)) = &self.location {
            let known = frames
                .last()
                .is_some_and(|f| &f.filename == file && f.lineno == Some(*line));
            if !known {
                frames.push(Frame {
                    filename: file.clone(),
                    lineno: Some(*line),
                    method: None,
                });
            }
        }
        frames
    }

    /// `file:line`, or empty.
    pub(crate) fn location_text(&self) -> String {
        self.location
            .as_ref()
            .map(|(file, line)| format!("{file}:{line}"))
            .unwrap_or_default()
    }
}

thread_local! {
    static LAST_PANIC: RefCell<Option<PanicReport>> = const { RefCell::new(None) };
    /// How many of this crate's panic catchers the current thread is inside.
    static CATCHING: Cell<usize> = const { Cell::new(0) };
}

/// Installs this crate's panic hook, once per process; [`crate::init`] calls it.
///
/// A panic inside an invocation (under [`CatchPanicLayer`]) is recorded, not printed: its
/// message, location and (unresolved) backtrace become the invocation's JSON error line, its
/// fault in the trace and its error report. Any other panic (during init, on a thread or in a
/// task of the application's) goes to the hook that was installed before this one, so it is
/// printed as before: install your own hook first to handle those.
pub fn install_panic_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if CATCHING.with(Cell::get) == 0 {
                previous(info);
                return;
            }
            let report = PanicReport {
                message: payload_message(info.payload()),
                location: info.location().map(|l| (l.file().to_owned(), l.line())),
                backtrace: Some(Arc::new(Backtrace::force_capture())),
            };
            LAST_PANIC.with(|last| *last.borrow_mut() = Some(report));
        }));
    });
}

/// `catch_unwind` that tells the hook a catcher is waiting for the panic's report.
fn catching<T>(f: impl FnOnce() -> T) -> std::thread::Result<T> {
    CATCHING.with(|c| c.set(c.get() + 1));
    let result = catch_unwind(AssertUnwindSafe(f));
    CATCHING.with(|c| c.set(c.get() - 1));
    result
}

fn payload_message(payload: &dyn Any) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic with a non-string payload".to_owned())
}

/// The report of the panic just caught on this thread (or one built from its payload).
pub(crate) fn take_report(payload: &(dyn Any + Send)) -> PanicReport {
    LAST_PANIC
        .with(|last| last.borrow_mut().take())
        .unwrap_or_else(|| PanicReport {
            message: payload_message(payload),
            ..PanicReport::default()
        })
}

/// Runs `f`, turning a panic into its report.
pub(crate) fn catch<T>(f: impl FnOnce() -> T) -> Result<T, PanicReport> {
    catching(f).map_err(|payload| take_report(payload.as_ref()))
}

/// Frames of a `std::backtrace::Backtrace` display, oldest call first, without the panic
/// machinery's own frames.
#[cfg_attr(not(feature = "rollbar"), allow(dead_code))]
fn parse_backtrace(text: &str) -> Vec<Frame> {
    let mut frames: Vec<Frame> = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(location) = line.strip_prefix("at ") {
            if let Some(frame) = frames.last_mut() {
                let mut parts = location.rsplitn(3, ':');
                let _column = parts.next();
                let line_no = parts.next().and_then(|l| l.parse().ok());
                if let (Some(file), Some(line_no)) = (parts.next(), line_no) {
                    frame.filename = file.to_owned();
                    frame.lineno = Some(line_no);
                }
            }
        } else if let Some((index, symbol)) = line.split_once(": ") {
            if index.chars().all(|c| c.is_ascii_digit()) {
                frames.push(Frame {
                    filename: "<unknown>".to_owned(),
                    lineno: None,
                    method: Some(symbol.to_owned()),
                });
            }
        }
    }
    let machinery = [
        "std::panicking",
        "core::panicking",
        "std::backtrace",
        "__rustc::",
        "rust_begin_unwind",
        module_path!(),
    ];
    frames.retain(|f| {
        // A binary without a symbol table can say nothing about a frame; such frames are noise.
        let anonymous = f.method.as_deref() == Some("<unknown>") && f.lineno.is_none();
        !anonymous
            && !f.method.as_deref().is_some_and(|m| {
                machinery
                    .iter()
                    .any(|p| m.starts_with(p) || m.contains("panic_hook"))
            })
    });
    frames.reverse();
    frames
}

/// A future that turns a panic while polling `inner` into `Err(report)`.
pub(crate) struct CatchPanic<F> {
    inner: Pin<Box<F>>,
}

impl<F> CatchPanic<F> {
    pub(crate) fn new(inner: F) -> Self {
        Self {
            inner: Box::pin(inner),
        }
    }
}

impl<F: Future> Future for CatchPanic<F> {
    type Output = Result<F::Output, PanicReport>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.inner.as_mut();
        match catching(|| inner.poll(cx)) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Err(payload) => Poll::Ready(Err(take_report(payload.as_ref()))),
        }
    }
}

/// Logs a caught panic (which makes it the invocation's cause) and keeps it on the invocation
/// for the error report.
fn record_panic(span: &tracing::Span, panic: PanicReport) {
    let location = panic.location_text();
    span.in_scope(|| {
        tracing::error!(error.type = "panic", error = %panic.message, location = %location, "handler panicked");
    });
    with_context(span, |c| c.panic = Some(panic));
}

/// Catches the handler's panics: an HTTP handler answers 500 with `internal_error` as its body,
/// any other handler fails its invocation. For other handlers, an error they return also marks
/// the invocation failed (a fault in the trace, a report to the error tracker).
#[derive(Clone)]
pub struct CatchPanicLayer {
    internal_error: Arc<str>,
}

impl CatchPanicLayer {
    /// `internal_error`: the JSON body of an HTTP handler's 500.
    pub fn new(internal_error: impl Into<Arc<str>>) -> Self {
        Self {
            internal_error: internal_error.into(),
        }
    }
}

impl<S> Layer<S> for CatchPanicLayer {
    type Service = CatchPanicService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CatchPanicService {
            inner,
            internal_error: self.internal_error.clone(),
        }
    }
}

/// The service [`CatchPanicLayer`] makes.
#[derive(Clone)]
pub struct CatchPanicService<S> {
    inner: S,
    internal_error: Arc<str>,
}

impl<S> Service<Request> for CatchPanicService<S>
where
    S: Service<Request, Response = Response<Body>>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = HttpPanicFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let span = tracing::Span::current();
        let inner = catch(|| self.inner.call(req));
        HttpPanicFuture {
            inner: inner.map(CatchPanic::new),
            span,
            internal_error: self.internal_error.clone(),
        }
    }
}

/// The answer of an HTTP handler that may panic.
pub struct HttpPanicFuture<F> {
    inner: Result<CatchPanic<F>, PanicReport>,
    span: tracing::Span,
    internal_error: Arc<str>,
}

impl<F, E> Future for HttpPanicFuture<F>
where
    F: Future<Output = Result<Response<Body>, E>>,
{
    type Output = Result<Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Nothing here is pinned structurally: the inner future is boxed.
        let this = self.get_mut();
        let panic = match &mut this.inner {
            Ok(future) => match Pin::new(future).poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(answer)) => return Poll::Ready(answer),
                Poll::Ready(Err(panic)) => panic,
            },
            Err(panic) => std::mem::take(panic),
        };
        record_panic(&this.span, panic);
        let mut response = Response::new(Body::Text(this.internal_error.to_string()));
        *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Poll::Ready(Ok(response))
    }
}

impl<S, T> Service<LambdaEvent<T>> for CatchPanicService<S>
where
    S: Service<LambdaEvent<T>>,
    S::Error: Into<Diagnostic>,
{
    type Response = S::Response;
    type Error = Diagnostic;
    type Future = EventPanicFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, event: LambdaEvent<T>) -> Self::Future {
        let span = tracing::Span::current();
        let inner = catch(|| self.inner.call(event));
        EventPanicFuture {
            inner: inner.map(CatchPanic::new),
            span,
        }
    }
}

/// The outcome of an event handler that may panic or fail.
pub struct EventPanicFuture<F> {
    inner: Result<CatchPanic<F>, PanicReport>,
    span: tracing::Span,
}

impl<F, R, E> Future for EventPanicFuture<F>
where
    F: Future<Output = Result<R, E>>,
    E: Into<Diagnostic>,
{
    type Output = Result<R, Diagnostic>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let panic = match &mut this.inner {
            Ok(future) => match Pin::new(future).poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(Ok(answer))) => return Poll::Ready(Ok(answer)),
                Poll::Ready(Ok(Err(error))) => {
                    let diagnostic: Diagnostic = error.into();
                    record_fault(
                        &this.span,
                        &Cause {
                            kind: diagnostic.error_type.clone(),
                            message: diagnostic.error_message.clone(),
                        },
                    );
                    with_context(&this.span, |c| c.failed = true);
                    return Poll::Ready(Err(diagnostic));
                }
                Poll::Ready(Err(panic)) => panic,
            },
            Err(panic) => std::mem::take(panic),
        };
        let cause = Cause {
            kind: "panic".to_owned(),
            message: panic.message.clone(),
        };
        record_panic(&this.span, panic);
        record_fault(&this.span, &cause);
        Poll::Ready(Err(Diagnostic {
            error_type: "Panic".to_owned(),
            error_message: "the handler failed unexpectedly".to_owned(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backtrace_frames_oldest_first() {
        let text = "   0: std::backtrace::Backtrace::force_capture\n             at /rustc/abc/library/std/src/backtrace.rs:312:13\n   1: lambda_telemetry::panics::install_panic_hook::{{closure}}\n   2: std::panicking::rust_panic_with_hook\n   3: http_function::handler::{{closure}}\n             at ./examples/http_function.rs:21:9\n   4: main\n             at ./src/main.rs:5:1\n";
        let frames = parse_backtrace(text);
        assert_eq!(frames.len(), 2);
        let stripped =
            "   0: <unknown>\n   1: <unknown>\n   2: main\n             at ./src/main.rs:5:1\n";
        let kept = parse_backtrace(stripped);
        assert_eq!(
            kept.len(),
            1,
            "frames without a symbol or a line are dropped"
        );
        assert_eq!(kept[0].lineno, Some(5));
        assert_eq!(frames[0].method.as_deref(), Some("main"));
        assert_eq!(frames[1].filename, "./examples/http_function.rs");
        assert_eq!(frames[1].lineno, Some(21));
    }

    #[test]
    fn caught_panics_carry_their_message_location_and_frames() {
        install_panic_hook();
        let result = futures_executor::block_on(CatchPanic::new(async { panic!("boom {}", 42) }));
        let report = result.unwrap_err();
        assert_eq!(report.message, "boom 42");
        let (file, line) = report.location.clone().unwrap();
        assert!(file.ends_with("panics.rs") && line > 0);
        let frames = report.frames();
        assert_eq!(
            frames.last().map(|f| (&f.filename, f.lineno)),
            Some((&file, Some(line))),
            "the newest frame is the panic's location"
        );
        let ok = futures_executor::block_on(CatchPanic::new(async { 7 }));
        assert_eq!(ok.unwrap(), 7);
        assert_eq!(catch(|| 1).unwrap(), 1);
        assert_eq!(
            catch(|| -> u8 { panic!("now") }).unwrap_err().message,
            "now"
        );
    }
}
