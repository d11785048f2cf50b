//! A UDP socket standing in for the X-Ray daemon: it checks the daemon protocol and keeps the
//! segment documents it receives.

use std::net::UdpSocket;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

const HEADER: &str = "{\"format\": \"json\", \"version\": 1}";

#[derive(Clone)]
pub struct XrayCollector {
    address: String,
    documents: Arc<Mutex<Vec<Value>>>,
    datagram_sizes: Arc<Mutex<Vec<usize>>>,
    rejected: Arc<Mutex<Vec<String>>>,
}

impl XrayCollector {
    pub fn start() -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind loopback");
        let address = socket.local_addr().expect("addr").to_string();
        let collector = Self {
            address,
            documents: Arc::default(),
            datagram_sizes: Arc::default(),
            rejected: Arc::default(),
        };
        let (docs, sizes, rejected) = (
            collector.documents.clone(),
            collector.datagram_sizes.clone(),
            collector.rejected.clone(),
        );
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 70_000];
            while let Ok(n) = socket.recv(&mut buf) {
                sizes.lock().unwrap().push(n);
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                match text.split_once('\n') {
                    Some((HEADER, body)) => match serde_json::from_str(body) {
                        Ok(doc) => docs.lock().unwrap().push(doc),
                        Err(err) => rejected.lock().unwrap().push(format!("bad JSON: {err}")),
                    },
                    _ => rejected.lock().unwrap().push(format!(
                        "bad header: {}",
                        text.chars().take(60).collect::<String>()
                    )),
                }
            }
        });
        collector
    }

    /// `AWS_XRAY_DAEMON_ADDRESS` for a function.
    pub fn address(&self) -> &str {
        &self.address
    }

    pub fn documents(&self) -> Vec<Value> {
        self.documents.lock().unwrap().clone()
    }

    pub fn datagram_sizes(&self) -> Vec<usize> {
        self.datagram_sizes.lock().unwrap().clone()
    }

    pub fn rejected(&self) -> Vec<String> {
        self.rejected.lock().unwrap().clone()
    }

    /// The documents of one trace (`trace_id` in X-Ray form).
    pub fn trace(&self, trace_id: &str) -> Vec<Value> {
        self.documents()
            .into_iter()
            .filter(|d| d["trace_id"] == trace_id)
            .collect()
    }

    /// Waits until `predicate` holds for the documents so far, or `timeout` passes.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        predicate: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        crate::wait_until(timeout, || self.documents(), |d| predicate(d)).await
    }
}
