//! Panics in a handler: caught, described (message, location, backtrace frames) and turned into
//! a 500, so the process serves the next invocation. Needs `panic = "unwind"`, which the
//! workspace's release profile keeps.

use std::any::Any;
use std::cell::RefCell;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Once;
use std::task::{Context, Poll};

use crate::rollbar::Frame;

/// What a panic left behind.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PanicReport {
    pub message: String,
    pub location: Option<(String, u32)>,
    /// Oldest call first.
    pub frames: Vec<Frame>,
}

thread_local! {
    static LAST_PANIC: RefCell<Option<PanicReport>> = const { RefCell::new(None) };
}

/// Installs the hook that records each panic's location and backtrace (once per process). The
/// report is logged by whoever catches the panic, as JSON, instead of the default stderr text.
pub fn install_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let location = info.location().map(|l| (l.file().to_owned(), l.line()));
            let backtrace = std::backtrace::Backtrace::force_capture().to_string();
            let report = PanicReport {
                message: payload_message(info.payload()),
                location,
                frames: parse_backtrace(&backtrace),
            };
            LAST_PANIC.with(|last| *last.borrow_mut() = Some(report));
        }));
    });
}

fn payload_message(payload: &dyn Any) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic with a non-string payload".to_owned())
}

/// The report of the panic just caught on this thread (or one built from its payload).
pub fn take_report(payload: &(dyn Any + Send)) -> PanicReport {
    LAST_PANIC
        .with(|last| last.borrow_mut().take())
        .unwrap_or_else(|| PanicReport {
            message: payload_message(payload),
            ..PanicReport::default()
        })
}

/// Frames of a `std::backtrace::Backtrace` display, oldest call first, without the panic
/// machinery's own frames.
pub fn parse_backtrace(text: &str) -> Vec<Frame> {
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
        "cruddur_telemetry::panics",
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
pub struct CatchPanic<F> {
    inner: Pin<Box<F>>,
}

impl<F> CatchPanic<F> {
    pub fn new(inner: F) -> Self {
        Self {
            inner: Box::pin(inner),
        }
    }
}

impl<F: Future> Future for CatchPanic<F> {
    type Output = Result<F::Output, PanicReport>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.inner.as_mut();
        match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Err(payload) => Poll::Ready(Err(take_report(payload.as_ref()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backtrace_frames_oldest_first() {
        let text = "   0: std::backtrace::Backtrace::force_capture\n             at /rustc/abc/library/std/src/backtrace.rs:312:13\n   1: cruddur_telemetry::panics::install_hook::{{closure}}\n   2: std::panicking::rust_panic_with_hook\n   3: panicking::handler::{{closure}}\n             at ./shared/telemetry/examples/panicking.rs:21:9\n   4: main\n             at ./src/main.rs:5:1\n";
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
        assert_eq!(
            frames[1].filename,
            "./shared/telemetry/examples/panicking.rs"
        );
        assert_eq!(frames[1].lineno, Some(21));
    }

    #[test]
    fn caught_panics_carry_their_message_and_location() {
        install_hook();
        let result = futures_executor::block_on(CatchPanic::new(async { panic!("boom {}", 42) }));
        let report = result.unwrap_err();
        assert_eq!(report.message, "boom 42");
        let (file, line) = report.location.unwrap();
        assert!(file.ends_with("panics.rs") && line > 0);
        let ok = futures_executor::block_on(CatchPanic::new(async { 7 }));
        assert_eq!(ok, Ok(7));
    }
}
