//! Reading an invocation's event as an HTTP request, without letting a malformed one take the
//! function down, and sending the handler's response back in the format of the event's origin.
//! `lambda_http` panics on some events while turning them into a request (a body flagged
//! `isBase64Encoded` that is not base64, a URI it cannot build) and reads an empty `httpMethod`
//! as GET; such events are answered `400` with the settings' `bad_request` body, logged and
//! reported, and the handler never sees them.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use lambda_http::aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayV2httpResponse};
use lambda_http::http::header::{HeaderName, CONTENT_TYPE, SET_COOKIE};
use lambda_http::http::{HeaderValue, StatusCode};
use lambda_http::request::{LambdaRequest, RequestOrigin};
use lambda_http::tower::{Layer, Service};
use lambda_http::{Body, Request, RequestExt, Response};
use lambda_runtime::LambdaEvent;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::http::record_answer;
use crate::panics::catch;
use crate::propagation::XRAY_TRACE_HEADER;

/// An invocation's event: the HTTP request it carries, or why it carries none.
pub struct HttpEvent {
    request: Result<LambdaRequest, String>,
    /// Method and path as the event names them, for the access line of a refused event.
    method: String,
    path: String,
}

impl<'de> Deserialize<'de> for HttpEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let event = Value::deserialize(deserializer)?;
        let text = |pointer: &str| {
            event
                .pointer(pointer)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let method = text("/httpMethod")
            .or_else(|| text("/requestContext/http/method"))
            .unwrap_or_default();
        let path = text("/path")
            .or_else(|| text("/rawPath"))
            .unwrap_or_default();
        // A REST API event always names its method; lambda_http would read a missing or empty
        // one as GET.
        let rest_api = event.get("resource").is_some() && event.get("version").is_none();
        if rest_api && method.is_empty() {
            return Ok(Self {
                request: Err("the event names no HTTP method".to_owned()),
                method: "-".to_owned(),
                path,
            });
        }
        // Anything that is no HTTP event at all fails here, as lambda_http fails it.
        let request = serde_json::from_value::<LambdaRequest>(event).map_err(D::Error::custom)?;
        Ok(Self {
            request: Ok(request),
            method,
            path,
        })
    }
}

/// Serves HTTP events: each becomes an `http::Request` for the handler, and the handler's
/// `Response` goes back in the response format of the event's origin; events it cannot read are
/// answered 400.
#[derive(Clone)]
pub struct HttpEventLayer {
    bad_request: Arc<str>,
}

impl HttpEventLayer {
    /// `bad_request`: the JSON body of the 400 a malformed event gets.
    pub fn new(bad_request: impl Into<Arc<str>>) -> Self {
        Self {
            bad_request: bad_request.into(),
        }
    }
}

impl<S> Layer<S> for HttpEventLayer {
    type Service = HttpEventService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpEventService {
            inner,
            bad_request: self.bad_request.clone(),
        }
    }
}

/// The service [`HttpEventLayer`] makes around an HTTP handler `S`.
#[derive(Clone)]
pub struct HttpEventService<S> {
    inner: S,
    bad_request: Arc<str>,
}

/// What goes back to the Runtime API: API Gateway's proxy response (REST APIs) or its version
/// 2.0 response (HTTP APIs and Function URLs).
#[derive(Serialize)]
#[serde(untagged)]
pub enum HttpAnswer {
    RestApi(ApiGatewayProxyResponse),
    HttpApi(ApiGatewayV2httpResponse),
}

impl<S> Service<LambdaEvent<HttpEvent>> for HttpEventService<S>
where
    S: Service<Request, Response = Response<Body>>,
{
    type Response = HttpAnswer;
    type Error = S::Error;
    type Future = HttpEventFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, event: LambdaEvent<HttpEvent>) -> Self::Future {
        let LambdaEvent { payload, context } = event;
        let HttpEvent {
            request,
            method,
            path,
        } = payload;
        let (origin, why) = match request {
            Ok(request) => {
                let origin = request.request_origin();
                // lambda_http builds the request in `into`; that is where it may panic.
                match catch(|| self.inner.call(into_request(request, context))) {
                    Ok(future) => return HttpEventFuture::Handled(origin, Box::pin(future)),
                    Err(panic) => (origin, panic.message),
                }
            }
            Err(why) => (RequestOrigin::ApiGatewayV1, why),
        };
        let span = tracing::Span::current();
        span.in_scope(|| {
            tracing::warn!(report = true, error = %why, "the event is not a readable HTTP request; answered 400");
        });
        record_answer(&span, &method, &path, 400);
        HttpEventFuture::Answered(Some(Box::new(bad_request(&origin, &self.bad_request))))
    }
}

/// The request the handler sees: lambda_http's conversion, with the invocation's context in its
/// extensions and Lambda's trace header as `x-amzn-trace-id`.
fn into_request(event: LambdaRequest, context: lambda_runtime::Context) -> Request {
    let mut request = Request::from(event);
    if let Some(header) = context
        .xray_trace_id
        .as_deref()
        .and_then(|id| HeaderValue::from_str(id).ok())
    {
        request
            .headers_mut()
            .insert(HeaderName::from_static(XRAY_TRACE_HEADER), header);
    }
    request.with_lambda_context(context)
}

/// The handler's response in the format of the event's origin. Written here rather than taken
/// from lambda_http's adapter: it re-decodes every text body by the charset its Content-Type
/// names, which links encoding_rs's decoders and tables for every charset into each function.
/// Here the body goes out as the handler made it: text as text, binary base64-encoded.
fn answer(origin: &RequestOrigin, response: Response<Body>) -> HttpAnswer {
    let (parts, body) = response.into_parts();
    let (body, is_base64_encoded) = match body {
        Body::Empty => (None, false),
        Body::Binary(bytes) => (Some(Body::Binary(bytes)), true),
        text => (Some(text), false),
    };
    let status_code = i64::from(parts.status.as_u16());
    let mut headers = parts.headers;
    match origin {
        RequestOrigin::ApiGatewayV2 => {
            // A version 2.0 response carries its cookies apart from its headers.
            let cookies = headers
                .get_all(SET_COOKIE)
                .iter()
                .filter_map(|value| value.to_str().ok().map(str::to_owned))
                .collect();
            headers.remove(SET_COOKIE);
            let mut response = ApiGatewayV2httpResponse::default();
            response.status_code = status_code;
            response.headers = headers;
            response.cookies = cookies;
            response.body = body;
            response.is_base64_encoded = is_base64_encoded;
            HttpAnswer::HttpApi(response)
        }
        // REST APIs, WebSockets and anything newer: API Gateway's proxy response. Headers go in
        // `multiValueHeaders` only: API Gateway merges the two maps, which would repeat them.
        _ => {
            let mut response = ApiGatewayProxyResponse::default();
            response.status_code = status_code;
            response.multi_value_headers = headers;
            response.body = body;
            response.is_base64_encoded = is_base64_encoded;
            HttpAnswer::RestApi(response)
        }
    }
}

/// A 400 in the response format of the event's origin.
fn bad_request(origin: &RequestOrigin, body: &str) -> HttpAnswer {
    let mut response = Response::new(Body::Text(body.to_owned()));
    *response.status_mut() = StatusCode::BAD_REQUEST;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    answer(origin, response)
}

/// The handler's answer, or the 400 given in its place.
pub enum HttpEventFuture<F> {
    Handled(RequestOrigin, Pin<Box<F>>),
    // Boxed: the common case, a handled request, should not carry a 400's size.
    Answered(Option<Box<HttpAnswer>>),
}

impl<F, E> Future for HttpEventFuture<F>
where
    F: Future<Output = Result<Response<Body>, E>>,
{
    type Output = Result<HttpAnswer, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            HttpEventFuture::Handled(origin, future) => future
                .as_mut()
                .poll(cx)
                .map_ok(|response| answer(origin, response)),
            HttpEventFuture::Answered(response) => Poll::Ready(Ok(*response
                .take()
                .expect("a ready future is not polled again"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(event: Value) -> Result<HttpEvent, serde_json::Error> {
        serde_json::from_value(event)
    }

    fn rest_event() -> Value {
        serde_json::json!({
            "resource": "/things", "path": "/things", "httpMethod": "POST",
            "headers": {}, "requestContext": {"httpMethod": "POST", "resourcePath": "/things"},
            "body": "{}", "isBase64Encoded": false
        })
    }

    #[test]
    fn rest_events_must_name_their_method() {
        assert!(read(rest_event()).unwrap().request.is_ok());
        for method in [Value::from(""), Value::Null] {
            let mut event = rest_event();
            event["httpMethod"] = method;
            let read = read(event).unwrap();
            assert_eq!(read.request.unwrap_err(), "the event names no HTTP method");
            assert_eq!(read.path, "/things");
        }
    }

    #[test]
    fn what_is_no_http_event_is_refused_as_lambda_http_refuses_it() {
        assert!(read(serde_json::json!({"userName": "quark"})).is_err());
        assert!(read(serde_json::json!([1, 2])).is_err());
    }

    #[test]
    fn a_400_speaks_its_origins_format() {
        let v1 =
            serde_json::to_value(bad_request(&RequestOrigin::ApiGatewayV1, "[\"x\"]")).unwrap();
        assert_eq!(v1["statusCode"], 400);
        assert_eq!(v1["body"], "[\"x\"]");
        assert_eq!(
            v1["multiValueHeaders"]["content-type"],
            serde_json::json!(["application/json"])
        );
        let v2 = serde_json::to_value(bad_request(&RequestOrigin::ApiGatewayV2, "{}")).unwrap();
        assert_eq!(v2["statusCode"], 400);
        assert_eq!(v2["headers"]["content-type"], "application/json");
    }

    fn response(body: Body) -> Response<Body> {
        Response::builder()
            .status(201)
            .header(CONTENT_TYPE, "application/json; charset=utf-8")
            .header("vary", "Origin")
            .header(SET_COOKIE, "a=1")
            .header(SET_COOKIE, "b=2")
            .body(body)
            .unwrap()
    }

    #[test]
    fn a_rest_api_gets_every_header_once_in_multi_value_headers() {
        let v1 = serde_json::to_value(answer(
            &RequestOrigin::ApiGatewayV1,
            response(Body::from("{\"ok\":true}")),
        ))
        .unwrap();
        assert_eq!(v1["statusCode"], 201);
        assert_eq!(v1["body"], "{\"ok\":true}");
        assert_eq!(v1["isBase64Encoded"], false);
        assert_eq!(
            v1["multiValueHeaders"]["vary"],
            serde_json::json!(["Origin"])
        );
        assert_eq!(
            v1["multiValueHeaders"]["set-cookie"],
            serde_json::json!(["a=1", "b=2"])
        );
        assert!(v1["headers"].as_object().is_none_or(|h| h.is_empty()));
    }

    #[test]
    fn an_http_api_gets_its_cookies_apart_from_its_headers() {
        let v2 = serde_json::to_value(answer(
            &RequestOrigin::ApiGatewayV2,
            response(Body::from("[]")),
        ))
        .unwrap();
        assert_eq!(v2["statusCode"], 201);
        assert_eq!(v2["body"], "[]");
        assert_eq!(v2["cookies"], serde_json::json!(["a=1", "b=2"]));
        assert_eq!(v2["headers"]["vary"], "Origin");
        assert!(v2["headers"].get("set-cookie").is_none());
    }

    #[test]
    fn bodies_go_out_as_the_handler_made_them() {
        let binary = serde_json::to_value(answer(
            &RequestOrigin::ApiGatewayV1,
            response(Body::from(vec![0xff, 0x00, 0x01])),
        ))
        .unwrap();
        assert_eq!(binary["isBase64Encoded"], true);
        assert_eq!(binary["body"], "/wAB");
        let empty = serde_json::to_value(answer(
            &RequestOrigin::ApiGatewayV2,
            Response::new(Body::Empty),
        ))
        .unwrap();
        assert_eq!(empty["statusCode"], 200);
        assert_eq!(empty["isBase64Encoded"], false);
        assert!(empty.get("body").is_none_or(Value::is_null));
    }
}
