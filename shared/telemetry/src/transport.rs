//! The HTTP client of the OTLP exporter and the Rollbar reporter.
//!
//! Both send one request at a time from their own telemetry thread, so they need a blocking
//! client, and ureq is one that does its work on the calling thread. reqwest's blocking client
//! drives its async client from a thread of its own with its own Tokio runtime, one per client:
//! two more threads and their malloc arenas in every function for no gain. TLS is rustls on the
//! process's crypto provider (ring, installed by `Telemetry::build`), trusting the platform's
//! roots (`SSL_CERT_FILE` and `SSL_CERT_DIR` honoured), like the AWS SDK clients.
//!
//! opentelemetry-http implements its `HttpClient` for reqwest and hyper only; the few lines of
//! [`HttpClient`] below let the OTLP exporter use ureq.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// Each connection's read and write buffers (ureq's default: 128 KiB each, zero-filled when the
/// connection opens, so a TLS connection held half a megabyte of resident memory). Requests and
/// answers of any size pass through them in pieces; 16 KiB holds a whole TLS record and any
/// response head Rollbar or an OTLP endpoint sends.
const BUFFER_BYTES: usize = 16 * 1024;

use bytes::Bytes;
use lambda_http::http::{Request, Response};
use ureq::tls::{RootCerts, TlsConfig, TlsProvider};

use crate::breaker::Failure;

/// Makes ring rustls' process-wide crypto provider, which this client (ureq without a bundled
/// provider) uses. Ring: the AWS SDK clients of an application can use ring too, and one TLS
/// stack is half the bytes of two. An application that installed its own provider first keeps
/// it (one that wants post-quantum key exchange installs aws-lc's first).
// rustls 0.23.48 deprecates ring's provider for lacking post-quantum key exchange; ring stays the
// choice for its size, so a newer rustls in an application's lock must not warn here.
#[allow(deprecated)]
pub(crate) fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// A blocking HTTPS client whose requests give up after `timeout`; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct BlockingHttp {
    agent: ureq::Agent,
    /// The status and `Retry-After` of the last answer, for a caller that only sees the
    /// exporter's error (the OTLP exporter's errors are text).
    last_answer: Arc<Mutex<Option<Answer>>>,
}

/// What a backend answered: its status and how long it asked to be left alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) retry_after: Option<Duration>,
}

impl Answer {
    fn of<B>(response: &Response<B>) -> Self {
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        Self {
            status: response.status().as_u16(),
            retry_after,
        }
    }

    /// How a failed request counts against the backend's breaker: 401 and 403 stop it (wrong
    /// credentials), a 429 or 503 with `Retry-After` rests it at least that long, anything else
    /// (no answer, a 5xx) rests it for the next backoff.
    pub(crate) fn failure(answer: Option<Answer>, error: String) -> Failure {
        match answer {
            Some(Answer {
                status: 401 | 403, ..
            }) => Failure::Refused(error),
            Some(Answer {
                status: 429 | 503,
                retry_after: Some(wait),
            }) => Failure::RetryAfter(wait, error),
            _ => Failure::Unavailable(error),
        }
    }
}

impl BlockingHttp {
    pub(crate) fn new(timeout: Duration) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            // Statuses are the caller's to judge (Rollbar's 429, OTLP's partial success).
            .http_status_as_error(false)
            .input_buffer_size(BUFFER_BYTES)
            .output_buffer_size(BUFFER_BYTES)
            .max_response_header_size(BUFFER_BYTES)
            .tls_config(
                TlsConfig::builder()
                    .provider(TlsProvider::Rustls)
                    .root_certs(RootCerts::PlatformVerifier)
                    .build(),
            )
            .build()
            .new_agent();
        Self {
            agent,
            last_answer: Arc::default(),
        }
    }

    /// The last answer's status and `Retry-After`, forgotten once read.
    pub(crate) fn take_last_answer(&self) -> Option<Answer> {
        self.last_answer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// Sends `request` and reads the whole answer, whatever its status.
    pub(crate) fn send(&self, request: Request<&[u8]>) -> Result<Response<Bytes>, ureq::Error> {
        *self
            .last_answer
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
        let response = self.agent.run(request)?;
        *self
            .last_answer
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Answer::of(&response));
        let (parts, mut body) = response.into_parts();
        let body = body.read_to_vec()?;
        Ok(Response::from_parts(parts, Bytes::from(body)))
    }
}

#[cfg(feature = "otlp")]
#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for BlockingHttp {
    /// Blocks inside the future on purpose: the OTLP exporter is driven by `block_on` on its own
    /// thread, which has nothing else to run meanwhile.
    async fn send_bytes(
        &self,
        request: Request<Bytes>,
    ) -> Result<Response<Bytes>, opentelemetry_http::HttpError> {
        let (parts, body) = request.into_parts();
        Ok(self.send(Request::from_parts(parts, &body[..]))?)
    }
}

#[cfg(test)]
mod tests {
    use lambda_testkit::http::{HttpSink, SinkBehavior};

    use super::*;

    #[tokio::test]
    async fn bodies_larger_than_the_buffers_go_out_and_come_back_whole() {
        let answer: String = (0..200_000)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        let sink = HttpSink::with_behavior(SinkBehavior {
            body: answer.clone(),
            ..SinkBehavior::default()
        })
        .await;
        let sent: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        let url = format!("{}/v1/traces", sink.url());
        let request_body = sent.clone();
        let response = tokio::task::spawn_blocking(move || {
            let request = Request::post(url).body(&request_body[..]).unwrap();
            BlockingHttp::new(Duration::from_secs(10)).send(request)
        })
        .await
        .unwrap()
        .expect("the request succeeds");
        assert_eq!(response.status(), 200);
        assert_eq!(response.body().as_ref(), answer.as_bytes());
        let requests = sink.requests();
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].body, sent);
    }
}
