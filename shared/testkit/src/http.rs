//! A tiny HTTP/1.1 server on loopback, shared by the Runtime API emulator and the sinks.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// A request as received: method, path (with query), headers (lower-case names) and body.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub received_at: Instant,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// Reads a whole request.
pub async fn record(req: Request<Incoming>) -> Recorded {
    let received_at = Instant::now();
    let method = req.method().to_string();
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                v.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    Recorded {
        method,
        path,
        headers,
        body,
        received_at,
    }
}

pub fn response(status: u16, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response
}

/// Serves `handle` on a fresh loopback port until the runtime stops.
pub async fn serve<H, F>(handle: H) -> SocketAddr
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let handle = handle.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let handle = handle.clone();
                    async move { Ok::<_, Infallible>(handle(req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// How a sink answers.
#[derive(Debug, Clone)]
pub struct SinkBehavior {
    pub status: u16,
    pub delay: Duration,
    pub body: String,
    pub headers: Vec<(String, String)>,
}

impl Default for SinkBehavior {
    fn default() -> Self {
        Self {
            status: 200,
            delay: Duration::ZERO,
            body: "{}".to_owned(),
            headers: Vec::new(),
        }
    }
}

/// An HTTP endpoint that records every request (an OTLP collector, Rollbar, ...).
#[derive(Clone)]
pub struct HttpSink {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
    answered: Arc<Mutex<Vec<Instant>>>,
    behavior: Arc<Mutex<SinkBehavior>>,
}

impl HttpSink {
    pub async fn start() -> Self {
        Self::with_behavior(SinkBehavior::default()).await
    }

    pub async fn with_behavior(behavior: SinkBehavior) -> Self {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let answered = Arc::new(Mutex::new(Vec::new()));
        let behavior = Arc::new(Mutex::new(behavior));
        let (r, a, b) = (requests.clone(), answered.clone(), behavior.clone());
        let addr = serve(move |req| {
            let (requests, answered, behavior) = (r.clone(), a.clone(), b.clone());
            async move {
                let recorded = record(req).await;
                requests.lock().unwrap().push(recorded);
                let behavior = behavior.lock().unwrap().clone();
                tokio::time::sleep(behavior.delay).await;
                answered.lock().unwrap().push(Instant::now());
                let mut res = response(behavior.status, behavior.body);
                for (k, v) in behavior.headers {
                    if let (Ok(k), Ok(v)) = (
                        hyper::header::HeaderName::from_bytes(k.as_bytes()),
                        v.parse(),
                    ) {
                        res.headers_mut().insert(k, v);
                    }
                }
                res
            }
        })
        .await;
        Self {
            addr,
            requests,
            answered,
            behavior,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set_behavior(&self, behavior: SinkBehavior) {
        *self.behavior.lock().unwrap() = behavior;
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    /// When each answer was sent (after the configured delay).
    pub fn answered(&self) -> Vec<Instant> {
        self.answered.lock().unwrap().clone()
    }

    /// Waits until `predicate` holds for the requests so far, or `timeout` passes.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        predicate: impl Fn(&[Recorded]) -> bool,
    ) -> Vec<Recorded> {
        crate::wait_until(timeout, || self.requests(), |r| predicate(r)).await
    }
}
