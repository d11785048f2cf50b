//! The UDP path end to end: a real function binary, invoked through the Runtime API emulator,
//! sends its segments to `cruddur-xray listen`; the printed tree, `trace` and `map` agree.

mod common;

use std::time::Duration;

use common::{cli, stdout, Listener, TempDir, HEADER};
use cruddur_core::testing::event_json;
use lambda_testkit::{lambda_trace_header, FunctionProcess, RuntimeEmulator};

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn a_function_invoked_under_the_collector_shows_as_a_tree_and_on_the_map() {
    let dir = TempDir::new("udp");
    let out = dir.path("xray.jsonl");
    let listener = Listener::start(&out, &["--idle", "1"], &[]);

    // A bad datagram first: reported, and the collector keeps going.
    listener.send(b"not a segment document");
    listener.send(format!("{HEADER}{{\"name\": \"x\"}}").as_bytes());

    let runtime = RuntimeEmulator::start().await;
    let db = dir.path("cruddur.db").display().to_string();
    let _function = FunctionProcess::spawn(
        "home-activities",
        &runtime.address(),
        &[
            ("AWS_XRAY_DAEMON_ADDRESS", listener.address.as_str()),
            ("CRUDDUR_STAGE", "local"),
            ("CRUDDUR_SQLITE_PATH", db.as_str()),
        ],
    );
    // Locally (stage `local`) the function sends a full segment of its own trace, as nothing
    // else would send the Lambda facade segment.
    let (header, _, _) = lambda_trace_header(true);
    let outcome = runtime
        .invoke(&event_json("home-activities"), Some(&header), WAIT)
        .await
        .unwrap();
    assert_eq!(outcome.http().0, 200);

    let (root, tree) = listener.first_tree(WAIT);
    let lines: Vec<&str> = tree.lines().collect();
    assert!(!tree.contains("partial"), "{tree}");
    assert!(
        lines[1].starts_with("└─ home-activities [AWS::Lambda::Function]  "),
        "{tree}"
    );
    assert!(
        lines[1].contains(
            "GET https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/api/activities/home -> 200"
        ),
        "{tree}"
    );
    assert!(lines[1].contains("ColdStart=true"), "{tree}");
    assert!(tree.contains("─ home-activities-mock-data"), "{tree}");
    assert!(tree.contains("─ SQLite (remote)"), "{tree}");

    // Every read-back goes through the file the collector wrote.
    let from_out = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--from", out.to_str().unwrap()]);
        stdout(&cli(&all, &[]))
    };
    // The same trace read back from the file, by the same code.
    let again = from_out(&["trace", &root]);
    assert_eq!(again, tree);

    let map = from_out(&["map"]);
    assert!(
        map.starts_with("service map: 3 nodes, 2 edges, from 1 trace\n"),
        "{map}"
    );
    assert!(
        map.contains("  client -> home-activities [AWS::Lambda::Function]  requests 1  errors 0  faults 0  throttles 0  p50 "),
        "{map}"
    );
    assert!(
        map.contains("  home-activities [AWS::Lambda::Function] -> SQLite [remote]  requests "),
        "{map}"
    );

    let listed = from_out(&["traces", "--filter", "annotation.ColdStart = true"]);
    assert!(listed.starts_with(&root), "{listed}");
    let none = from_out(&["traces", "--filter", "fault"]);
    assert_eq!(none, "");

    let stderr = listener.stop();
    assert!(
        stderr.contains("rejected a datagram from 127.0.0.1:"),
        "{stderr}"
    );
    assert!(stderr.contains("no header line"), "{stderr}");
    assert!(stderr.contains("trace_id is missing"), "{stderr}");
    assert!(stderr.contains(" rejected"), "{stderr}");
    assert!(stderr.contains(", 2 rejected"), "{stderr}");
}

/// Runs a command that must fail; returns what it said.
fn failure(args: &[&str]) -> String {
    let output = cli(args, &[]);
    assert!(!output.status.success(), "{args:?} should fail");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn readers_explain_missing_files_and_bad_arguments() {
    let missing = failure(&["map", "--from", "/nonexistent/xray.jsonl"]);
    assert!(
        missing.contains("cannot read /nonexistent/xray.jsonl"),
        "{missing}"
    );
    assert!(missing.contains("cruddur-xray listen --out"), "{missing}");

    let bad_filter = failure(&[
        "traces",
        "--from",
        "/dev/null",
        "--filter",
        "annotation.x =",
    ]);
    assert!(bad_filter.contains("expected a value"), "{bad_filter}");

    let unknown = failure(&[
        "trace",
        "1-00000000-000000000000000000000000",
        "--from",
        "/dev/null",
    ]);
    assert!(unknown.contains("is not in /dev/null"), "{unknown}");

    let bad_since = failure(&["traces", "--aws", "--since", "ten"]);
    assert!(bad_since.contains("--since"), "{bad_since}");

    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let busy = failure(&["listen", "--bind", &taken.local_addr().unwrap().to_string()]);
    assert!(busy.contains("cannot listen on udp"), "{busy}");
}
