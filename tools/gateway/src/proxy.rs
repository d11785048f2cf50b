//! The Lambda proxy integration: an HTTP request becomes the REST proxy event API Gateway sends
//! (`aws_lambda_events` types, serialised as API Gateway does), and the function's proxy response
//! becomes the HTTP response.

use std::collections::HashMap;

use aws_lambda_events::apigw::{
    ApiGatewayProxyRequest, ApiGatewayProxyRequestContext, ApiGatewayProxyResponse,
};
use aws_lambda_events::encodings::Body;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::Method;
use serde_json::{Map, Value};

/// Headers that describe a connection, not a request: API Gateway does not pass them on.
const HOP_BY_HOP: [&str; 6] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "transfer-encoding",
    "upgrade",
];

/// What the gateway knows about a request when it builds the event.
pub struct EventInput<'a> {
    pub method: Method,
    /// The path as sent, without the query string.
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    /// The matched resource (`/api/activities/{handle}`) and its parameters, as sent.
    pub resource: &'a str,
    pub path_parameters: HashMap<String, String>,
    pub stage: &'a str,
    pub request_id: &'a str,
    pub source_ip: &'a str,
    /// The authorizer's claims, when a Cognito authorizer ran.
    pub claims: Option<Map<String, Value>>,
    /// `X-Amzn-Trace-Id` for the function: its parent is the gateway's integration call.
    pub trace_header: &'a str,
    /// Milliseconds since the epoch.
    pub request_time_epoch: i64,
}

/// The REST proxy event for a request.
pub fn event(input: EventInput<'_>) -> ApiGatewayProxyRequest {
    let mut headers = HeaderMap::new();
    for (name, value) in input.headers {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            headers.append(name.clone(), value.clone());
        }
    }
    let set = |headers: &mut HeaderMap, name: &'static str, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    };
    // API Gateway adds the caller's address, the scheme and port it listened on, and the trace.
    let forwarded = match input
        .headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
    {
        Some(earlier) => format!("{earlier}, {}", input.source_ip),
        None => input.source_ip.to_owned(),
    };
    set(&mut headers, "x-forwarded-for", &forwarded);
    if !input.headers.contains_key("x-forwarded-proto") {
        set(&mut headers, "x-forwarded-proto", "http");
    }
    set(&mut headers, "x-amzn-trace-id", input.trace_header);

    let query = query_map(input.query);
    let host = input
        .headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let user_agent = input
        .headers
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);

    let mut context = ApiGatewayProxyRequestContext::default();
    context.account_id = Some("000000000000".into());
    context.resource_id = Some("local".into());
    context.stage = Some(input.stage.to_owned());
    context.domain_name = host.clone();
    context.domain_prefix = host.map(|h| h.split(['.', ':']).next().unwrap_or_default().to_owned());
    context.request_id = Some(input.request_id.to_owned());
    context.protocol = Some("HTTP/1.1".into());
    context.identity.source_ip = Some(input.source_ip.to_owned());
    context.identity.user_agent = user_agent;
    context.resource_path = Some(input.resource.to_owned());
    context.path = Some(format!("/{}{}", input.stage, input.path));
    context.http_method = input.method.clone();
    context.request_time = Some(request_time(input.request_time_epoch));
    context.request_time_epoch = input.request_time_epoch;
    context.apiid = Some("local".into());
    if let Some(claims) = input.claims {
        context
            .authorizer
            .fields
            .insert("claims".into(), Value::Object(claims));
    }

    let (body, is_base64_encoded) = match input.body {
        [] => (None, false),
        bytes => match std::str::from_utf8(bytes) {
            Ok(text) => (Some(text.to_owned()), false),
            // What is not text arrives base64-encoded, flagged.
            Err(_) => (Some(STANDARD.encode(bytes)), true),
        },
    };

    let mut event = ApiGatewayProxyRequest::default();
    event.resource = Some(input.resource.to_owned());
    event.path = Some(input.path.to_owned());
    event.http_method = input.method;
    event.multi_value_headers = headers.clone();
    event.headers = headers;
    event.query_string_parameters = query.clone();
    event.multi_value_query_string_parameters = query;
    event.path_parameters = input.path_parameters;
    event.request_context = context;
    event.body = body;
    event.is_base64_encoded = is_base64_encoded;
    event
}

/// `29/Nov/2026:08:36:48 +0000`, API Gateway's `requestTime`.
pub fn request_time(epoch_ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(epoch_ms)
        .unwrap_or_default()
        .format("%d/%b/%Y:%H:%M:%S %z")
        .to_string()
}

/// Query parameters, decoded as a form would encode them (`%XX`, and `+` for a space): API
/// Gateway hands them to the function decoded.
fn query_map(query: Option<&str>) -> aws_lambda_events::query_map::QueryMap {
    let mut map: HashMap<String, Vec<String>> = HashMap::new();
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let form = |text: &str| decode(&text.replace('+', " "));
        map.entry(form(key)).or_default().push(form(value));
    }
    map.into()
}

fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

/// The HTTP response a function's proxy response stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionResponse {
    pub status: u16,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Vec<u8>,
}

/// Reads a function's answer as a proxy response. Anything else is what API Gateway calls a
/// malformed Lambda proxy response (a 502).
pub fn response(payload: &[u8]) -> Result<FunctionResponse, String> {
    let parsed: ApiGatewayProxyResponse = serde_json::from_slice(payload)
        .map_err(|e| format!("malformed Lambda proxy response: {e}"))?;
    let status = u16::try_from(parsed.status_code)
        .ok()
        .filter(|s| (100..=599).contains(s))
        .ok_or_else(|| {
            format!(
                "malformed Lambda proxy response: status {}",
                parsed.status_code
            )
        })?;
    let body = match parsed.body {
        None | Some(Body::Empty) => Vec::new(),
        Some(Body::Text(text)) if parsed.is_base64_encoded => STANDARD
            .decode(text.trim())
            .map_err(|e| format!("malformed Lambda proxy response: body is not base64: {e}"))?,
        Some(Body::Text(text)) => text.into_bytes(),
        Some(Body::Binary(bytes)) => bytes,
        Some(_) => Vec::new(),
    };
    // `multiValueHeaders` and `headers` both count; a name in both keeps every value once.
    let mut headers: Vec<(HeaderName, HeaderValue)> = Vec::new();
    for (name, value) in parsed
        .multi_value_headers
        .iter()
        .chain(parsed.headers.iter())
    {
        if !headers.iter().any(|(n, v)| n == name && v == value) {
            headers.push((name.clone(), value.clone()));
        }
    }
    Ok(FunctionResponse {
        status,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(headers: &'a HeaderMap, body: &'a [u8]) -> EventInput<'a> {
        EventInput {
            method: Method::POST,
            path: "/api/activities/%40worf/status/abc",
            query: Some("term=cloud%20fun&tag=a&tag=b&q=a+b%2B"),
            headers,
            body,
            resource: "/api/activities/{handle}/status/{uuid}",
            path_parameters: HashMap::from([
                ("handle".to_owned(), "%40worf".to_owned()),
                ("uuid".to_owned(), "abc".to_owned()),
            ]),
            stage: "prod",
            request_id: "req-1",
            source_ip: "127.0.0.1",
            claims: None,
            trace_header:
                "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
            request_time_epoch: 1_795_240_800_000,
        }
    }

    #[test]
    fn the_event_is_api_gateways() {
        let mut headers = HeaderMap::new();
        headers.insert("host", "localhost:4567".parse().unwrap());
        headers.insert("content-type", "application/json".parse().unwrap());
        headers.insert("connection", "keep-alive".parse().unwrap());
        headers.append("accept", "a".parse().unwrap());
        headers.append("accept", "b".parse().unwrap());
        let event = serde_json::to_value(event(input(&headers, b"{\"message\":\"hi\"}"))).unwrap();
        assert_eq!(event["resource"], "/api/activities/{handle}/status/{uuid}");
        assert_eq!(event["path"], "/api/activities/%40worf/status/abc");
        assert_eq!(event["httpMethod"], "POST");
        assert_eq!(event["pathParameters"]["handle"], "%40worf");
        assert_eq!(event["queryStringParameters"]["term"], "cloud fun");
        assert_eq!(event["queryStringParameters"]["q"], "a b+");
        assert_eq!(
            event["multiValueQueryStringParameters"]["tag"],
            serde_json::json!(["a", "b"])
        );
        assert_eq!(event["headers"]["content-type"], "application/json");
        assert_eq!(
            event["multiValueHeaders"]["accept"],
            serde_json::json!(["a", "b"])
        );
        assert!(event["headers"].get("connection").is_none());
        assert_eq!(event["headers"]["x-forwarded-for"], "127.0.0.1");
        assert!(event["headers"]["x-amzn-trace-id"]
            .as_str()
            .unwrap()
            .contains("Parent=53995c3f42cd8ad8"));
        let context = &event["requestContext"];
        assert_eq!(context["stage"], "prod");
        assert_eq!(context["requestId"], "req-1");
        assert_eq!(
            context["resourcePath"],
            "/api/activities/{handle}/status/{uuid}"
        );
        assert_eq!(context["path"], "/prod/api/activities/%40worf/status/abc");
        assert_eq!(context["identity"]["sourceIp"], "127.0.0.1");
        assert_eq!(context["requestTimeEpoch"], 1_795_240_800_000i64);
        assert_eq!(context["requestTime"], "21/Nov/2026:06:00:00 +0000");
        assert_eq!(event["body"], "{\"message\":\"hi\"}");
        assert_eq!(event["isBase64Encoded"], false);
    }

    #[test]
    fn binary_bodies_are_base64_and_claims_pass() {
        let headers = HeaderMap::new();
        let mut with_claims = input(&headers, &[0xff, 0xfe, 0x00]);
        let claims = serde_json::json!({"sub": "abc"});
        with_claims.claims = claims.as_object().cloned();
        let event = serde_json::to_value(event(with_claims)).unwrap();
        assert_eq!(event["isBase64Encoded"], true);
        assert_eq!(event["body"], "//4A");
        assert_eq!(
            event["requestContext"]["authorizer"]["claims"]["sub"],
            "abc"
        );
    }

    #[test]
    fn proxy_responses_become_http_responses() {
        let ok = response(
            br#"{"statusCode":201,"headers":{"content-type":"application/json"},"multiValueHeaders":{"set-cookie":["a=1","b=2"]},"body":"{}"}"#,
        )
        .unwrap();
        assert_eq!(ok.status, 201);
        assert_eq!(ok.body, b"{}");
        let cookies = ok.headers.iter().filter(|(n, _)| n == "set-cookie").count();
        assert_eq!(cookies, 2);
        let binary =
            response(br#"{"statusCode":200,"body":"//4A","isBase64Encoded":true}"#).unwrap();
        assert_eq!(binary.body, [0xff, 0xfe, 0x00]);
        for bad in [
            &b"not json"[..],
            br#"{"body":"no status"}"#,
            br#"{"statusCode":1000}"#,
            br#"{"statusCode":200,"body":"%%%","isBase64Encoded":true}"#,
            b"null",
        ] {
            assert!(response(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
