//! The gateway over loopback, as a browser or curl meets it: a stand-in Lambda Invoke API behind
//! it (functions that echo their event, fail, hang or answer garbage), a JWKS server signed for by
//! test keys, and a UDP socket as the X-Ray daemon.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use cruddur_gateway::cognito::{CognitoAuthorizer, PoolSettings};
use cruddur_gateway::invoke::Invoker;
use cruddur_gateway::template::ApiSpec;
use cruddur_gateway::xray::DaemonSender;
use cruddur_gateway::{server, Gateway};
use lambda_testkit::http::{record, response, serve, SinkBehavior};
use lambda_testkit::{HttpSink, Recorded, XrayCollector};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TEMPLATE: &str = r#"
Parameters:
  Stage: {Type: String, Default: test}
  FrontendUrl: {Type: String, Default: "http://localhost:3000"}
Globals:
  Function: {Timeout: 5}
Resources:
  Api:
    Type: AWS::Serverless::Api
    Properties:
      Name: !Sub "cruddur-${Stage}"
      StageName: !Ref Stage
      Cors:
        AllowOrigin: !Sub "'${FrontendUrl}'"
        AllowHeaders: "'content-type,authorization'"
        AllowMethods: "'OPTIONS,GET,POST,PUT'"
        MaxAge: "'600'"
      GatewayResponses:
        DEFAULT_4XX:
          ResponseParameters:
            Headers:
              Access-Control-Allow-Origin: !Sub "'${FrontendUrl}'"
        DEFAULT_5XX:
          ResponseParameters:
            Headers:
              Access-Control-Allow-Origin: !Sub "'${FrontendUrl}'"
      Auth:
        Authorizers:
          Pool: {UserPoolArn: !GetAtt UserPool.Arn}
  Echo:
    Type: AWS::Serverless::Function
    Metadata: {BuildProperties: {Binary: echo}}
    Properties:
      Events:
        Item: {Type: Api, Properties: {RestApiId: !Ref Api, Path: "/things/{id}", Method: get}}
        Home: {Type: Api, Properties: {RestApiId: !Ref Api, Path: /things/home, Method: get}}
        Post: {Type: Api, Properties: {RestApiId: !Ref Api, Path: /things, Method: post}}
        Mine:
          Type: Api
          Properties:
            RestApiId: !Ref Api
            Path: /mine
            Method: get
            Auth: {Authorizer: Pool, AuthorizationScopes: [aws.cognito.signin.user.admin]}
        IdOnly:
          Type: Api
          Properties: {RestApiId: !Ref Api, Path: /id-only, Method: get, Auth: {Authorizer: Pool}}
  Crash:
    Type: AWS::Serverless::Function
    Metadata: {BuildProperties: {Binary: crash}}
    Properties:
      Events: {Api: {Type: Api, Properties: {RestApiId: !Ref Api, Path: /crash, Method: get}}}
  Garbage:
    Type: AWS::Serverless::Function
    Metadata: {BuildProperties: {Binary: garbage}}
    Properties:
      Events: {Api: {Type: Api, Properties: {RestApiId: !Ref Api, Path: /garbage, Method: get}}}
  Hang:
    Type: AWS::Serverless::Function
    Metadata: {BuildProperties: {Binary: hang}}
    Properties:
      Timeout: 1
      Events: {Api: {Type: Api, Properties: {RestApiId: !Ref Api, Path: /hang, Method: get}}}
  Binary:
    Type: AWS::Serverless::Function
    Metadata: {BuildProperties: {Binary: binary}}
    Properties:
      Events: {Api: {Type: Api, Properties: {RestApiId: !Ref Api, Path: /binary, Method: post}}}
"#;

const POOL: &str = "us-east-1_TestPool1";
const CLIENT: &str = "testclient123";

/// The stand-in Lambda Invoke API: what each function does with its event.
#[derive(Clone, Default)]
struct Functions {
    events: Arc<Mutex<Vec<(String, Value)>>>,
}

impl Functions {
    async fn start(&self) -> String {
        let events = self.events.clone();
        let addr = serve(move |req| {
            let events = events.clone();
            async move { answer(record(req).await, &events).await }
        })
        .await;
        format!("http://{addr}")
    }

    fn events(&self, function: &str) -> Vec<Value> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|(name, _)| name == function)
            .map(|(_, event)| event.clone())
            .collect()
    }

    fn last(&self, function: &str) -> Value {
        self.events(function)
            .pop()
            .expect("the function was invoked")
    }
}

async fn answer(
    request: Recorded,
    events: &Mutex<Vec<(String, Value)>>,
) -> hyper::Response<http_body_util::Full<bytes::Bytes>> {
    // POST /2015-03-31/functions/{name}/invocations
    let name = request
        .path
        .split('/')
        .nth(3)
        .unwrap_or_default()
        .to_owned();
    let event = request.json();
    events.lock().unwrap().push((name.clone(), event.clone()));
    let proxy = |status: u16, body: String, base64: bool| {
        json!({
            "statusCode": status,
            "headers": {"content-type": "application/json", "x-function": name},
            "multiValueHeaders": {"set-cookie": ["a=1", "b=2"]},
            "body": body,
            "isBase64Encoded": base64,
        })
        .to_string()
    };
    match name.as_str() {
        "crash" => {
            let mut res = response(200, r#"{"errorType":"Panic","errorMessage":"boom"}"#);
            res.headers_mut()
                .insert("x-amz-function-error", "Unhandled".parse().unwrap());
            res
        }
        "garbage" => response(200, "not a proxy response"),
        "hang" => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            response(200, proxy(200, "late".into(), false))
        }
        "binary" => {
            let raw = STANDARD
                .decode(event["body"].as_str().unwrap_or_default())
                .unwrap_or_default();
            let reversed: Vec<u8> = raw.into_iter().rev().collect();
            response(200, proxy(200, STANDARD.encode(reversed), true))
        }
        _ => response(200, proxy(200, event.to_string(), false)),
    }
}

/// Test keys and the JWKS server that publishes them.
struct Pool {
    jwks: HttpSink,
    keys: Vec<(String, KeyPair)>,
}

impl Pool {
    async fn start() -> Self {
        let keys: Vec<(String, KeyPair)> = ["key-a", "key-b", "key-rogue"]
            .into_iter()
            .map(|kid| (kid.to_owned(), KeyPair::generate(KeySize::Rsa2048).unwrap()))
            .collect();
        let jwks = HttpSink::start().await;
        let pool = Self { jwks, keys };
        pool.publish(&["key-a"]);
        pool
    }

    /// Serves a JWKS with these keys.
    fn publish(&self, kids: &[&str]) {
        let keys: Vec<Value> = self
            .keys
            .iter()
            .filter(|(kid, _)| kids.contains(&kid.as_str()))
            .map(|(kid, key)| {
                let public = key.public_key();
                json!({
                    "kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid,
                    "n": URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
                    "e": URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
                })
            })
            .collect();
        self.jwks.set_behavior(SinkBehavior {
            body: json!({ "keys": keys }).to_string(),
            ..SinkBehavior::default()
        });
    }

    fn settings(&self) -> PoolSettings {
        PoolSettings {
            region: "us-east-1".into(),
            pool_id: POOL.into(),
            client_id: CLIENT.into(),
            jwks_url: format!("{}/.well-known/jwks.json", self.jwks.url()),
        }
    }

    /// A token signed by `key` (named `kid` in its header) with `claims` over sane defaults.
    fn token(&self, key: &str, kid: &str, claims: Value) -> String {
        let (_, pair) = self.keys.iter().find(|(k, _)| k == key).unwrap();
        let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(pair).unwrap();
        let body = STANDARD.encode(der.as_ref());
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            lines.join("\n")
        );
        let signing = jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
        let now = chrono::Utc::now().timestamp();
        let mut all = json!({
            "sub": "c17b54ba-54c5-5ca9-82b6-70b8927cf096",
            "iss": format!("https://cognito-idp.us-east-1.amazonaws.com/{POOL}"),
            "client_id": CLIENT,
            "token_use": "access",
            "scope": "aws.cognito.signin.user.admin",
            "auth_time": now - 60,
            "iat": now - 60,
            "exp": now + 3600,
            "jti": "jti-1",
            "username": "c17b54ba-54c5-5ca9-82b6-70b8927cf096",
        });
        for (k, v) in claims.as_object().unwrap() {
            if v.is_null() {
                all.as_object_mut().unwrap().remove(k);
            } else {
                all[k] = v.clone();
            }
        }
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, &all, &signing).unwrap()
    }
}

struct Running {
    url: String,
    functions: Functions,
    xray: XrayCollector,
    client: reqwest::Client,
}

async fn start(template: &str, pool: Option<&Pool>) -> Running {
    let functions = Functions::default();
    let lambda = functions.start().await;
    let xray = XrayCollector::start();
    let gateway = Gateway {
        api: ApiSpec::parse(template, &[]).unwrap(),
        invoker: Invoker::new(Some(&lambda)).await,
        authorizer: pool.map(|p| CognitoAuthorizer::new(p.settings())),
        daemon: DaemonSender::new(xray.address()),
        region: "us-east-1".into(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(server::serve(listener, Arc::new(gateway)));
    Running {
        url,
        functions,
        xray,
        client: http_client(),
    }
}

impl Running {
    async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Answer {
        let mut request = self
            .client
            .request(method.parse().unwrap(), format!("{}{path}", self.url))
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    v.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let body = response.bytes().await.unwrap().to_vec();
        Answer {
            status,
            headers,
            body,
        }
    }

    async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Answer {
        self.send("GET", path, headers, Vec::new()).await
    }
}

#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

#[tokio::test]
async fn requests_become_api_gateway_events_and_answers_come_back() {
    let gw = start(TEMPLATE, None).await;
    let res = gw
        .get(
            "/things/%40worf?tag=a&tag=b&term=cloud%20fun",
            &[
                ("Content-Type", "application/json"),
                ("Origin", "http://localhost:3000"),
            ],
        )
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("x-function"), Some("echo"));
    assert_eq!(res.all("set-cookie"), ["a=1", "b=2"]);
    assert!(res.header("x-amzn-requestid").is_some());
    let trace = res.header("x-amzn-trace-id").unwrap().to_owned();
    assert!(trace.starts_with("Root=1-"), "{trace}");
    // The function's answer body is the event it got.
    let event = res.json();
    assert_eq!(event["resource"], "/things/{id}");
    assert_eq!(event["path"], "/things/%40worf");
    assert_eq!(event["httpMethod"], "GET");
    assert_eq!(event["pathParameters"], json!({"id": "%40worf"}));
    assert_eq!(event["queryStringParameters"]["term"], "cloud fun");
    assert_eq!(
        event["multiValueQueryStringParameters"]["tag"],
        json!(["a", "b"])
    );
    assert_eq!(event["headers"]["content-type"], "application/json");
    assert_eq!(
        event["multiValueHeaders"]["origin"],
        json!(["http://localhost:3000"])
    );
    assert_eq!(event["headers"]["x-forwarded-for"], "127.0.0.1");
    assert!(event["stageVariables"].is_null() || event["stageVariables"] == json!({}));
    let context = &event["requestContext"];
    assert_eq!(context["stage"], "test");
    assert_eq!(context["resourcePath"], "/things/{id}");
    assert_eq!(context["path"], "/test/things/%40worf");
    assert_eq!(context["identity"]["sourceIp"], "127.0.0.1");
    assert_eq!(
        context["requestId"],
        res.header("x-amzn-requestid").unwrap()
    );
    assert!(context["requestTimeEpoch"].as_i64().unwrap() > 1_700_000_000_000);
    assert_eq!(event["isBase64Encoded"], false);
    let passed = event["headers"]["x-amzn-trace-id"].as_str().unwrap();
    assert!(
        passed.starts_with(&trace) && passed.contains(";Parent="),
        "{passed}"
    );

    // Literal segments beat variables.
    let home = gw.get("/things/home", &[]).await;
    assert_eq!(home.json()["resource"], "/things/home");
    // A POST body reaches the function as sent.
    let posted = gw
        .send(
            "POST",
            "/things",
            &[("content-type", "application/json")],
            br#"{"a":1}"#.to_vec(),
        )
        .await;
    assert_eq!(posted.json()["body"], r#"{"a":1}"#);
}

#[tokio::test]
async fn unknown_routes_and_methods_are_api_gateways_403_with_cors() {
    let gw = start(TEMPLATE, None).await;
    for (method, path) in [
        ("GET", "/nowhere"),
        ("GET", "/"),
        ("DELETE", "/things/home"),
        ("PUT", "/things"),
        ("FOO", "/things/home"),
    ] {
        let res = gw.send(method, path, &[], Vec::new()).await;
        assert_eq!(res.status, 403, "{method} {path}");
        assert_eq!(
            res.json(),
            json!({"message": "Missing Authentication Token"})
        );
        assert_eq!(
            res.header("access-control-allow-origin"),
            Some("http://localhost:3000")
        );
        assert_eq!(
            res.header("x-amzn-errortype"),
            Some("MissingAuthenticationTokenException")
        );
    }
    assert!(gw.functions.events("echo").is_empty(), "no function ran");
}

#[tokio::test]
async fn preflights_are_answered_from_the_templates_cors() {
    let gw = start(TEMPLATE, None).await;
    let headers = [
        ("Origin", "http://localhost:3000"),
        ("Access-Control-Request-Method", "GET"),
        (
            "Access-Control-Request-Headers",
            "authorization,content-type",
        ),
    ];
    let res = gw.send("OPTIONS", "/mine", &headers, Vec::new()).await;
    assert_eq!(res.status, 200);
    assert_eq!(
        res.header("access-control-allow-origin"),
        Some("http://localhost:3000")
    );
    assert_eq!(
        res.header("access-control-allow-headers"),
        Some("content-type,authorization")
    );
    assert_eq!(
        res.header("access-control-allow-methods"),
        Some("OPTIONS,GET,POST,PUT")
    );
    assert_eq!(res.header("access-control-max-age"), Some("600"));
    let res = gw.send("OPTIONS", "/nowhere", &headers, Vec::new()).await;
    assert_eq!(res.status, 403);
    assert!(gw.functions.events("echo").is_empty());
}

#[tokio::test]
async fn failing_hanging_and_garbled_functions_are_502_and_504_and_the_gateway_goes_on() {
    let gw = start(TEMPLATE, None).await;
    let origin = [("Origin", "http://localhost:3000")];
    for path in ["/crash", "/garbage"] {
        let res = gw.get(path, &origin).await;
        assert_eq!(res.status, 502, "{path}");
        assert_eq!(res.json(), json!({"message": "Internal server error"}));
        assert_eq!(
            res.header("access-control-allow-origin"),
            Some("http://localhost:3000")
        );
    }
    let res = gw.get("/hang", &origin).await;
    assert_eq!(res.status, 504);
    assert_eq!(res.json(), json!({"message": "Endpoint request timed out"}));
    assert_eq!(
        res.header("access-control-allow-origin"),
        Some("http://localhost:3000")
    );
    assert_eq!(
        gw.get("/things/home", &[]).await.status,
        200,
        "still serving"
    );
}

#[tokio::test]
async fn oversized_and_malformed_requests_get_api_gateways_answers() {
    let gw = start(TEMPLATE, None).await;
    let big = vec![b'x'; 10 * 1024 * 1024 + 1];
    let res = gw.send("POST", "/things", &[], big).await;
    assert_eq!(res.status, 413);
    assert_eq!(res.json(), json!({"message": "Request Too Long"}));
    let huge = "v".repeat(11 * 1024);
    let res = gw.get("/things/home", &[("x-huge", huge.as_str())]).await;
    assert_eq!(res.status, 431);
    // An encoded slash stays inside its segment.
    let res = gw.get("/things/a%2Fb", &[]).await;
    assert_eq!(res.json()["pathParameters"]["id"], "a%2Fb");
    // What HTTP clients normalise away, sent as is.
    let addr = gw.url.trim_start_matches("http://").to_owned();
    let raw = |request: &'static [u8]| {
        let addr = addr.clone();
        async move {
            let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
            stream.write_all(request).await.unwrap();
            let mut reply = Vec::new();
            let _ =
                tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut reply)).await;
            String::from_utf8_lossy(&reply).into_owned()
        }
    };
    let reply = raw(b"GET /things/../crash HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert!(reply.starts_with("HTTP/1.1 403"), "{reply}");
    // Not a request line at all: refused (400, or the connection closed), never served.
    let reply = raw(b"GET /things/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(
        reply.is_empty() || reply.starts_with("HTTP/1.1 400"),
        "{reply}"
    );
    assert!(gw.functions.events("crash").is_empty());
    assert_eq!(
        gw.get("/things/home", &[]).await.status,
        200,
        "still serving"
    );
}

#[tokio::test]
async fn binary_bodies_travel_base64_encoded_both_ways() {
    let gw = start(TEMPLATE, None).await;
    let res = gw
        .send("POST", "/binary", &[], vec![0xff, 0x00, 0x01])
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.body, [0x01, 0x00, 0xff]);
    let event = gw.functions.last("binary");
    assert_eq!(event["isBase64Encoded"], true);
    assert_eq!(event["body"], "/wAB");
}

#[tokio::test]
async fn the_cognito_authorizer_accepts_what_api_gateway_accepts() {
    let pool = Pool::start().await;
    let gw = start(TEMPLATE, Some(&pool)).await;
    let bearer = |token: &str| format!("Bearer {token}");
    let access = pool.token("key-a", "key-a", json!({}));

    let res = gw
        .get("/mine", &[("Authorization", &bearer(&access))])
        .await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    let claims = &res.json()["requestContext"]["authorizer"]["claims"];
    assert_eq!(claims["sub"], "c17b54ba-54c5-5ca9-82b6-70b8927cf096");
    assert_eq!(claims["token_use"], "access");
    assert_eq!(claims["client_id"], CLIENT);
    assert!(claims["exp"]
        .as_str()
        .unwrap()
        .ends_with(&chrono::Utc::now().format("%Y").to_string()));
    // A bare token is taken too, as API Gateway takes it.
    assert_eq!(
        gw.get("/mine", &[("Authorization", &access)]).await.status,
        200
    );

    let id_token = pool.token(
        "key-a",
        "key-a",
        json!({"token_use": "id", "aud": CLIENT, "client_id": null, "scope": null}),
    );
    let now = chrono::Utc::now().timestamp();
    let refused = [
        ("no header", None),
        ("Bearer null", Some("Bearer null".to_owned())),
        ("garbage", Some("Bearer not.a.jwt".to_owned())),
        (
            "expired",
            Some(bearer(&pool.token(
                "key-a",
                "key-a",
                json!({"exp": now - 1}),
            ))),
        ),
        (
            "signed by another key",
            Some(bearer(&pool.token("key-rogue", "key-a", json!({})))),
        ),
        (
            "unknown key",
            Some(bearer(&pool.token("key-rogue", "key-rogue", json!({})))),
        ),
        (
            "another client",
            Some(bearer(&pool.token(
                "key-a",
                "key-a",
                json!({"client_id": "other"}),
            ))),
        ),
        (
            "another pool",
            Some(bearer(&pool.token(
                "key-a",
                "key-a",
                json!({"iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other"}),
            ))),
        ),
        (
            "no scope",
            Some(bearer(&pool.token(
                "key-a",
                "key-a",
                json!({"scope": "openid"}),
            ))),
        ),
        ("an ID token", Some(bearer(&id_token))),
    ];
    for (why, header) in &refused {
        let headers: Vec<(&str, &str)> = header
            .iter()
            .map(|h| ("Authorization", h.as_str()))
            .chain([("Origin", "http://localhost:3000")])
            .collect();
        let res = gw.get("/mine", &headers).await;
        assert_eq!(res.status, 401, "{why}");
        assert_eq!(res.json(), json!({"message": "Unauthorized"}), "{why}");
        assert_eq!(
            res.header("access-control-allow-origin"),
            Some("http://localhost:3000"),
            "{why}: a 401 the browser can read"
        );
    }
    // A route whose authorizer has no scopes takes ID tokens, not access tokens.
    assert_eq!(
        gw.get("/id-only", &[("Authorization", &bearer(&id_token))])
            .await
            .status,
        200
    );
    assert_eq!(
        gw.get("/id-only", &[("Authorization", &bearer(&access))])
            .await
            .status,
        401
    );
    assert_eq!(
        gw.functions.events("echo").len(),
        3,
        "refused requests reach no function"
    );

    // The pool rotates its keys: an unknown kid refetches the JWKS (at most once a second).
    pool.publish(&["key-a", "key-b"]);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let rotated = pool.token("key-b", "key-b", json!({}));
    assert_eq!(
        gw.get("/mine", &[("Authorization", &bearer(&rotated))])
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn without_a_pool_authorized_routes_pass_without_claims() {
    let gw = start(TEMPLATE, None).await;
    let res = gw.get("/mine", &[("Authorization", "Bearer null")]).await;
    assert_eq!(res.status, 200);
    assert!(res.json()["requestContext"]["authorizer"]["claims"].is_null());
}

#[tokio::test]
async fn each_request_is_an_api_gateway_stage_segment_parenting_the_function() {
    let gw = start(TEMPLATE, None).await;
    let res = gw.get("/things/home", &[]).await;
    let root = res
        .header("x-amzn-trace-id")
        .unwrap()
        .trim_start_matches("Root=")
        .to_owned();
    let docs = gw
        .xray
        .wait_for(Duration::from_secs(5), |d| !d.is_empty())
        .await;
    let segment = docs
        .iter()
        .find(|d| d["trace_id"] == root)
        .expect("the stage's segment");
    assert_eq!(segment["origin"], "AWS::ApiGateway::Stage");
    assert_eq!(segment["name"], "cruddur-test/test");
    assert_eq!(segment["http"]["request"]["method"], "GET");
    assert_eq!(segment["http"]["response"]["status"], 200);
    assert!(segment.get("fault").is_none() && segment.get("error").is_none());
    let call = &segment["subsegments"][0];
    assert_eq!(call["namespace"], "aws");
    assert_eq!(call["aws"]["function_name"], "echo");
    let passed = gw.functions.last("echo")["headers"]["x-amzn-trace-id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        passed,
        format!(
            "Root={root};Parent={};Sampled=1",
            call["id"].as_str().unwrap()
        )
    );

    // A traced caller's header is honoured: same trace, the caller as parent.
    let upstream = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
    let res = gw.get("/crash", &[("X-Amzn-Trace-Id", upstream)]).await;
    assert_eq!(
        res.header("x-amzn-trace-id"),
        Some("Root=1-5759e988-bd862e3fe1be46a994272793")
    );
    let docs = gw
        .xray
        .wait_for(Duration::from_secs(5), |d| {
            d.iter().any(|d| d["parent_id"] == "53995c3f42cd8ad8")
        })
        .await;
    let faulted = docs
        .iter()
        .find(|d| d["parent_id"] == "53995c3f42cd8ad8")
        .unwrap();
    assert_eq!(faulted["fault"], true);
    assert_eq!(faulted["subsegments"][0]["fault"], true);
    let res = gw.get("/nowhere", &[]).await;
    let root = res
        .header("x-amzn-trace-id")
        .unwrap()
        .trim_start_matches("Root=")
        .to_owned();
    let docs = gw
        .xray
        .wait_for(Duration::from_secs(5), |d| {
            d.iter().any(|d| d["trace_id"] == root)
        })
        .await;
    let refused = docs.iter().find(|d| d["trace_id"] == root).unwrap();
    assert_eq!(refused["error"], true);
    assert!(
        refused.get("subsegments").is_none(),
        "no function was called"
    );

    // Not sampled upstream: no segment, and the function is told.
    let unsampled = "Root=1-5759e988-cd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0";
    gw.get("/things/home", &[("X-Amzn-Trace-Id", unsampled)])
        .await;
    assert!(gw.functions.last("echo")["headers"]["x-amzn-trace-id"]
        .as_str()
        .unwrap()
        .ends_with("Sampled=0"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!gw
        .xray
        .documents()
        .iter()
        .any(|d| d["trace_id"] == "1-5759e988-cd862e3fe1be46a994272793"));
}

#[tokio::test]
async fn cruddurs_own_template_routes_every_frontend_call_to_its_function() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml"))
        .unwrap();
    let gw = start(&text, None).await;
    let fun = "68f126b0-1ceb-4a33-88be-d90fa7109eee";
    let calls: HashMap<(&str, String), &str> = HashMap::from([
        (("GET", "/api/activities/home".into()), "home-activities"),
        (
            ("GET", "/api/activities/notifications".into()),
            "notifications-activities",
        ),
        (
            ("GET", "/api/activities/search?term=x".into()),
            "search-activities",
        ),
        (
            ("GET", "/api/activities/@andrewbrown".into()),
            "user-activities",
        ),
        (
            ("GET", format!("/api/activities/@andrewbrown/status/{fun}")),
            "show-activity",
        ),
        (("POST", "/api/activities".into()), "create-activity"),
        (
            ("POST", format!("/api/activities/{fun}/reply")),
            "create-reply-by-uuid",
        ),
        (
            (
                "POST",
                format!("/api/activities/@andrewbrown/status/{fun}/reply"),
            ),
            "create-reply",
        ),
        (("GET", "/api/message_groups".into()), "message-groups"),
        (("GET", format!("/api/messages/{fun}")), "messages"),
        (("POST", "/api/messages".into()), "create-message"),
        (("GET", "/api/users/@worf/short".into()), "users-short"),
        (("PUT", "/api/profile/update".into()), "update-profile"),
        (("GET", "/api/health-check".into()), "health-check"),
        (("GET", "/rollbar/test".into()), "rollbar-test"),
    ]);
    for ((method, path), function) in &calls {
        let res = gw
            .send(
                method,
                path,
                &[("Content-Type", "application/json")],
                b"{}".to_vec(),
            )
            .await;
        assert_eq!(res.status, 200, "{method} {path}");
        assert_eq!(res.header("x-function"), Some(*function), "{method} {path}");
    }
    assert_eq!(gw.get("/api/profile/update", &[]).await.status, 403);
}

#[tokio::test]
async fn the_binary_serves_a_template_and_logs_each_request_in_api_gateways_fields() {
    let functions = Functions::default();
    let lambda = functions.start().await;
    let xray = XrayCollector::start();
    let dir = std::env::temp_dir().join(format!("cruddur-gateway-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let template = dir.join("template.yaml");
    std::fs::write(&template, TEMPLATE).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_cruddur-gateway"))
        .args([
            "--template",
            template.to_str().unwrap(),
            "--lambda-endpoint",
            &lambda,
        ])
        .args(["--param", "FrontendUrl=https://cruddur.example"])
        .env("CRUDDUR_API_PORT", port.to_string())
        .env("AWS_XRAY_DAEMON_ADDRESS", xray.address())
        .env_remove("AWS_COGNITO_USER_POOL_ID")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/things/home");
    let client = http_client();
    let mut answered = None;
    for _ in 0..100 {
        if let Ok(res) = client
            .get(&url)
            .header("Origin", "https://cruddur.example")
            .send()
            .await
        {
            answered = Some(res);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let res = answered.expect("the gateway listens");
    assert_eq!(res.status(), 200);
    let missing = client
        .get(format!("http://127.0.0.1:{port}/nowhere"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        missing.headers()["access-control-allow-origin"],
        "https://cruddur.example",
        "--param reached the gateway responses"
    );
    child.kill().unwrap();
    let mut out = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut out).unwrap();
    let _ = child.wait();
    std::fs::remove_dir_all(&dir).ok();
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{out}");
    let line = &lines[0];
    for field in [
        "requestId",
        "ip",
        "requestTime",
        "httpMethod",
        "resourcePath",
        "status",
        "responseLength",
        "integrationLatency",
        "xrayTraceId",
    ] {
        assert!(line.get(field).is_some(), "{field} in {line}");
    }
    assert_eq!(line["resourcePath"], "/things/home");
    assert_eq!(line["status"], 200);
    assert!(line["integrationLatency"].is_u64());
    assert_eq!(lines[1]["status"], 403);
    assert!(
        lines[1]["integrationLatency"].is_null(),
        "no integration was called"
    );
}

/// A client for the gateway under test (reqwest without a bundled crypto provider needs one
/// installed first).
fn http_client() -> reqwest::Client {
    cruddur_gateway::install_crypto_provider();
    reqwest::Client::new()
}
