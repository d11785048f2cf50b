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

use std::time::Duration;

use async_trait::async_trait;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use ureq::tls::{RootCerts, TlsConfig, TlsProvider};

/// A blocking HTTPS client whose requests give up after `timeout`; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct BlockingHttp {
    agent: ureq::Agent,
}

impl BlockingHttp {
    pub(crate) fn new(timeout: Duration) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            // Statuses are the caller's to judge (Rollbar's 429, OTLP's partial success).
            .http_status_as_error(false)
            .tls_config(
                TlsConfig::builder()
                    .provider(TlsProvider::Rustls)
                    .root_certs(RootCerts::PlatformVerifier)
                    .build(),
            )
            .build()
            .new_agent();
        Self { agent }
    }

    /// Sends `request` and reads the whole answer, whatever its status.
    pub(crate) fn send(&self, request: Request<&[u8]>) -> Result<Response<Bytes>, ureq::Error> {
        let (parts, mut body) = self.agent.run(request)?.into_parts();
        let body = body.read_to_vec()?;
        Ok(Response::from_parts(parts, Bytes::from(body)))
    }
}

#[async_trait]
impl HttpClient for BlockingHttp {
    /// Blocks inside the future on purpose: the OTLP exporter is driven by `block_on` on its own
    /// thread, which has nothing else to run meanwhile.
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let (parts, body) = request.into_parts();
        Ok(self.send(Request::from_parts(parts, &body[..]))?)
    }
}
