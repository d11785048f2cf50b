//! Reading an invocation's event as an HTTP request, without letting a malformed one take the
//! function down. `lambda_http` panics on some events while turning them into a request (a body
//! flagged `isBase64Encoded` that is not base64, a URI it cannot build) and reads an empty
//! `httpMethod` as GET; such events are answered `400` with the settings' `bad_request` body,
//! logged and reported, and the handler never sees them.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use lambda_http::aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayV2httpResponse};
use lambda_http::aws_lambda_events::encodings::Body;
use lambda_http::http::header::CONTENT_TYPE;
use lambda_http::http::{HeaderMap, HeaderValue};
use lambda_http::request::{LambdaRequest, RequestOrigin};
use lambda_http::tower::{Layer, Service};
use lambda_runtime::LambdaEvent;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::http::record_answer;
use crate::panics::catch;

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

/// Serves HTTP events with `lambda_http`'s adapter inside, answering those it cannot read.
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

/// The service [`HttpEventLayer`] makes; `S` is `lambda_http`'s adapter around the handler.
#[derive(Clone)]
pub struct HttpEventService<S> {
    inner: S,
    bad_request: Arc<str>,
}

/// What goes back to the Runtime API: the adapter's response, or a 400 made here.
#[derive(Serialize)]
#[serde(untagged)]
pub enum HttpAnswer<R> {
    Handled(R),
    RestApi(ApiGatewayProxyResponse),
    HttpApi(ApiGatewayV2httpResponse),
}

impl<S> Service<LambdaEvent<HttpEvent>> for HttpEventService<S>
where
    S: Service<LambdaEvent<LambdaRequest>>,
    S::Future: Unpin,
{
    type Response = HttpAnswer<S::Response>;
    type Error = S::Error;
    type Future = HttpEventFuture<S::Future, S::Response>;

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
                // The adapter builds the request in `call`; that is where it may panic.
                match catch(|| self.inner.call(LambdaEvent::new(request, context))) {
                    Ok(future) => return HttpEventFuture::Handled(future),
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

/// A 400 in the response format of the event's origin.
fn bad_request<R>(origin: &RequestOrigin, body: &str) -> HttpAnswer<R> {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let body = Some(Body::Text(body.to_owned()));
    match origin {
        RequestOrigin::ApiGatewayV2 => {
            let mut response = ApiGatewayV2httpResponse::default();
            response.status_code = 400;
            response.headers = headers;
            response.body = body;
            HttpAnswer::HttpApi(response)
        }
        // REST APIs, WebSockets and anything newer: API Gateway's proxy response.
        _ => {
            let mut response = ApiGatewayProxyResponse::default();
            response.status_code = 400;
            response.headers = headers;
            response.body = body;
            HttpAnswer::RestApi(response)
        }
    }
}

/// The handler's answer, or the 400 given in its place.
pub enum HttpEventFuture<F, R> {
    Handled(F),
    // Boxed: the common case, a handled request, should not carry a 400's size.
    Answered(Option<Box<HttpAnswer<R>>>),
}

// The handled future is Unpin and the answer is never pinned.
impl<F: Unpin, R> Unpin for HttpEventFuture<F, R> {}

impl<F, R, E> Future for HttpEventFuture<F, R>
where
    F: Future<Output = Result<R, E>> + Unpin,
{
    type Output = Result<HttpAnswer<R>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            HttpEventFuture::Handled(future) => {
                Pin::new(future).poll(cx).map_ok(HttpAnswer::Handled)
            }
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
        let v1 = serde_json::to_value(bad_request::<()>(&RequestOrigin::ApiGatewayV1, "[\"x\"]"))
            .unwrap();
        assert_eq!(v1["statusCode"], 400);
        assert_eq!(v1["body"], "[\"x\"]");
        let v2 =
            serde_json::to_value(bad_request::<()>(&RequestOrigin::ApiGatewayV2, "{}")).unwrap();
        assert_eq!(v2["statusCode"], 400);
    }
}
