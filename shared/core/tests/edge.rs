//! The shared HTTP edge, tested once here for every function: what the route table's row makes it
//! check before a handler runs (method, path, body size, the caller), CORS, JSON bodies and the
//! local stand-in caller.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use cruddur_core::routes::{self, Endpoint, ENDPOINTS};
use cruddur_core::testing::{event_for, event_json, request, TestApp, TestResponse};
use cruddur_core::{ApiError, Config, Ctx, Reply};
use serde_json::{json, Value};

/// A handler that counts its calls and answers with its caller's handle (or `null`).
#[derive(Clone, Default)]
struct Probe(Arc<AtomicUsize>);

impl Probe {
    fn handler(&self) -> impl Fn(Ctx) -> std::future::Ready<Result<Reply, ApiError>> + '_ {
        move |ctx: Ctx| {
            self.0.fetch_add(1, Ordering::SeqCst);
            let caller = ctx.caller().ok().map(|u| u.handle.clone());
            std::future::ready(Ok(Reply::json(&json!({ "caller": caller }))))
        }
    }

    fn calls(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

async fn call(app: &TestApp, endpoint: Endpoint, event: &Value) -> (TestResponse, usize) {
    let probe = Probe::default();
    let res = app.call(endpoint, probe.handler(), request(event)).await;
    (res, probe.calls())
}

fn sample(endpoint: &Endpoint) -> &'static str {
    if endpoint.route.path.contains("status") || endpoint.route.path.ends_with("/reply") {
        "68f126b0-1ceb-4a33-88be-d90fa7109eee"
    } else {
        "@worf"
    }
}

#[tokio::test]
async fn every_authenticated_route_needs_a_known_caller_before_its_handler_runs() {
    let app = TestApp::new().await;
    let authenticated: Vec<_> = ENDPOINTS.iter().filter(|e| e.auth).collect();
    assert_eq!(authenticated.len(), 9, "the route table's signed-in rows");
    for endpoint in authenticated {
        let (res, calls) = call(
            &app,
            *endpoint,
            &event_for(endpoint, sample(endpoint), None),
        )
        .await;
        assert_eq!(
            (res.status, &res.body, calls),
            (401, &json!(["unauthorized"]), 0),
            "{} without claims",
            endpoint.function
        );
        let mut unknown = event_for(endpoint, sample(endpoint), Some("worf"));
        unknown["requestContext"]["authorizer"]["claims"]["sub"] = json!("no-such-sub");
        let (res, calls) = call(&app, *endpoint, &unknown).await;
        assert_eq!(
            (res.status, calls),
            (401, 0),
            "{} unknown sub",
            endpoint.function
        );
        let (res, calls) = call(
            &app,
            *endpoint,
            &event_for(endpoint, sample(endpoint), Some("worf")),
        )
        .await;
        assert_eq!(
            (res.status, &res.body["caller"], calls),
            (200, &json!("worf"), 1),
            "{} as worf: {}",
            endpoint.function,
            res.text
        );
    }
}

#[tokio::test]
async fn public_routes_run_without_a_caller() {
    let app = TestApp::new().await;
    for endpoint in ENDPOINTS.iter().filter(|e| !e.auth) {
        let (res, calls) = call(
            &app,
            *endpoint,
            &event_for(endpoint, sample(endpoint), None),
        )
        .await;
        assert_eq!(
            (res.status, &res.body["caller"], calls),
            (200, &json!(null), 1),
            "{}",
            endpoint.function
        );
    }
}

#[tokio::test]
async fn the_local_stand_in_applies_only_on_the_local_stage_and_only_without_claims() {
    let local = Config {
        stage: "local".into(),
        local_user: "garek".into(),
        ..Default::default()
    };
    let app = TestApp::with_config(local).await;
    let endpoint = routes::CREATE_ACTIVITY;
    let (res, _) = call(&app, endpoint, &event_for(&endpoint, "", None)).await;
    assert_eq!((res.status, &res.body["caller"]), (200, &json!("garek")));
    // What the frontend sends when nobody is signed in: no claims, the stand-in still applies.
    let mut null_token = event_for(&endpoint, "", None);
    null_token["headers"]["Authorization"] = json!("Bearer null");
    let (res, _) = call(&app, endpoint, &null_token).await;
    assert_eq!((res.status, &res.body["caller"]), (200, &json!("garek")));
    let (res, _) = call(&app, endpoint, &event_for(&endpoint, "", Some("worf"))).await;
    assert_eq!(res.body["caller"], "worf", "claims win over the stand-in");
    let mut unknown = event_for(&endpoint, "", Some("worf"));
    unknown["requestContext"]["authorizer"]["claims"]["sub"] = json!("no-such-sub");
    let (res, _) = call(&app, endpoint, &unknown).await;
    assert_eq!(res.status, 401, "an unknown sub is never replaced");

    for stage in ["prod", "e2e", "Local", "local "] {
        let config = Config {
            stage: stage.into(),
            local_user: "garek".into(),
            ..Default::default()
        };
        let app = TestApp::with_config(config).await;
        let (res, calls) = call(&app, endpoint, &event_for(&endpoint, "", None)).await;
        assert_eq!((res.status, calls), (401, 0), "stage {stage:?}");
    }
}

#[tokio::test]
async fn methods_the_route_does_not_serve() {
    let app = TestApp::new().await;
    let endpoint = routes::CREATE_ACTIVITY;
    let mut get = event_for(&endpoint, "", Some("worf"));
    get["httpMethod"] = json!("GET");
    let (res, calls) = call(&app, endpoint, &get).await;
    assert_eq!(
        (res.status, &res.body, calls),
        (405, &json!(["method_not_allowed"]), 0)
    );
    // HEAD is GET without a body, as API Gateway serves it.
    let endpoint = routes::HOME_ACTIVITIES;
    let mut head = event_for(&endpoint, "", None);
    head["httpMethod"] = json!("HEAD");
    let (res, calls) = call(&app, endpoint, &head).await;
    assert_eq!((res.status, calls), (200, 1));
}

#[tokio::test]
async fn preflight_is_answered_with_cors_and_never_reaches_the_handler() {
    let config = Config {
        allowed_origins: vec!["https://cruddur.example".into()],
        ..Default::default()
    };
    let app = TestApp::with_config(config).await;
    let endpoint = routes::UPDATE_PROFILE;
    let mut preflight = event_for(&endpoint, "", None);
    preflight["httpMethod"] = json!("OPTIONS");
    let (res, calls) = call(&app, endpoint, &preflight).await;
    assert_eq!((res.status, calls), (204, 0));
    let header = |name: &str| res.headers[name].to_str().unwrap().to_owned();
    assert_eq!(
        header("access-control-allow-origin"),
        "https://cruddur.example"
    );
    assert!(header("access-control-allow-methods").contains("PUT"));
    assert!(header("access-control-allow-headers").contains("authorization"));
}

#[tokio::test]
async fn cors_allows_the_configured_origins_only() {
    let config = Config {
        allowed_origins: vec![
            "https://cruddur.example".into(),
            "http://localhost:3000".into(),
        ],
        ..Default::default()
    };
    let app = TestApp::with_config(config).await;
    let endpoint = routes::HEALTH_CHECK;
    for (origin, allowed) in [
        ("https://cruddur.example", Some("https://cruddur.example")),
        ("http://localhost:3000", Some("http://localhost:3000")),
        ("https://evil.example", None),
        ("https://cruddur.example.evil.example", None),
    ] {
        let mut event = event_for(&endpoint, "", None);
        event["headers"]["Origin"] = json!(origin);
        event["multiValueHeaders"]["Origin"] = json!([origin]);
        let (res, _) = call(&app, endpoint, &event).await;
        let got = res
            .headers
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap());
        assert_eq!(got, allowed, "{origin}");
        assert_eq!(res.headers["vary"], "Origin");
    }
    // Errors carry CORS too, or the browser would hide the status behind a CORS failure.
    let mut unauthenticated = event_for(&routes::CREATE_ACTIVITY, "", None);
    unauthenticated["headers"]["Origin"] = json!("https://cruddur.example");
    let (res, _) = call(&app, routes::CREATE_ACTIVITY, &unauthenticated).await;
    assert_eq!(res.status, 401);
    assert_eq!(
        res.headers["access-control-allow-origin"],
        "https://cruddur.example"
    );
    let open = TestApp::new().await;
    let (res, _) = call(&open, endpoint, &event_for(&endpoint, "", None)).await;
    assert_eq!(res.headers["access-control-allow-origin"], "*");
}

/// A handler that reads a JSON body, as every writer does.
async fn read_body(ctx: Ctx) -> Result<Reply, ApiError> {
    let body: serde_json::Map<String, Value> = ctx.json()?;
    Ok(Reply::json(&body))
}

#[tokio::test]
async fn bodies_must_be_json_objects_of_bounded_size() {
    let app = TestApp::new().await;
    let endpoint = routes::CREATE_ACTIVITY;
    let send = |body: &str, content_type: Option<&str>| {
        let mut event = event_json("create-activity");
        event["body"] = json!(body);
        match content_type {
            Some(ct) => {
                event["headers"]["Content-Type"] = json!(ct);
                event["multiValueHeaders"]["Content-Type"] = json!([ct]);
            }
            None => {
                event["headers"]
                    .as_object_mut()
                    .unwrap()
                    .remove("Content-Type");
                event["multiValueHeaders"]
                    .as_object_mut()
                    .unwrap()
                    .remove("Content-Type");
            }
        }
        request(&event)
    };
    let ok = r#"{"message":"hi","ttl":"1-day"}"#;
    for (body, content_type, status) in [
        (ok, Some("application/json"), 200),
        (ok, Some("application/json; charset=utf-8"), 200),
        (ok, Some("application/vnd.cruddur+json"), 200),
        (ok, None, 200),
        (ok, Some("application/x-www-form-urlencoded"), 400),
        (ok, Some("text/plain"), 400),
        (r#"["hi","1-day"]"#, Some("application/json"), 400),
        ("null", Some("application/json"), 400),
        ("42", Some("application/json"), 400),
        ("", Some("application/json"), 400),
        ("{", Some("application/json"), 400),
    ] {
        let res = app
            .call(endpoint, read_body, send(body, content_type))
            .await;
        assert_eq!(
            res.status, status,
            "{body} as {content_type:?}: {}",
            res.text
        );
        if status == 400 {
            assert_eq!(res.body, json!(["invalid_json"]));
        }
    }
    let big = json!({"message": "x".repeat(70_000)}).to_string();
    let res = app
        .call(endpoint, read_body, send(&big, Some("application/json")))
        .await;
    assert_eq!((res.status, res.body), (413, json!(["payload_too_large"])));
}
