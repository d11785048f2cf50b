//! The API Gateway stage's part of a trace, as X-Ray shows it: a segment per request (origin
//! `AWS::ApiGateway::Stage`, named `<api name>/<stage>`) with a `Lambda` subsegment for the
//! integration call. The function is handed `X-Amzn-Trace-Id: Root=<trace>;Parent=<that
//! subsegment>;Sampled=1` in its event, so its own segment sits under the call in the same trace.
//! An incoming `X-Amzn-Trace-Id` is honoured (its trace, its parent, its sampling decision).

use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

/// The daemon protocol's header line.
const DAEMON_HEADER: &str = "{\"format\": \"json\", \"version\": 1}\n";

/// Where a request sits in its trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    /// `1-<8 hex epoch>-<24 hex>`.
    pub root: String,
    /// The caller's segment, when the caller is traced.
    pub parent: Option<String>,
    pub sampled: bool,
}

impl TraceContext {
    /// From the request's `X-Amzn-Trace-Id`, or a new trace. A header without a valid `Root` is
    /// ignored, as X-Ray ignores it.
    pub fn from_header(header: Option<&str>) -> Self {
        let field = |name: &str| {
            header?
                .split(';')
                .filter_map(|part| part.trim().split_once('='))
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .map(|(_, value)| value.trim().to_owned())
        };
        match field("Root").filter(|root| is_trace_id(root)) {
            Some(root) => Self {
                root,
                parent: field("Parent").filter(|p| is_segment_id(p)),
                sampled: field("Sampled").as_deref() != Some("0"),
            },
            None => Self::new(),
        }
    }

    pub fn new() -> Self {
        let epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let random = uuid::Uuid::new_v4().simple().to_string();
        Self {
            root: format!("1-{epoch:08x}-{}", &random[..24]),
            parent: None,
            sampled: true,
        }
    }

    /// The header the function gets: its parent is the gateway's integration call.
    pub fn downstream_header(&self, call_id: &str) -> String {
        format!(
            "Root={};Parent={call_id};Sampled={}",
            self.root,
            u8::from(self.sampled)
        )
    }

    /// The header the client gets back.
    pub fn response_header(&self) -> String {
        format!("Root={}", self.root)
    }
}

impl Default for TraceContext {
    fn default() -> Self {
        Self::new()
    }
}

fn is_trace_id(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    parts.len() == 3
        && parts[0] == "1"
        && parts[1].len() == 8
        && parts[2].len() == 24
        && parts[1..]
            .iter()
            .all(|p| p.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn is_segment_id(text: &str) -> bool {
    text.len() == 16 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A new 16-hex-digit segment id.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..16].to_owned()
}

/// Seconds since the epoch, as X-Ray's times.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

/// What the segment says about one request.
#[derive(Debug, Clone)]
pub struct StageSegment<'a> {
    pub api_name: &'a str,
    pub stage: &'a str,
    pub region: &'a str,
    pub request_id: &'a str,
    pub trace: &'a TraceContext,
    pub id: &'a str,
    pub start: f64,
    pub end: f64,
    pub method: &'a str,
    pub url: &'a str,
    pub client_ip: &'a str,
    pub user_agent: Option<&'a str>,
    pub status: u16,
    pub content_length: usize,
    /// The integration call, when one was made: (subsegment id, function, start, end, status).
    pub call: Option<IntegrationCall<'a>>,
}

#[derive(Debug, Clone)]
pub struct IntegrationCall<'a> {
    pub id: &'a str,
    pub function: &'a str,
    pub start: f64,
    pub end: f64,
    /// The function's answer, or `None` when it failed or timed out.
    pub status: Option<u16>,
}

/// 4xx is an error, 429 a throttle, 5xx a fault: X-Ray's flags.
fn flags(status: u16, document: &mut Value) {
    if status == 429 {
        document["throttle"] = json!(true);
        document["error"] = json!(true);
    } else if (400..500).contains(&status) {
        document["error"] = json!(true);
    } else if status >= 500 {
        document["fault"] = json!(true);
    }
}

impl StageSegment<'_> {
    pub fn document(&self) -> Value {
        let mut request = json!({
            "method": self.method,
            "url": self.url,
            "client_ip": self.client_ip,
        });
        if let Some(agent) = self.user_agent {
            request["user_agent"] = json!(agent);
        }
        let mut segment = json!({
            "name": self.api_name,
            "id": self.id,
            "trace_id": self.trace.root,
            "start_time": self.start,
            "end_time": self.end,
            "origin": "AWS::ApiGateway::Stage",
            "resource_arn": format!("arn:aws:apigateway:{}::/restapis/local/stages/{}", self.region, self.stage),
            "http": {
                "request": request,
                "response": {"status": self.status, "content_length": self.content_length}
            },
            "annotations": {},
            "metadata": {},
            "aws": {"api_gateway": {"account_id": "000000000000", "rest_api_id": "local", "stage": self.stage, "request_id": self.request_id}},
        });
        if let Some(parent) = &self.trace.parent {
            segment["parent_id"] = json!(parent);
        }
        flags(self.status, &mut segment);
        if let Some(call) = &self.call {
            let mut subsegment = json!({
                "id": call.id,
                "name": "Lambda",
                "namespace": "aws",
                "start_time": call.start,
                "end_time": call.end,
                "aws": {"function_name": call.function, "region": self.region, "operation": "Invoke", "resource_names": [call.function]},
            });
            match call.status {
                Some(status) => subsegment["http"] = json!({"response": {"status": status}}),
                None => subsegment["fault"] = json!(true),
            }
            segment["subsegments"] = json!([subsegment]);
        }
        segment
    }
}

/// Sends documents to the X-Ray daemon (`AWS_XRAY_DAEMON_ADDRESS`: `host:port`, or Lambda's
/// `tcp:.. udp:..` form). Never fails a request: an unusable address just turns it off.
pub struct DaemonSender {
    socket: Option<(UdpSocket, SocketAddr)>,
}

impl DaemonSender {
    pub fn new(address: &str) -> Self {
        let target = address
            .split_whitespace()
            .find_map(|part| part.strip_prefix("udp:"))
            .or_else(|| (!address.contains("tcp:")).then_some(address.trim()))
            .and_then(|a| a.to_socket_addrs().ok()?.next());
        let socket = target.and_then(|target| {
            let bind: SocketAddr = if target.is_ipv4() {
                ([0, 0, 0, 0], 0).into()
            } else {
                ([0u16; 8], 0).into()
            };
            UdpSocket::bind(bind).ok().map(|s| (s, target))
        });
        if socket.is_none() {
            eprintln!("cruddur-gateway: AWS_XRAY_DAEMON_ADDRESS {address:?} is not usable; no API Gateway segments");
        }
        Self { socket }
    }

    pub fn send(&self, document: &Value) {
        if let Some((socket, target)) = &self.socket {
            let datagram = format!("{DAEMON_HEADER}{document}");
            // An absent daemon loses the datagram, nothing else.
            let _ = socket.send_to(datagram.as_bytes(), target);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incoming_headers_are_honoured_and_bad_ones_ignored() {
        let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0";
        let context = TraceContext::from_header(Some(header));
        assert_eq!(context.root, "1-5759e988-bd862e3fe1be46a994272793");
        assert_eq!(context.parent.as_deref(), Some("53995c3f42cd8ad8"));
        assert!(!context.sampled);
        let only_root = TraceContext::from_header(Some("Root=1-5759e988-bd862e3fe1be46a994272793"));
        assert_eq!(only_root.parent, None);
        assert!(only_root.sampled);
        for bad in [
            None,
            Some(""),
            Some("garbage"),
            Some("Root=1-zz-yy;Parent=x"),
        ] {
            let context = TraceContext::from_header(bad);
            assert!(is_trace_id(&context.root), "{bad:?}");
            assert_eq!(context.parent, None);
        }
        assert_eq!(
            context.downstream_header("0123456789abcdef"),
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=0123456789abcdef;Sampled=0"
        );
    }

    #[test]
    fn the_stage_segment_as_x_ray_shows_it() {
        let trace = TraceContext::from_header(Some("Root=1-5759e988-bd862e3fe1be46a994272793"));
        let segment = StageSegment {
            api_name: "cruddur-prod/prod",
            stage: "prod",
            region: "us-east-1",
            request_id: "req",
            trace: &trace,
            id: "1111111111111111",
            start: 1.0,
            end: 2.0,
            method: "GET",
            url: "http://localhost:4567/api/activities/home",
            client_ip: "127.0.0.1",
            user_agent: Some("curl"),
            status: 502,
            content_length: 10,
            call: Some(IntegrationCall {
                id: "2222222222222222",
                function: "home-activities",
                start: 1.1,
                end: 1.9,
                status: None,
            }),
        };
        let doc = segment.document();
        assert_eq!(doc["origin"], "AWS::ApiGateway::Stage");
        assert_eq!(doc["name"], "cruddur-prod/prod");
        assert_eq!(doc["fault"], true);
        assert_eq!(doc["http"]["response"]["status"], 502);
        assert_eq!(doc["subsegments"][0]["namespace"], "aws");
        assert_eq!(doc["subsegments"][0]["fault"], true);
        assert!(doc.get("parent_id").is_none());
    }
}
