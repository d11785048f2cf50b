//! One request through the gateway, in API Gateway's order: size limits, routing (403 Missing
//! Authentication Token), CORS preflight, the Cognito authorizer (401), the Lambda proxy
//! integration (502 on a function error or malformed answer, 504 past the function's timeout),
//! then the X-Ray segment and the access log line. Every answer the gateway makes itself carries
//! the headers the template's gateway responses give it.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use hyper::{Method, Response, StatusCode};
use serde_json::{json, Map, Value};

use crate::cognito::CognitoAuthorizer;
use crate::invoke::{Invoked, Invoker};
use crate::proxy::{self, EventInput, FunctionResponse};
use crate::router::{self, Matched};
use crate::template::{ApiSpec, RouteSpec};
use crate::xray::{self, DaemonSender, IntegrationCall, StageSegment, TraceContext};

/// API Gateway's payload limit.
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;
/// API Gateway's limit on all request headers together.
pub const MAX_HEADER_BYTES: usize = 10 * 1024;
/// Methods a REST API knows; any other is answered like an unknown route.
const METHODS: [&str; 7] = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"];

/// A request as the server read it.
pub struct Incoming {
    pub method: Method,
    /// Path and query, as sent.
    pub target: String,
    pub headers: HeaderMap,
    /// `None` when the body was over [`MAX_BODY_BYTES`].
    pub body: Option<Bytes>,
    pub peer: SocketAddr,
}

/// An answer API Gateway makes itself: its gateway-response type, status and message.
struct GatewayAnswer {
    kind: &'static str,
    status: u16,
    message: &'static str,
    error_type: &'static str,
}

const MISSING_TOKEN: GatewayAnswer = GatewayAnswer {
    kind: "MISSING_AUTHENTICATION_TOKEN",
    status: 403,
    message: "Missing Authentication Token",
    error_type: "MissingAuthenticationTokenException",
};
const UNAUTHORIZED: GatewayAnswer = GatewayAnswer {
    kind: "UNAUTHORIZED",
    status: 401,
    message: "Unauthorized",
    error_type: "UnauthorizedException",
};
const TOO_LARGE: GatewayAnswer = GatewayAnswer {
    kind: "REQUEST_TOO_LARGE",
    status: 413,
    message: "Request Too Long",
    error_type: "RequestTooLargeException",
};
const HEADERS_TOO_LARGE: GatewayAnswer = GatewayAnswer {
    kind: "REQUEST_TOO_LARGE",
    status: 431,
    message: "Request Header Fields Too Large",
    error_type: "RequestTooLargeException",
};
const INTEGRATION_FAILURE: GatewayAnswer = GatewayAnswer {
    kind: "INTEGRATION_FAILURE",
    status: 502,
    message: "Internal server error",
    error_type: "InternalServerErrorException",
};
const INTEGRATION_TIMEOUT: GatewayAnswer = GatewayAnswer {
    kind: "INTEGRATION_TIMEOUT",
    status: 504,
    message: "Endpoint request timed out",
    error_type: "InternalServerErrorException",
};

/// The gateway: the API read from the template, and what it talks to.
pub struct Gateway {
    pub api: ApiSpec,
    pub invoker: Invoker,
    /// The Cognito authorizer, when a user pool is configured. Without one, authorized routes
    /// pass through without claims (the functions' local stand-in applies).
    pub authorizer: Option<CognitoAuthorizer>,
    pub daemon: DaemonSender,
    pub region: String,
}

/// What happened to a request, for its segment and access log line.
struct Outcome {
    status: u16,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
    resource: Option<String>,
    call: Option<(String, String, f64, f64, Option<u16>)>,
    integration_latency: Option<Duration>,
}

impl Gateway {
    pub async fn handle(&self, request: Incoming) -> Response<Full<Bytes>> {
        let started = Instant::now();
        let start = xray::now();
        let request_time_epoch = chrono::Utc::now().timestamp_millis();
        let request_id = uuid::Uuid::new_v4().to_string();
        let trace = TraceContext::from_header(
            request
                .headers
                .get("x-amzn-trace-id")
                .and_then(|v| v.to_str().ok()),
        );
        let outcome = self
            .outcome(&request, &request_id, &trace, request_time_epoch)
            .await;
        let end = xray::now();

        let (path, _) = split_target(&request.target);
        let segment_id = xray::new_id();
        if trace.sampled {
            let host = header(&request.headers, "host").unwrap_or("localhost");
            let url = format!("http://{host}{path}");
            let call = outcome
                .call
                .as_ref()
                .map(|(id, function, start, end, status)| IntegrationCall {
                    id,
                    function,
                    start: *start,
                    end: *end,
                    status: *status,
                });
            let segment = StageSegment {
                api_name: &self.api.name,
                stage: &self.api.stage,
                region: &self.region,
                request_id: &request_id,
                trace: &trace,
                id: &segment_id,
                start,
                end,
                method: request.method.as_str(),
                url: &url,
                client_ip: &request.peer.ip().to_string(),
                user_agent: header(&request.headers, "user-agent"),
                status: outcome.status,
                content_length: outcome.body.len(),
                call,
            };
            self.daemon.send(&segment.document());
        }
        access_log(&AccessLine {
            request_id: &request_id,
            ip: &request.peer.ip().to_string(),
            request_time: &proxy::request_time(request_time_epoch),
            method: request.method.as_str(),
            resource: outcome.resource.as_deref(),
            path,
            status: outcome.status,
            response_length: outcome.body.len(),
            integration_latency: outcome.integration_latency,
            latency: started.elapsed(),
            trace: &trace.root,
        });

        let mut response = Response::new(Full::new(outcome.body));
        *response.status_mut() =
            StatusCode::from_u16(outcome.status).unwrap_or(StatusCode::BAD_GATEWAY);
        let headers = response.headers_mut();
        for (name, value) in outcome.headers {
            headers.append(name, value);
        }
        for (name, value) in [
            ("x-amzn-requestid", request_id.as_str()),
            ("x-amzn-trace-id", trace.response_header().as_str()),
        ] {
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.insert(HeaderName::from_static(name), value);
            }
        }
        response
    }

    async fn outcome(
        &self,
        request: &Incoming,
        request_id: &str,
        trace: &TraceContext,
        request_time_epoch: i64,
    ) -> Outcome {
        let header_bytes: usize = request
            .headers
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 4)
            .sum();
        if header_bytes > MAX_HEADER_BYTES {
            return self.gateway_answer(&HEADERS_TOO_LARGE, None);
        }
        let Some(body) = &request.body else {
            return self.gateway_answer(&TOO_LARGE, None);
        };
        let (path, query) = split_target(&request.target);
        let method = request.method.as_str();
        if !METHODS.contains(&method) {
            return self.gateway_answer(&MISSING_TOKEN, None);
        }
        let matched = router::route(&self.api.routes, method, path);
        let (route, params) = match matched {
            Matched::Route(route, params) => (route, params),
            Matched::NoMethod { resource } if method == "OPTIONS" && self.api.cors.is_some() => {
                return self.preflight(resource);
            }
            Matched::NoMethod { .. } | Matched::NoResource => {
                return self.gateway_answer(&MISSING_TOKEN, None);
            }
        };
        let resource = Some(route.path.clone());
        let claims = match self.authorize(request, route).await {
            Ok(claims) => claims,
            Err(why) => {
                eprintln!("cruddur-gateway: {method} {path}: 401 ({why})");
                return self.gateway_answer(&UNAUTHORIZED, resource);
            }
        };
        let call_id = xray::new_id();
        let event = proxy::event(EventInput {
            method: request.method.clone(),
            path,
            query,
            headers: &request.headers,
            body,
            resource: &route.path,
            path_parameters: params,
            stage: &self.api.stage,
            request_id,
            source_ip: &request.peer.ip().to_string(),
            claims,
            trace_header: &trace.downstream_header(&call_id),
            request_time_epoch,
        });
        let payload = serde_json::to_vec(&event).unwrap_or_default();
        let call_start = xray::now();
        let called = Instant::now();
        let invoked = self
            .invoker
            .invoke(&route.function, payload, route.timeout)
            .await;
        let integration_latency = called.elapsed();
        let call_end = xray::now();
        let function = &route.function;
        let (mut outcome, answered) = match invoked {
            Invoked::Answered(payload) => match proxy::response(&payload) {
                Ok(response) => {
                    let status = response.status;
                    (self.function_answer(response, resource), Some(status))
                }
                Err(why) => {
                    eprintln!("cruddur-gateway: {function}: {why}");
                    (self.gateway_answer(&INTEGRATION_FAILURE, resource), None)
                }
            },
            Invoked::FunctionError(error) => {
                eprintln!("cruddur-gateway: {function}: the function failed: {error}");
                (self.gateway_answer(&INTEGRATION_FAILURE, resource), None)
            }
            Invoked::InvokeFailed(error) => {
                eprintln!("cruddur-gateway: {function}: cannot invoke it: {error} (is `cargo lambda watch` running?)");
                (self.gateway_answer(&INTEGRATION_FAILURE, resource), None)
            }
            Invoked::TimedOut => {
                eprintln!(
                    "cruddur-gateway: {function}: no answer within its Timeout of {} s",
                    route.timeout.as_secs()
                );
                (self.gateway_answer(&INTEGRATION_TIMEOUT, resource), None)
            }
        };
        outcome.call = Some((call_id, function.clone(), call_start, call_end, answered));
        outcome.integration_latency = Some(integration_latency);
        outcome
    }

    /// Runs the route's Cognito authorizer, if it has one and a pool is configured.
    async fn authorize(
        &self,
        request: &Incoming,
        route: &RouteSpec,
    ) -> Result<Option<Map<String, Value>>, String> {
        let (Some(spec), Some(authorizer)) = (&route.authorizer, &self.authorizer) else {
            return Ok(None);
        };
        authorizer
            .authorize(header(&request.headers, "authorization"), &spec.scopes)
            .await
            .map(Some)
            .map_err(|refused| refused.0)
    }

    fn function_answer(&self, response: FunctionResponse, resource: Option<String>) -> Outcome {
        Outcome {
            status: response.status,
            headers: response.headers,
            body: Bytes::from(response.body),
            resource,
            call: None,
            integration_latency: None,
        }
    }

    /// An answer API Gateway makes itself, with the template's gateway-response headers.
    fn gateway_answer(&self, answer: &GatewayAnswer, resource: Option<String>) -> Outcome {
        let mut headers = vec![
            (CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (
                HeaderName::from_static("x-amzn-errortype"),
                HeaderValue::from_static(answer.error_type),
            ),
        ];
        headers.extend(
            self.api
                .response_headers(answer.kind, answer.status)
                .iter()
                .filter_map(|(name, value)| {
                    Some((
                        HeaderName::from_bytes(name.as_bytes()).ok()?,
                        HeaderValue::from_str(value).ok()?,
                    ))
                }),
        );
        let body = json!({ "message": answer.message }).to_string();
        Outcome {
            status: answer.status,
            headers,
            body: Bytes::from(body),
            resource,
            call: None,
            integration_latency: None,
        }
    }

    /// The CORS preflight SAM's `Cors` setting answers on every resource.
    fn preflight(&self, resource: &str) -> Outcome {
        let cors = self.api.cors.as_ref().expect("checked by the caller");
        let mut headers = vec![(CONTENT_TYPE, HeaderValue::from_static("application/json"))];
        for (name, value) in [
            ("access-control-allow-origin", Some(&cors.allow_origin)),
            ("access-control-allow-headers", cors.allow_headers.as_ref()),
            ("access-control-allow-methods", cors.allow_methods.as_ref()),
            ("access-control-max-age", cors.max_age.as_ref()),
        ] {
            if let Some(value) = value.and_then(|v| HeaderValue::from_str(v).ok()) {
                headers.push((HeaderName::from_static(name), value));
            }
        }
        Outcome {
            status: 200,
            headers,
            body: Bytes::new(),
            resource: Some(resource.to_owned()),
            call: None,
            integration_latency: None,
        }
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `/path?query` -> (`/path`, `query`).
fn split_target(target: &str) -> (&str, Option<&str>) {
    match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    }
}

/// One access log line, in API Gateway's `$context` field names.
struct AccessLine<'a> {
    request_id: &'a str,
    ip: &'a str,
    request_time: &'a str,
    method: &'a str,
    resource: Option<&'a str>,
    path: &'a str,
    status: u16,
    response_length: usize,
    integration_latency: Option<Duration>,
    latency: Duration,
    trace: &'a str,
}

fn access_log(line: &AccessLine<'_>) {
    let ms = |d: Duration| (d.as_secs_f64() * 1000.0).round() as u64;
    let record = json!({
        "requestId": line.request_id,
        "extendedRequestId": line.request_id,
        "ip": line.ip,
        "requestTime": line.request_time,
        "httpMethod": line.method,
        "resourcePath": line.resource.unwrap_or("-"),
        "path": line.path,
        "status": line.status,
        "protocol": "HTTP/1.1",
        "responseLength": line.response_length,
        "integrationLatency": line.integration_latency.map(ms),
        "responseLatency": ms(line.latency),
        "xrayTraceId": line.trace,
    });
    println!("{record}");
}
