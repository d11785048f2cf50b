//! Secrets from SSM Parameter Store, read in the background by built functions: against moto's
//! SSM for the values, and against a stalled endpoint for "never in the way".

use std::time::Duration;

use aws_sdk_ssm::types::ParameterType;
use cruddur_core::testing::event_json;
use lambda_testkit::http::SinkBehavior;
use lambda_testkit::{moto, FunctionProcess, HttpSink, RuntimeEmulator};

const WAIT: Duration = Duration::from_secs(20);

async fn put_secret(name: &str, value: &str) {
    let config = aws_sdk_ssm::Config::builder()
        .behavior_version(aws_sdk_ssm::config::BehaviorVersion::latest())
        .http_client(cruddur_aws_https::https_client())
        .endpoint_url(moto().endpoint())
        .region(aws_sdk_ssm::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_ssm::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .build();
    aws_sdk_ssm::Client::from_conf(config)
        .put_parameter()
        .name(name)
        .value(value)
        .r#type(ParameterType::SecureString)
        .overwrite(true)
        .send()
        .await
        .expect("moto stores the parameter");
}

fn db() -> String {
    std::env::temp_dir()
        .join(format!(
            "cruddur-secrets-{}-{}",
            std::process::id(),
            uuid_suffix()
        ))
        .join("cruddur.db")
        .display()
        .to_string()
}

fn uuid_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

#[tokio::test]
async fn secrets_come_from_parameter_store_and_never_from_the_environment() {
    let run = uuid_suffix();
    let (rollbar_name, honeycomb_name) = (
        format!("/cruddur/test-{run}/rollbar-access-token"),
        format!("/cruddur/test-{run}/honeycomb-api-key"),
    );
    put_secret(&rollbar_name, "rollbar-secret-value").await;
    put_secret(&honeycomb_name, "honeycomb-secret-value").await;
    let rollbar = HttpSink::start().await;
    let otlp = HttpSink::start().await;
    let runtime = RuntimeEmulator::start().await;
    let endpoint = format!("{}/api/1/item/", rollbar.url());
    let db = db();
    let process = FunctionProcess::spawn(
        "rollbar-test",
        &runtime.address(),
        &[
            ("ROLLBAR_ACCESS_TOKEN_PARAMETER", &rollbar_name),
            ("HONEYCOMB_API_KEY_PARAMETER", &honeycomb_name),
            ("ROLLBAR_ENDPOINT", &endpoint),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &otlp.url()),
            ("AWS_ENDPOINT_URL_SSM", moto().endpoint()),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("CRUDDUR_SQLITE_PATH", &db),
            ("OTEL_BSP_EXPORT_TIMEOUT", "10000"),
            ("ROLLBAR_TIMEOUT_MS", "10000"),
        ],
    );
    // The read runs beside the first invocations; once it is done, reports and spans leave with
    // the secrets as credentials.
    let mut invoked = 0;
    let requests = loop {
        let outcome = runtime
            .invoke(&event_json("rollbar-test"), None, WAIT)
            .await
            .unwrap();
        assert_eq!(outcome.http().0, 200);
        invoked += 1;
        let requests = rollbar.requests();
        if !requests.is_empty() || invoked > 50 {
            break requests;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(!requests.is_empty(), "reports start once the token is read");
    assert_eq!(
        requests[0].header("x-rollbar-access-token"),
        Some("rollbar-secret-value")
    );
    let spans = otlp.wait_for(WAIT, |r| !r.is_empty()).await;
    assert_eq!(
        spans[0].header("x-honeycomb-team"),
        Some("honeycomb-secret-value")
    );
    for line in process.lines() {
        assert!(
            !line.contains("secret-value"),
            "a secret in the log: {line}"
        );
    }
}

#[tokio::test]
async fn a_stalled_parameter_store_holds_no_response_and_reports_nothing() {
    // An SSM endpoint that answers after 30 seconds.
    let ssm = HttpSink::with_behavior(SinkBehavior {
        delay: Duration::from_secs(30),
        ..SinkBehavior::default()
    })
    .await;
    let rollbar = HttpSink::start().await;
    let runtime = RuntimeEmulator::start().await;
    let endpoint = format!("{}/api/1/item/", rollbar.url());
    let db = db();
    let _process = FunctionProcess::spawn(
        "rollbar-test",
        &runtime.address(),
        &[
            ("ROLLBAR_ACCESS_TOKEN_PARAMETER", "/cruddur/stalled/rollbar"),
            ("ROLLBAR_ENDPOINT", &endpoint),
            ("AWS_ENDPOINT_URL_SSM", &ssm.url()),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("CRUDDUR_SQLITE_PATH", &db),
        ],
    );
    let first = runtime
        .invoke(&event_json("rollbar-test"), None, WAIT)
        .await
        .unwrap();
    assert_eq!(first.http().0, 200);
    assert!(
        !ssm.wait_for(WAIT, |r| !r.is_empty()).await.is_empty(),
        "the read started, in the background"
    );
    for _ in 0..3 {
        let outcome = runtime
            .invoke(&event_json("rollbar-test"), None, WAIT)
            .await
            .unwrap();
        assert_eq!(outcome.http().0, 200);
    }
    // Every invocation was answered while the read was still waiting for its answer.
    assert!(ssm.answered().is_empty(), "the read is still waiting");
    assert!(
        rollbar.requests().is_empty(),
        "no reports without the token"
    );
}
