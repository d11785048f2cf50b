//! The X-Ray side: spans as segment documents (see `segment`) sent to the X-Ray daemon over UDP
//! by a client that never fails a function.
//!
//! The client accepts the `tcp:host:port udp:host:port` address form Lambda sets, never panics
//! (no address or socket: it stays quiet and counts), and never sends a document over the
//! daemon's 64 KiB limit (metadata is truncated and marked instead).

use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use opentelemetry_sdk::Resource;
use serde_json::Value as Json;

use crate::segment::{segment_document, Origin};

/// The daemon protocol's header line.
pub(crate) const DAEMON_HEADER: &[u8] = b"{\"format\": \"json\", \"version\": 1}\n";
/// The largest datagram sent (header included). The daemon reads up to 64 KiB, but one IPv4 UDP
/// datagram carries at most 65,507 bytes of payload: anything between would not send at all.
pub(crate) const MAX_DATAGRAM_BYTES: usize = 65_507;

/// Parses `AWS_XRAY_DAEMON_ADDRESS`: `host:port`, or Lambda's `tcp:host:port udp:host:port`.
pub(crate) fn daemon_address(raw: &str) -> Option<SocketAddr> {
    let raw = raw.trim();
    let udp = raw
        .split_whitespace()
        .find_map(|part| part.strip_prefix("udp:"))
        .or_else(|| (!raw.contains(' ') && !raw.starts_with("tcp:")).then_some(raw))?;
    udp.to_socket_addrs().ok()?.next()
}

/// Counters of what the client sent, cut and could not send.
#[derive(Debug, Default)]
pub(crate) struct DaemonStats {
    pub(crate) sent: AtomicU64,
    pub(crate) truncated: AtomicU64,
    pub(crate) dropped: AtomicU64,
}

/// Sends segment documents to the X-Ray daemon over UDP.
#[derive(Debug)]
pub(crate) struct UdpDaemonClient {
    socket: Option<UdpSocket>,
    stats: Arc<DaemonStats>,
    warned: AtomicBool,
}

impl UdpDaemonClient {
    /// A client for `AWS_XRAY_DAEMON_ADDRESS`. A bad address or socket leaves it disabled (and
    /// says so once): tracing must never stop a function from serving.
    pub(crate) fn new(address: &str, stats: Arc<DaemonStats>) -> Self {
        let socket = match daemon_address(address) {
            None => {
                tracing::warn!(target: "telemetry", address, "AWS_XRAY_DAEMON_ADDRESS is not a usable address; X-Ray export is off");
                None
            }
            Some(addr) => {
                let bind: SocketAddr = if addr.is_ipv4() {
                    ([0, 0, 0, 0], 0).into()
                } else {
                    ([0u16; 8], 0).into()
                };
                match UdpSocket::bind(bind)
                    .and_then(|s| s.connect(addr).map(|_| s))
                    .and_then(|s| s.set_nonblocking(true).map(|_| s))
                {
                    Ok(socket) => Some(socket),
                    Err(err) => {
                        tracing::warn!(target: "telemetry", error = %err, "cannot open a UDP socket to the X-Ray daemon; X-Ray export is off");
                        None
                    }
                }
            }
        };
        Self {
            socket,
            stats,
            warned: AtomicBool::new(false),
        }
    }

    fn send(&self, document: &Json) {
        let Some(socket) = &self.socket else { return };
        let mut datagram = DAEMON_HEADER.to_vec();
        let body = serde_json::to_vec(document).unwrap_or_default();
        match fit_document(body, MAX_DATAGRAM_BYTES - DAEMON_HEADER.len()) {
            Fitted::AsIs(body) => datagram.extend_from_slice(&body),
            Fitted::Truncated(body) => {
                self.stats.truncated.fetch_add(1, Ordering::Relaxed);
                datagram.extend_from_slice(&body);
            }
            Fitted::TooLarge => {
                self.count_drop("a segment document stays over 64 KiB without metadata; dropped");
                return;
            }
        }
        // Connection-refused errors from an absent daemon are expected: the datagram is lost,
        // the function goes on.
        match socket.send(&datagram) {
            Ok(_) => {
                self.stats.sent.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                self.count_drop("the X-Ray daemon did not take a segment document (is it running?)")
            }
        }
    }

    fn count_drop(&self, why: &str) {
        self.stats.dropped.fetch_add(1, Ordering::Relaxed);
        if !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(target: "telemetry", "{why}; further drops are counted, not logged");
        }
    }
}

/// The X-Ray exporter: each span of a batch as one segment document to the daemon.
#[derive(Debug)]
pub(crate) struct XrayExporter {
    client: UdpDaemonClient,
    origin: Origin,
    /// Span fields that are also annotations: (field, key).
    annotations: Vec<(String, String)>,
}

impl XrayExporter {
    pub(crate) fn new(client: UdpDaemonClient, annotations: Vec<(String, String)>) -> Self {
        Self {
            client,
            origin: Origin::default(),
            annotations,
        }
    }
}

impl SpanExporter for XrayExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        for span in &batch {
            if let Some(document) = segment_document(span, &self.origin, &self.annotations) {
                self.client.send(&document);
            }
        }
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.origin = Origin::from_resource(resource);
    }
}

/// A document that fits the limit, or why it cannot.
#[derive(Debug, PartialEq)]
pub(crate) enum Fitted {
    AsIs(Vec<u8>),
    Truncated(Vec<u8>),
    TooLarge,
}

/// Makes a document fit `limit` bytes by cutting its largest metadata values first. A truncated
/// document says so in `metadata.telemetry.truncated` (and its original size).
pub(crate) fn fit_document(body: Vec<u8>, limit: usize) -> Fitted {
    if body.len() <= limit {
        return Fitted::AsIs(body);
    }
    let original = body.len();
    let Ok(mut doc) = serde_json::from_slice::<Json>(&body) else {
        return Fitted::TooLarge;
    };
    let marker = serde_json::json!({"truncated": true, "original_bytes": original});
    // Every metadata value, largest first, as (namespace, key, size).
    let mut entries: Vec<(String, String, usize)> = doc
        .get("metadata")
        .and_then(Json::as_object)
        .map(|namespaces| {
            namespaces
                .iter()
                .flat_map(|(ns, values)| match values.as_object() {
                    Some(map) => map
                        .iter()
                        .map(|(k, v)| (ns.clone(), k.clone(), v.to_string().len()))
                        .collect::<Vec<_>>(),
                    None => vec![(ns.clone(), String::new(), values.to_string().len())],
                })
                .collect()
        })
        .unwrap_or_default();
    entries.sort_by_key(|entry| std::cmp::Reverse(entry.2));
    for (ns, key, _) in entries {
        if let Some(metadata) = doc.get_mut("metadata").and_then(Json::as_object_mut) {
            match metadata.get_mut(&ns).and_then(Json::as_object_mut) {
                Some(map) if !key.is_empty() => {
                    map.insert(key, Json::String("[truncated]".into()));
                }
                _ => {
                    metadata.remove(&ns);
                }
            }
            metadata.insert("telemetry".into(), marker.clone());
        }
        let bytes = serde_json::to_vec(&doc).unwrap_or_default();
        if bytes.len() <= limit {
            return Fitted::Truncated(bytes);
        }
    }
    Fitted::TooLarge
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daemon_address_forms() {
        assert_eq!(
            daemon_address("127.0.0.1:2000"),
            Some("127.0.0.1:2000".parse().unwrap())
        );
        assert_eq!(
            daemon_address("tcp:127.0.0.1:2000 udp:127.0.0.1:2001"),
            Some("127.0.0.1:2001".parse().unwrap())
        );
        assert_eq!(
            daemon_address("udp:127.0.0.1:2002 tcp:127.0.0.1:2000"),
            Some("127.0.0.1:2002".parse().unwrap())
        );
        for bad in [
            "",
            "garbage",
            "tcp:127.0.0.1:2000",
            "127.0.0.1",
            "udp:",
            "1.2.3.4:99999",
        ] {
            assert_eq!(daemon_address(bad), None, "{bad}");
        }
    }

    #[test]
    fn bad_address_disables_without_panic() {
        let client = UdpDaemonClient::new("tcp:nowhere", Arc::default());
        assert!(client.socket.is_none());
    }

    #[test]
    fn oversized_documents_lose_metadata_not_structure() {
        let doc = serde_json::json!({
            "name": "list-orders", "id": "70de5b6f19ff9a0a", "trace_id": "1-581cf771-a006649127e371903a2de979",
            "start_time": 1.0, "end_time": 2.0,
            "annotations": {"handle": "worf"},
            "metadata": {"default": {"big": "x".repeat(100_000), "small": "keep me"}}
        });
        let body = serde_json::to_vec(&doc).unwrap();
        let Fitted::Truncated(out) = fit_document(body, 64 * 1024) else {
            panic!("not truncated")
        };
        assert!(out.len() <= 64 * 1024);
        let out: Json = serde_json::from_slice(&out).unwrap();
        assert_eq!(out["metadata"]["default"]["big"], "[truncated]");
        assert_eq!(out["metadata"]["default"]["small"], "keep me");
        assert_eq!(out["metadata"]["telemetry"]["truncated"], true);
        assert_eq!(out["annotations"]["handle"], "worf");
        assert_eq!(out["trace_id"], "1-581cf771-a006649127e371903a2de979");

        let small = b"{\"name\":\"x\"}".to_vec();
        assert_eq!(fit_document(small.clone(), 100), Fitted::AsIs(small));
        let huge_name =
            serde_json::to_vec(&serde_json::json!({"name": "x".repeat(70_000)})).unwrap();
        assert_eq!(fit_document(huge_name, 64 * 1024), Fitted::TooLarge);
    }
}
