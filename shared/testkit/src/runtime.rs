//! A Lambda Runtime API emulator: the `/2018-06-01/runtime/invocation/next|response|error` and
//! `init/error` endpoints on loopback. Tests and benchmarks hand it events; a function process
//! polls them as it would on Lambda.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use tokio::sync::{oneshot, Notify};

use crate::http::{record, response, serve};

const PREFIX: &str = "/2018-06-01/runtime";
const EXTENSION_PREFIX: &str = "/2020-01-01/extension";

/// How an invocation ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub request_id: String,
    /// `true` when the function posted to `/error` rather than `/response`.
    pub is_error: bool,
    pub body: Vec<u8>,
    /// When the function received the event (its `next` call returned).
    pub handed_out_at: Instant,
    /// When the function posted the response or error.
    pub posted_at: Instant,
}

impl Outcome {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// For API Gateway responses: the status code and the decoded body.
    pub fn http(&self) -> (u16, serde_json::Value, String) {
        let json = self.json();
        let status = json["statusCode"].as_u64().unwrap_or_default() as u16;
        let text = json["body"].as_str().unwrap_or_default().to_owned();
        let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
        (status, body, text)
    }

    /// The response latency as callers feel it (event handed out -> response posted).
    pub fn latency(&self) -> Duration {
        self.posted_at.saturating_duration_since(self.handed_out_at)
    }
}

struct Pending {
    request_id: String,
    event: Vec<u8>,
    trace_header: Option<String>,
    done: oneshot::Sender<Outcome>,
}

#[derive(Default)]
struct State {
    queue: Mutex<VecDeque<Pending>>,
    arrived: Notify,
    in_flight: Mutex<HashMap<String, (Instant, oneshot::Sender<Outcome>)>>,
    polls: Mutex<Vec<Instant>>,
    init_errors: Mutex<Vec<String>>,
    /// Names of the extensions registered through the Extensions API.
    extensions: Mutex<Vec<String>>,
}

/// The emulator. Dropping the tokio runtime stops it.
#[derive(Clone)]
pub struct RuntimeEmulator {
    addr: SocketAddr,
    state: Arc<State>,
}

impl RuntimeEmulator {
    pub async fn start() -> Self {
        let state = Arc::new(State::default());
        let shared = state.clone();
        let addr = serve(move |req| handle(shared.clone(), req)).await;
        Self { addr, state }
    }

    /// `AWS_LAMBDA_RUNTIME_API` for a function.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// Hands `event` to the next `next` call and waits for the function's answer.
    pub async fn invoke(
        &self,
        event: &serde_json::Value,
        trace_header: Option<&str>,
        timeout: Duration,
    ) -> Result<Outcome, String> {
        let bytes = serde_json::to_vec(event).map_err(|e| e.to_string())?;
        self.invoke_raw(bytes, trace_header, timeout).await
    }

    /// Hands these bytes, whatever they are, to the next `next` call as the event.
    pub async fn invoke_raw(
        &self,
        event: Vec<u8>,
        trace_header: Option<&str>,
        timeout: Duration,
    ) -> Result<Outcome, String> {
        let (done, outcome) = oneshot::channel();
        let request_id = uuid::Uuid::new_v4().to_string();
        self.state.queue.lock().unwrap().push_back(Pending {
            request_id: request_id.clone(),
            event,
            trace_header: trace_header.map(str::to_owned),
            done,
        });
        self.state.arrived.notify_waiters();
        self.state.arrived.notify_one();
        match tokio::time::timeout(timeout, outcome).await {
            Ok(Ok(outcome)) => Ok(outcome),
            Ok(Err(_)) => Err(format!("invocation {request_id} was dropped")),
            Err(_) => Err(format!(
                "no answer to invocation {request_id} within {timeout:?}"
            )),
        }
    }

    /// When the function asked for its next invocation, in order.
    pub fn polls(&self) -> Vec<Instant> {
        self.state.polls.lock().unwrap().clone()
    }

    /// Waits until the function has polled `count` times, or `timeout` passes.
    pub async fn wait_for_polls(&self, count: usize, timeout: Duration) -> Vec<Instant> {
        crate::wait_until(timeout, || self.polls(), |p| p.len() >= count).await
    }

    /// The extensions the function registered (`Lambda-Extension-Name`), in order.
    pub fn extensions(&self) -> Vec<String> {
        self.state.extensions.lock().unwrap().clone()
    }

    pub fn init_errors(&self) -> Vec<String> {
        self.state.init_errors.lock().unwrap().clone()
    }
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let req = record(req).await;
    let path = req.path.split('?').next().unwrap_or_default().to_owned();
    if let Some(route) = path.strip_prefix(EXTENSION_PREFIX) {
        return extension(&state, &req, route).await;
    }
    let Some(route) = path.strip_prefix(PREFIX) else {
        return response(404, "unknown path");
    };
    match (req.method.as_str(), route) {
        ("GET", "/invocation/next") => next(&state).await,
        ("POST", "/init/error") => {
            state
                .init_errors
                .lock()
                .unwrap()
                .push(String::from_utf8_lossy(&req.body).into_owned());
            response(202, "{}")
        }
        ("POST", route) => {
            let Some(rest) = route.strip_prefix("/invocation/") else {
                return response(404, "unknown path");
            };
            let (request_id, kind) = rest.split_once('/').unwrap_or((rest, ""));
            let Some((handed_out_at, done)) = state.in_flight.lock().unwrap().remove(request_id)
            else {
                return response(400, "unknown request id");
            };
            let _ = done.send(Outcome {
                request_id: request_id.to_owned(),
                is_error: kind == "error",
                body: req.body,
                handed_out_at,
                posted_at: req.received_at,
            });
            response(202, "{}")
        }
        _ => response(404, "unknown path"),
    }
}

/// The Extensions API as an internal extension uses it: `register`, then `event/next`, which
/// never answers here (an extension that subscribed to no events is never sent one).
async fn extension(state: &State, req: &crate::Recorded, route: &str) -> Response<Full<Bytes>> {
    match (req.method.as_str(), route) {
        ("POST", "/register") => {
            let name = req
                .header("lambda-extension-name")
                .unwrap_or_default()
                .to_owned();
            state.extensions.lock().unwrap().push(name);
            let mut res = response(
                200,
                r#"{"functionName":"test","functionVersion":"$LATEST","handler":"bootstrap"}"#,
            );
            res.headers_mut().insert(
                "lambda-extension-identifier",
                hyper::header::HeaderValue::from_static("test-extension-id"),
            );
            res
        }
        ("GET", "/event/next") => std::future::pending().await,
        _ => response(404, "unknown path"),
    }
}

async fn next(state: &State) -> Response<Full<Bytes>> {
    state.polls.lock().unwrap().push(Instant::now());
    let pending = loop {
        let notified = state.arrived.notified();
        if let Some(pending) = state.queue.lock().unwrap().pop_front() {
            break pending;
        }
        notified.await;
    };
    let deadline_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
        + 30_000;
    state
        .in_flight
        .lock()
        .unwrap()
        .insert(pending.request_id.clone(), (Instant::now(), pending.done));
    let mut res = response(200, pending.event);
    let headers = res.headers_mut();
    let mut set = |name: &'static str, value: String| {
        if let Ok(value) = value.parse() {
            headers.insert(name, value);
        }
    };
    set("content-type", "application/json".into());
    set("lambda-runtime-aws-request-id", pending.request_id);
    set("lambda-runtime-deadline-ms", deadline_ms.to_string());
    set(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:123456789012:function:test".into(),
    );
    if let Some(trace) = pending.trace_header {
        set("lambda-runtime-trace-id", trace);
    }
    res
}
