//! The OTLP path end to end: a real function binary with the OTLP traces endpoint set to X-Ray's
//! and `AWS_ENDPOINT_URL_XRAY` pointing at `cruddur-xray listen --otlp`, which recomputes every
//! request's SigV4 signature. The same request sent both ways, over UDP and over OTLP, draws the
//! same tree and the same map; a wrong secret is refused with a 403 and the function serves on.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{cli, stdout, Listener, TempDir};
use cruddur_core::testing::event_json;
use lambda_testkit::{lambda_trace_header, FunctionProcess, RuntimeEmulator};

const WAIT: Duration = Duration::from_secs(20);
const XRAY_ENDPOINT: &str = "https://xray.us-east-1.amazonaws.com/v1/traces";

/// `listen` with the OTLP endpoint on too, checking signatures against `credentials`.
fn otlp_listener(out: &Path, credentials: &[(&str, &str)]) -> (Listener, String) {
    let env: Vec<(&str, String)> = credentials
        .iter()
        .map(|(k, v)| (*k, (*v).to_owned()))
        .collect();
    let listener = Listener::start(out, &["--idle", "1", "--otlp", "127.0.0.1:0"], &env);
    let stderr = listener.stderr();
    let endpoint = stderr
        .split("AWS_ENDPOINT_URL_XRAY=")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .unwrap_or_else(|| panic!("no OTLP address in: {stderr}"))
        .to_owned();
    (listener, endpoint)
}

/// Invokes home-activities once, locally, on a fresh store, with `env`; returns the status.
async fn invoke_home(dir: &TempDir, env: &[(&str, &str)]) -> (FunctionProcess, u16) {
    let runtime = RuntimeEmulator::start().await;
    // A store of its own: each run seeds it alike.
    let db = dir
        .path(&format!("{}.db", uuid::Uuid::new_v4().simple()))
        .display()
        .to_string();
    let mut all = vec![
        ("CRUDDUR_STAGE", "local"),
        ("CRUDDUR_SQLITE_PATH", db.as_str()),
    ];
    all.extend_from_slice(env);
    let function = FunctionProcess::spawn("home-activities", &runtime.address(), &all);
    let (header, _, _) = lambda_trace_header(true);
    let outcome = runtime
        .invoke(&event_json("home-activities"), Some(&header), WAIT)
        .await
        .unwrap();
    // The export happens after the response, before the next poll.
    runtime.wait_for_polls(2, WAIT).await;
    (function, outcome.http().0)
}

/// Ids, times, durations and latencies masked (every word with a digit in it): what is left is
/// names, shape and outcomes.
fn shape(text: &str, root: &str) -> String {
    let text = text.replace(root, "<trace>");
    let mut out = String::new();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if word.chars().any(|c| c.is_ascii_digit()) {
            out.push('#');
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || c == '.' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

fn map_of(out: &Path) -> String {
    stdout(&cli(&["map", "--from", out.to_str().unwrap()], &[]))
}

#[tokio::test]
async fn one_request_sent_over_udp_and_over_otlp_draws_the_same_tree_and_map() {
    let dir = TempDir::new("otlp-same");
    let credentials = [
        ("AWS_ACCESS_KEY_ID", "ASIALOCALKEY"),
        ("AWS_SECRET_ACCESS_KEY", "local-secret"),
        ("AWS_SESSION_TOKEN", "local-session-token"),
    ];

    // Over UDP, as the daemon path sends it.
    let udp_out = dir.path("udp.jsonl");
    let udp = Listener::start(&udp_out, &["--idle", "1"], &[]);
    let (_f, status) =
        invoke_home(&dir, &[("AWS_XRAY_DAEMON_ADDRESS", udp.address.as_str())]).await;
    assert_eq!(status, 200);
    let (udp_root, udp_tree) = udp.first_tree(WAIT);

    // Over OTLP, signed with session credentials; the daemon address points nowhere useful.
    let otlp_out = dir.path("otlp.jsonl");
    let (otlp, endpoint) = otlp_listener(&otlp_out, &credentials);
    let silent = Listener::start(&dir.path("silent.jsonl"), &[], &[]);
    let mut env = vec![
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", XRAY_ENDPOINT),
        ("AWS_ENDPOINT_URL_XRAY", endpoint.as_str()),
        ("AWS_XRAY_DAEMON_ADDRESS", silent.address.as_str()),
        ("AWS_REGION", "us-east-1"),
    ];
    env.extend_from_slice(&credentials);
    let (_g, status) = invoke_home(&dir, &env).await;
    assert_eq!(status, 200);
    let (otlp_root, otlp_tree) = otlp.first_tree(WAIT);

    assert!(
        otlp_tree.contains("─ home-activities [AWS::Lambda::Function]"),
        "{otlp_tree}"
    );
    assert!(otlp_tree.contains("─ SQLite (remote)"), "{otlp_tree}");
    assert!(otlp_tree.contains("ColdStart=true"), "{otlp_tree}");
    assert_eq!(shape(&otlp_tree, &otlp_root), shape(&udp_tree, &udp_root));
    assert_eq!(
        shape(&map_of(&otlp_out), &otlp_root),
        shape(&map_of(&udp_out), &udp_root)
    );
    assert!(
        silent.stdout().is_empty(),
        "the daemon gets nothing on the OTLP path"
    );
    let stderr = otlp.stop();
    assert!(!stderr.contains("refused"), "{stderr}");
}

#[tokio::test]
async fn a_wrong_secret_is_refused_with_a_403_and_the_function_serves_on() {
    let dir = TempDir::new("otlp-refused");
    let out = dir.path("xray.jsonl");
    let (listener, endpoint) = otlp_listener(
        &out,
        &[
            ("AWS_ACCESS_KEY_ID", "AKIALOCALKEY"),
            ("AWS_SECRET_ACCESS_KEY", "local-secret"),
        ],
    );
    let env = |secret| {
        vec![
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", XRAY_ENDPOINT),
            ("AWS_ENDPOINT_URL_XRAY", endpoint.as_str()),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "AKIALOCALKEY"),
            ("AWS_SECRET_ACCESS_KEY", secret),
        ]
    };

    // Static credentials, the right secret: accepted.
    let (_f, status) = invoke_home(&dir, &env("local-secret")).await;
    assert_eq!(status, 200);
    let (_, tree) = listener.first_tree(WAIT);
    assert!(
        tree.contains("─ home-activities [AWS::Lambda::Function]"),
        "{tree}"
    );

    // The wrong secret: 403, one line from the function, and it keeps answering.
    let wrong = env("not-the-secret");
    let runtime = RuntimeEmulator::start().await;
    let db = dir.path("cruddur.db").display().to_string();
    let mut all = vec![
        ("CRUDDUR_STAGE", "local"),
        ("CRUDDUR_SQLITE_PATH", db.as_str()),
    ];
    all.extend_from_slice(&wrong);
    let function = FunctionProcess::spawn("home-activities", &runtime.address(), &all);
    for _ in 0..3 {
        let (header, _, _) = lambda_trace_header(true);
        let outcome = runtime
            .invoke(&event_json("home-activities"), Some(&header), WAIT)
            .await
            .unwrap();
        assert_eq!(outcome.http().0, 200);
    }
    runtime.wait_for_polls(4, WAIT).await;
    let refusals: Vec<String> = function
        .lines()
        .into_iter()
        .filter(|l| l.contains("refused the credentials"))
        .collect();
    assert_eq!(refusals.len(), 1, "{:#?}", function.lines());
    assert!(refusals[0].contains("403"), "{}", refusals[0]);

    let stderr = listener.stop();
    assert_eq!(
        stderr.matches("refused an OTLP request").count(),
        1,
        "sending stops after the 403: {stderr}"
    );
    assert!(
        stderr.contains("(403): The request signature we calculated does not match"),
        "{stderr}"
    );
    let documents = std::fs::read_to_string(&out).unwrap();
    assert_eq!(
        documents
            .lines()
            .filter(|l| l.contains("\"name\":\"home-activities\""))
            .count(),
        1,
        "only the signed invocation's segment was kept"
    );
}
