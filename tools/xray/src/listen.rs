//! `cruddur-xray listen`: a local stand-in for the X-Ray daemon. It reads datagrams on UDP,
//! validates them, appends every accepted document to a JSON-lines file (so `map` and `traces`
//! can read them later), optionally forwards them to X-Ray, and prints each trace as a tree once
//! it is complete (then briefly quiet) or has been idle for a while.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use crate::document::{parse_datagram, Rejection, MAX_DATAGRAM_BYTES};
use crate::trace::{Trace, TraceSet};

/// Traces being received, and when each last heard of.
#[derive(Default)]
pub struct Collector {
    pending: TraceSet,
    last_seen: HashMap<String, Instant>,
    pub accepted: u64,
    pub rejected: u64,
}

/// When a trace is printed.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// A complete trace is printed once nothing more arrived for this long (its other
    /// documents are usually a few milliseconds behind).
    pub settle: Duration,
    /// An incomplete trace is printed after this long without news.
    pub idle: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            settle: Duration::from_millis(200),
            idle: Duration::from_secs(2),
        }
    }
}

impl Collector {
    /// Takes one datagram; returns the accepted document or why it was not.
    pub fn receive(&mut self, datagram: &[u8], now: Instant) -> Result<Value, Rejection> {
        self.take(parse_datagram(datagram), now)
    }

    /// Takes one document that came without the daemon's framing (from OTLP spans), checked as
    /// a datagram's document is.
    pub fn receive_document(&mut self, document: Value, now: Instant) -> Result<Value, Rejection> {
        let checked = crate::document::validate(&document).map(|()| document);
        self.take(checked, now)
    }

    fn take(&mut self, parsed: Result<Value, Rejection>, now: Instant) -> Result<Value, Rejection> {
        match parsed {
            Ok(document) => {
                self.accepted += 1;
                let trace_id = document["trace_id"].as_str().unwrap_or_default().to_owned();
                self.last_seen.insert(trace_id, now);
                self.pending.add(document.clone());
                Ok(document)
            }
            Err(rejection) => {
                self.rejected += 1;
                Err(rejection)
            }
        }
    }

    /// The traces to print now, in the order they started arriving.
    pub fn ready(&mut self, now: Instant, timing: Timing) -> Vec<Trace> {
        let mut due = Vec::new();
        for id in self.pending.ids().to_vec() {
            let quiet = now.saturating_duration_since(self.last_seen[&id]);
            if quiet < timing.settle {
                continue;
            }
            // Assembled once: to decide, and to print.
            match self.pending.get(&id) {
                Some(trace) if quiet >= timing.idle || trace.is_complete() => {
                    self.forget(&id);
                    due.push(trace);
                }
                _ => {}
            }
        }
        due
    }

    /// Everything still pending (on shutdown).
    pub fn drain(&mut self) -> Vec<Trace> {
        let ids = self.pending.ids().to_vec();
        ids.iter()
            .filter_map(|id| {
                let trace = self.pending.get(id);
                self.forget(id);
                trace
            })
            .collect()
    }

    fn forget(&mut self, id: &str) {
        self.last_seen.remove(id);
        self.pending.remove(id);
    }
}

pub struct Options {
    pub bind: String,
    /// Also X-Ray's OTLP endpoint on this TCP address, checking signatures against these
    /// credentials.
    pub otlp: Option<(String, crate::otlp::LocalCredentials)>,
    pub out: Option<PathBuf>,
    pub forward: Option<aws_sdk_xray::Client>,
    pub timing: Timing,
}

/// PutTraceSegments takes up to 50 documents; the daemon sends at least once a second.
const FORWARD_BATCH: usize = 50;
const FORWARD_EVERY: Duration = Duration::from_secs(1);
const FORWARD_QUEUE: usize = 10_000;

pub async fn run(options: Options) -> Result<(), String> {
    let socket = UdpSocket::bind(&options.bind)
        .await
        .map_err(|e| format!("cannot listen on udp {}: {e}", options.bind))?;
    let address = socket.local_addr().map_err(|e| e.to_string())?;
    let out = match &options.out {
        Some(path) => Some(open_out(path)?),
        None => None,
    };
    let (otlp_tx, mut otlp_rx) = mpsc::channel::<Vec<Value>>(64);
    let otlp_address = match options.otlp {
        Some((bind, credentials)) => {
            let (listener, local) = crate::otlp::bind(&bind).await?;
            tokio::spawn(crate::otlp::serve(listener, credentials, otlp_tx));
            Some(local)
        }
        None => {
            drop(otlp_tx);
            None
        }
    };
    eprintln!(
        "cruddur-xray: listening on udp {address} (set AWS_XRAY_DAEMON_ADDRESS={address}){}{}{}",
        otlp_address
            .map(|a| format!(
                " and OTLP on http://{a}/v1/traces (set AWS_ENDPOINT_URL_XRAY=http://{a})"
            ))
            .unwrap_or_default(),
        options
            .out
            .as_ref()
            .map(|p| format!(", appending documents to {}", p.display()))
            .unwrap_or_default(),
        if options.forward.is_some() {
            ", forwarding to X-Ray"
        } else {
            ""
        }
    );

    let (forward_tx, forwarder) = match options.forward {
        Some(client) => {
            let (tx, rx) = mpsc::channel(FORWARD_QUEUE);
            (Some(tx), Some(tokio::spawn(forward(client, rx))))
        }
        None => (None, None),
    };
    let mut accepted = Accepted {
        out,
        forward: forward_tx,
        dropped_forwards: 0,
    };
    let mut collector = Collector::default();
    let mut buffer = vec![0u8; MAX_DATAGRAM_BYTES + 1];
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            received = socket.recv_from(&mut buffer) => {
                let (n, from) = match received {
                    Ok(received) => received,
                    Err(err) => {
                        eprintln!("cruddur-xray: receive failed: {err}");
                        continue;
                    }
                };
                match collector.receive(&buffer[..n], Instant::now()) {
                    Ok(document) => accepted.keep(&document),
                    Err(rejection) => eprintln!("cruddur-xray: rejected a datagram from {from}: {rejection}"),
                }
            }
            Some(documents) = otlp_rx.recv() => {
                // Validated as the daemon's datagrams are: the same checks, the same trees.
                for document in documents {
                    match collector.receive_document(document, Instant::now()) {
                        Ok(document) => accepted.keep(&document),
                        Err(rejection) => eprintln!("cruddur-xray: rejected a span received over OTLP: {rejection}"),
                    }
                }
            }
            _ = tick.tick() => print_traces(collector.ready(Instant::now(), options.timing)),
            _ = &mut shutdown => break,
        }
    }
    print_traces(collector.drain());
    let dropped_forwards = accepted.dropped_forwards;
    drop(accepted);
    if let Some(forwarder) = forwarder {
        let _ = forwarder.await;
    }
    eprintln!(
        "cruddur-xray: {} documents accepted, {} rejected{}",
        collector.accepted,
        collector.rejected,
        if dropped_forwards > 0 {
            format!(", {dropped_forwards} not forwarded (queue full)")
        } else {
            String::new()
        }
    );
    Ok(())
}

/// Where accepted documents go: the output file, the forwarding queue.
struct Accepted {
    out: Option<std::fs::File>,
    forward: Option<mpsc::Sender<(String, String)>>,
    dropped_forwards: u64,
}

impl Accepted {
    fn keep(&mut self, document: &Value) {
        if let Some(out) = self.out.as_mut() {
            // One write per document, newline included: a reader never sees half a line
            // followed by more (an append of a few KiB is not split).
            let line = format!("{document}\n");
            if let Err(err) = out.write_all(line.as_bytes()) {
                eprintln!("cruddur-xray: could not append to the output file: {err}");
            }
        }
        if let Some(tx) = &self.forward {
            let id = document["id"].as_str().unwrap_or_default().to_owned();
            if tx.try_send((id, document.to_string())).is_err() {
                self.dropped_forwards += 1;
                if self.dropped_forwards == 1 {
                    eprintln!(
                        "cruddur-xray: the forwarding queue is full; documents are being dropped"
                    );
                }
            }
        }
    }
}

fn open_out(path: &PathBuf) -> Result<std::fs::File, String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))
}

fn print_traces(traces: Vec<Trace>) {
    if traces.is_empty() {
        return;
    }
    let mut stdout = std::io::stdout().lock();
    for trace in traces {
        // A closed pipe (`| head`) is not worth a panic.
        let _ = writeln!(stdout, "{}", crate::tree::render(&trace));
    }
    let _ = stdout.flush();
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

/// Batches documents to PutTraceSegments: up to 50 at a time, at least once a second.
async fn forward(client: aws_sdk_xray::Client, mut rx: mpsc::Receiver<(String, String)>) {
    // A batch starts with its first document and is sent when full or a second old.
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        let deadline = tokio::time::sleep(FORWARD_EVERY);
        tokio::pin!(deadline);
        let mut closed = false;
        while batch.len() < FORWARD_BATCH {
            tokio::select! {
                next = rx.recv() => match next {
                    Some(item) => batch.push(item),
                    None => { closed = true; break; }
                },
                _ = &mut deadline => break,
            }
        }
        let outcome = crate::aws::put_segments(&client, batch, 3, Duration::from_millis(200)).await;
        for (id, why) in outcome.refused {
            eprintln!("cruddur-xray: X-Ray did not accept segment {id} after 3 attempts: {why}");
        }
        if closed {
            return;
        }
    }
}
