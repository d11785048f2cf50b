//! A helper server (DynamoDB Local, moto) run for the life of a test process.

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Starts `command` (a shell command line, given a free loopback port) in `dir`, waits until
/// the port accepts connections, and returns the process with the port. A shell watches the
/// test's stdin pipe and stops the server when the test process ends, even if it is killed.
pub fn start_on_free_port(
    label: &str,
    dir: &Path,
    command: impl Fn(u16) -> String,
) -> (Child, u16) {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let script = format!(
        "{} >/dev/null 2>&1 & pid=$!; cat >/dev/null; kill $pid",
        command(port)
    );
    let process = Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|err| panic!("cannot start {label}: {err}"));
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{label} did not start on port {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (process, port)
}
