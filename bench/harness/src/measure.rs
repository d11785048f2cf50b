//! One measured run: launch a `bootstrap` (or the Python runtime) against a fresh Runtime API
//! emulator, time its init and its invocations, read its peak memory, stop it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lambda_testkit::{lambda_trace_header, RuntimeEmulator};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(60);

/// How to start one variant's process.
#[derive(Debug, Clone)]
pub struct Launch {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub dir: Option<PathBuf>,
    pub env: Vec<(String, String)>,
    pub event: Value,
}

/// What one process did.
#[derive(Debug, Clone, Default)]
pub struct Run {
    /// exec -> first `next` poll.
    pub init: Duration,
    /// Init of the further starts that measure nothing else (see [`init_once`]).
    pub more_inits: Vec<Duration>,
    /// The first invocation (event handed out -> response posted), cold.
    pub first: Duration,
    /// The other invocations, warm.
    pub warm: Vec<Duration>,
    /// Response posted -> next poll: work done after answering (telemetry export), which Lambda
    /// bills but no caller waits for.
    pub after_response: Vec<Duration>,
    /// Peak resident memory (VmHWM), KiB.
    pub peak_rss_kib: u64,
}

/// Stops the process when dropped, whatever happened.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse().ok())
        })
        .unwrap_or_default()
}

fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// A started process and the emulator it polls; the process is stopped when this is dropped.
struct Started {
    runtime: RuntimeEmulator,
    child: Guard,
    /// exec -> first `next` poll.
    init: Duration,
}

async fn start(
    name: &str,
    launch: &Launch,
    database: &Path,
    log: &Path,
) -> Result<Started, String> {
    let runtime = RuntimeEmulator::start().await;
    let output = std::fs::File::create(log).map_err(|e| e.to_string())?;
    let mut command = Command::new(&launch.program);
    command
        .args(&launch.args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", runtime.address())
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_REGION", "us-east-1")
        .env("CRUDDUR_SQLITE_PATH", database)
        .stdin(Stdio::null())
        .stdout(Stdio::from(output.try_clone().map_err(|e| e.to_string())?))
        .stderr(Stdio::from(output));
    if let Some(dir) = &launch.dir {
        command.current_dir(dir);
    }
    for (key, value) in &launch.env {
        command.env(key, value);
    }
    let started = Instant::now();
    let child = Guard(
        command
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", launch.program.display()))?,
    );
    let polls = runtime.wait_for_polls(1, WAIT).await;
    let Some(first_poll) = polls.first() else {
        return Err(format!(
            "{name} never polled for an event:\n{}",
            log_tail(log)
        ));
    };
    let init = first_poll.saturating_duration_since(started);
    Ok(Started {
        runtime,
        child,
        init,
    })
}

/// One start that only measures init (exec -> first `next` poll), then stops the process: init
/// varies more from start to start than anything else measured, so it gets more samples than the
/// full runs give.
pub async fn init_once(
    name: &str,
    launch: &Launch,
    database: &Path,
    log: &Path,
) -> Result<Duration, String> {
    Ok(start(name, launch, database, log).await?.init)
}

pub async fn run_once(
    name: &str,
    launch: &Launch,
    invocations: usize,
    pause: Duration,
    database: &Path,
    log: &Path,
) -> Result<Run, String> {
    let Started {
        runtime,
        child,
        init,
    } = start(name, launch, database, log).await?;
    let mut run = Run {
        init,
        ..Run::default()
    };
    let mut posted = Vec::with_capacity(invocations);
    for i in 0..invocations {
        if i > 0 {
            // Every warm event is handed out `pause` after the function asked for it, so every
            // variant has sat idle equally long. Back to back, a function that asks at once would
            // run on warm caches and a busy CPU while one that exports first (the traced ones,
            // ~50 ms on the slow sink) would not: the comparison would measure idleness.
            runtime.wait_for_polls(i + 1, WAIT).await;
            tokio::time::sleep(pause).await;
        }
        let (header, _, _) = lambda_trace_header(true);
        let outcome = runtime
            .invoke(&launch.event, Some(&header), WAIT)
            .await
            .map_err(|e| format!("{name}: {e}\n{}", log_tail(log)))?;
        let status = outcome.http().0;
        if outcome.is_error || status != 200 {
            return Err(format!(
                "{name} answered {status} (error: {}): {}\n{}",
                outcome.is_error,
                String::from_utf8_lossy(&outcome.body),
                log_tail(log)
            ));
        }
        if i == 0 {
            run.first = outcome.latency();
        } else {
            run.warm.push(outcome.latency());
        }
        posted.push(outcome.posted_at);
    }
    let polls = runtime.wait_for_polls(invocations + 1, WAIT).await;
    run.after_response = posted
        .iter()
        .zip(polls.iter().skip(1))
        .map(|(posted, next)| next.saturating_duration_since(*posted))
        .collect();
    run.peak_rss_kib = peak_rss_kib(child.0.id());
    drop(child);
    Ok(run)
}

/// What one process did with invocations in flight at once (Lambda Managed Instances).
#[derive(Debug, Clone, Default)]
pub struct ConcurrentRun {
    /// Event handed out -> response posted, every invocation after the warm-up.
    pub latencies: Vec<Duration>,
    /// The invocations after the warm-up, from the first handed to the last answered.
    pub elapsed: Duration,
}

/// Starts the variant with `AWS_LAMBDA_MAX_CONCURRENCY=in_flight` and keeps `in_flight`
/// invocations outstanding until `invocations` are answered (after `in_flight` warm-up ones,
/// which open the store's connections).
pub async fn run_concurrent(
    name: &str,
    launch: &Launch,
    in_flight: usize,
    invocations: usize,
    database: &Path,
    log: &Path,
) -> Result<ConcurrentRun, String> {
    let mut launch = launch.clone();
    launch
        .env
        .push(("AWS_LAMBDA_MAX_CONCURRENCY".into(), in_flight.to_string()));
    let Started { runtime, child, .. } = start(name, &launch, database, log).await?;
    let invoke = |runtime: &RuntimeEmulator| {
        let (header, _, _) = lambda_trace_header(true);
        let event = launch.event.clone();
        let runtime = runtime.clone();
        async move {
            let outcome = runtime.invoke(&event, Some(&header), WAIT).await?;
            match outcome.http().0 {
                200 if !outcome.is_error => Ok(outcome.latency()),
                status => Err(format!("answered {status}")),
            }
        }
    };
    let fail = |e: String| format!("{name}: {e}\n{}", log_tail(log));
    for _ in 0..in_flight {
        invoke(&runtime).await.map_err(fail)?;
    }
    let mut pending = futures_util::stream::FuturesUnordered::new();
    let mut run = ConcurrentRun::default();
    let started = Instant::now();
    let mut sent = 0;
    while sent < invocations.min(in_flight) {
        pending.push(invoke(&runtime));
        sent += 1;
    }
    while let Some(answer) = futures_util::StreamExt::next(&mut pending).await {
        run.latencies.push(answer.map_err(fail)?);
        if sent < invocations {
            pending.push(invoke(&runtime));
            sent += 1;
        }
    }
    run.elapsed = started.elapsed();
    drop(child);
    Ok(run)
}
