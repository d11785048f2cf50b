//! moto's server (`moto[server]` from PyPI, installed into `.venv/` by scripts/setup, started
//! through `scripts/moto_server.py`) standing in for the X-Ray API. `scripts/test` starts one on a free loopback port and passes its address in
//! `CRUDDUR_TEST_MOTO_ENDPOINT`; run alone, a test process starts its own and stops it on exit.

use std::path::PathBuf;
use std::process::Child;
use std::sync::OnceLock;

pub struct Moto {
    endpoint: String,
    _process: Option<Child>,
}

/// The process's moto server.
pub fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| match std::env::var("CRUDDUR_TEST_MOTO_ENDPOINT") {
        Ok(endpoint) if !endpoint.is_empty() => Moto {
            endpoint,
            _process: None,
        },
        _ => Moto::start(),
    })
}

impl Moto {
    fn start() -> Self {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let python = root.join(".venv/bin/python");
        let server = root.join("scripts/moto_server.py");
        assert!(
            root.join(".venv/bin/moto_server").exists(),
            "moto is not installed in .venv/: run scripts/setup (it installs moto[server])"
        );
        let (process, port) = crate::service::start_on_free_port("moto", &root, |port| {
            format!(
                "'{}' '{}' -H 127.0.0.1 -p {port}",
                python.display(),
                server.display()
            )
        });
        Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            _process: Some(process),
        }
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The environment an AWS SDK client needs to talk to moto.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL_XRAY", self.endpoint.clone()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ]
    }
}
