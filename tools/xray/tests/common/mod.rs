//! Running the built `cruddur-xray` binary in tests.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const HEADER: &str = "{\"format\": \"json\", \"version\": 1}\n";

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_cruddur-xray")
}

/// Runs a `cruddur-xray` command to completion.
pub fn cli(args: &[&str], env: &[(&str, String)]) -> Output {
    let mut command = Command::new(binary());
    command.args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("run cruddur-xray")
}

pub fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "cruddur-xray failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(label: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "cruddur-xray-{label}-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `cruddur-xray listen` on a free port, with its output captured.
pub struct Listener {
    child: Child,
    pub address: String,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

fn capture(reader: impl std::io::Read + Send + 'static) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    let sink = text.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines().map_while(Result::ok) {
            let mut text = sink.lock().unwrap();
            text.push_str(&line);
            text.push('\n');
        }
    });
    text
}

impl Listener {
    pub fn start(out: &Path, extra: &[&str], env: &[(&str, String)]) -> Self {
        let mut command = Command::new(binary());
        command
            .args(["listen", "--bind", "127.0.0.1:0", "--out"])
            .arg(out)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("start cruddur-xray listen");
        let stdout = capture(child.stdout.take().unwrap());
        let stderr = capture(child.stderr.take().unwrap());
        let deadline = Instant::now() + Duration::from_secs(20);
        let address = loop {
            let text = stderr.lock().unwrap().clone();
            if let Some(rest) = text.split("listening on udp ").nth(1) {
                break rest.split_whitespace().next().unwrap().to_owned();
            }
            assert!(Instant::now() < deadline, "listen did not start: {text}");
            std::thread::sleep(Duration::from_millis(20));
        };
        Self {
            child,
            address,
            stdout,
            stderr,
        }
    }

    pub fn send(&self, datagram: &[u8]) {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.send_to(datagram, &self.address).unwrap();
    }

    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until the printed output satisfies `predicate`.
    pub fn wait_for_stdout(&self, timeout: Duration, predicate: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let text = self.stdout();
            if predicate(&text) || Instant::now() >= deadline {
                return text;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The first trace it printed (waiting for it), and that trace's id.
    pub fn first_tree(&self, timeout: Duration) -> (String, String) {
        let printed = self.wait_for_stdout(timeout, |text| text.contains("\n\n"));
        let tree = printed.split("\n\n").next().unwrap().to_owned() + "\n";
        let root = tree
            .strip_prefix("trace ")
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no tree in:\n{printed}"))
            .to_owned();
        (root, tree)
    }

    /// Stops it as Ctrl-C would; returns everything it wrote to stderr.
    pub fn stop(mut self) -> String {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(100));
        self.stderr()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
