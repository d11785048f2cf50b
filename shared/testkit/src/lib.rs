//! Loopback stand-ins for everything a Lambda function talks to, for tests and benchmarks:
//! a Lambda Runtime API emulator, a UDP socket standing in for the X-Ray daemon, and HTTP sinks
//! standing in for an OTLP backend or Rollbar. Plus a way to run a built function binary
//! against them.

pub mod dynamo;
pub mod http;
pub mod moto;
pub mod otlp;
pub mod process;
pub mod runtime;
pub mod service;
pub mod tls;
pub mod xray;

pub use dynamo::dynamo_local;
pub use http::{HttpSink, Recorded};
pub use moto::moto;
pub use process::FunctionProcess;
pub use runtime::{Outcome, RuntimeEmulator};
pub use tls::TlsTerminator;
pub use xray::XrayCollector;

/// Polls `snapshot` until `predicate` holds for it or `timeout` passes; returns the last snapshot.
pub async fn wait_until<T>(
    timeout: std::time::Duration,
    snapshot: impl Fn() -> T,
    predicate: impl Fn(&T) -> bool,
) -> T {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let value = snapshot();
        if predicate(&value) || std::time::Instant::now() >= deadline {
            return value;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// A trace header as Lambda passes it, for a new trace id that X-Ray would accept.
pub fn lambda_trace_header(sampled: bool) -> (String, String, String) {
    let epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let random = uuid::Uuid::new_v4().simple().to_string();
    let root = format!("1-{epoch:08x}-{}", &random[..24]);
    let parent = random[16..32].to_owned();
    let header = format!("Root={root};Parent={parent};Sampled={}", u8::from(sampled));
    (header, root, parent)
}

/// The W3C/OTLP trace id (32 hex digits) of an X-Ray root such as `1-6b017001-73d1…`.
/// Only the version prefix goes: the epoch part may itself end in `1` followed by the dash.
pub fn otlp_trace_id(xray_root: &str) -> String {
    xray_root
        .strip_prefix("1-")
        .unwrap_or(xray_root)
        .replace('-', "")
}

#[cfg(test)]
mod tests {
    use super::otlp_trace_id;

    #[test]
    fn otlp_trace_id_keeps_an_epoch_that_ends_in_one() {
        assert_eq!(
            otlp_trace_id("1-6b017001-73d1391ef6f64accb275ae45"),
            "6b01700173d1391ef6f64accb275ae45"
        );
    }
}
