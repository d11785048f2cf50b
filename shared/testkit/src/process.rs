//! A built function binary, run as Lambda would run it: pointed at a Runtime API, with the
//! standard environment, its stdout (the log stream) captured line by line.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

/// Where built function binaries are: `CRUDDUR_BIN_DIR`, else the workspace's `target/debug`.
pub fn binary(name: &str) -> PathBuf {
    let dir = std::env::var_os("CRUDDUR_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("debug"));
    built(dir.join(name), "cargo build --workspace --bins")
}

/// An example built as a function is deployed: by `cargo lambda build --release`, which links
/// it like every bootstrap and puts it at `target/lambda/<name>/bootstrap`.
pub fn release_example(name: &str) -> PathBuf {
    built(
        target_dir().join("lambda").join(name).join("bootstrap"),
        &format!("cargo lambda build --release --example {name}"),
    )
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

fn built(path: PathBuf, how: &str) -> PathBuf {
    assert!(
        path.exists(),
        "{} is not built: run `{how}` first (scripts/test does)",
        path.display()
    );
    path
}

pub struct FunctionProcess {
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
}

impl FunctionProcess {
    /// Starts function `name` against the Runtime API at `runtime_api` with extra environment.
    pub fn spawn(name: &str, runtime_api: &str, env: &[(&str, &str)]) -> Self {
        Self::spawn_binary(binary(name), name, runtime_api, env)
    }

    /// Starts the binary at `path` as function `name`.
    pub fn spawn_binary(
        path: PathBuf,
        name: &str,
        runtime_api: &str,
        env: &[(&str, &str)],
    ) -> Self {
        let mut command = Command::new(path);
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", runtime_api)
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/21/[$LATEST]test")
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {name}: {err}"));
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let lines = stdout.clone();
        let pipe = child.stdout.take().expect("piped stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
        Self { child, stdout }
    }

    /// Every stdout line so far.
    pub fn lines(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    /// Every stdout line that is a JSON object.
    pub fn json_lines(&self) -> Vec<Value> {
        self.lines()
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .filter(Value::is_object)
            .collect()
    }

    /// Waits until `predicate` holds for the JSON lines so far, or `timeout` passes.
    pub async fn wait_for_lines(
        &self,
        timeout: Duration,
        predicate: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        crate::wait_until(timeout, || self.json_lines(), |l| predicate(l)).await
    }

    /// The names of the process's threads (Linux truncates them to 15 bytes).
    pub fn thread_names(&self) -> Vec<String> {
        let tasks = format!("/proc/{}/task", self.child.id());
        let mut names: Vec<String> = std::fs::read_dir(&tasks)
            .unwrap_or_else(|err| panic!("cannot list {tasks}: {err}"))
            .filter_map(Result::ok)
            .filter_map(|task| std::fs::read_to_string(task.path().join("comm")).ok())
            .map(|name| name.trim_end().to_owned())
            .collect();
        names.sort();
        names
    }

    /// The process's resident memory (`VmRSS`), in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_default()
    }

    /// Sends the process SIGTERM, as Lambda does at shutdown to a runtime with an extension,
    /// and waits (at most `timeout`) for it to exit; returns its exit code.
    pub fn terminate(&mut self, timeout: Duration) -> Option<i32> {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for FunctionProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
