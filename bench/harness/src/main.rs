//! cruddur-bench: cold start, warm latency and memory of the traced functions against telemetry
//! off, the deployed configuration (DynamoDB over TLS, secrets from SSM), a bare lambda_http
//! hello and the original Python stack, on a Runtime API emulator.
//! Writes BENCHMARKS.md. Run it with `scripts/bench` (it builds the release bootstraps first).
//!
//!   cruddur-bench [--rounds 5] [--invocations 200] [--pause-ms 20] [--init-starts 6]
//!                 [--out BENCHMARKS.md] [--no-python]

mod measure;
mod report;
mod variants;

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Duration;

use lambda_testkit::http::SinkBehavior;
use lambda_testkit::{dynamo_local, moto, HttpSink, TlsTerminator, XrayCollector};

struct Options {
    rounds: usize,
    invocations: usize,
    /// How long each warm event waits after the function asked for it (see `measure::run_once`).
    pause: Duration,
    /// Further starts per variant and round that only measure init.
    init_starts: usize,
    out: PathBuf,
    python: bool,
}

fn usage() -> String {
    "usage: cruddur-bench [--rounds N] [--invocations N] [--pause-ms N] [--init-starts N] \
     [--out FILE] [--no-python]"
        .into()
}

fn parse_args() -> Result<Options, String> {
    let mut options = Options {
        rounds: 5,
        invocations: 200,
        pause: Duration::from_millis(20),
        init_starts: 6,
        out: variants::root().join("BENCHMARKS.md"),
        python: true,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = |name: &str| -> Result<usize, String> {
            args.next()
                .and_then(|v| v.parse().ok())
                .filter(|n: &usize| *n >= 2)
                .ok_or_else(|| format!("{name} needs a number of at least 2\n{}", usage()))
        };
        match arg.as_str() {
            "--rounds" => options.rounds = number("--rounds")?,
            "--invocations" => options.invocations = number("--invocations")?,
            "--pause-ms" => {
                options.pause = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .map(Duration::from_millis)
                    .ok_or_else(|| {
                        format!("--pause-ms needs a number of milliseconds\n{}", usage())
                    })?
            }
            "--out" => {
                options.out = args
                    .next()
                    .map(PathBuf::from)
                    .ok_or_else(|| format!("--out needs a file\n{}", usage()))?
            }
            "--init-starts" => {
                options.init_starts = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| format!("--init-starts needs a number\n{}", usage()))?
            }
            "--no-python" => options.python = false,
            "-h" | "--help" => return Err(usage()),
            other => return Err(format!("unknown argument {other}\n{}", usage())),
        }
    }
    Ok(options)
}

fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).output().ok()?;
    Some(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn machine() -> Vec<String> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|m| m.trim().to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<f64>().ok())
        })
        .map(|kib| format!("{:.0} GiB RAM", kib / 1024.0 / 1024.0))
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    vec![
        format!("{model}, {cores} cores, {memory}"),
        format!(
            "{} {}",
            command_output("uname", &["-s"]).unwrap_or_default(),
            command_output("uname", &["-rm"]).unwrap_or_default()
        ),
        command_output("rustc", &["-V"]).unwrap_or_default(),
        command_output("python3", &["-V"]).unwrap_or_default(),
    ]
}

async fn run(options: Options) -> Result<(), String> {
    let xray = XrayCollector::start();
    let otlp = HttpSink::with_behavior(SinkBehavior {
        delay: Duration::from_millis(50),
        ..SinkBehavior::default()
    })
    .await;
    let rollbar = HttpSink::start().await;
    let otlp_hung = HttpSink::with_behavior(SinkBehavior {
        delay: Duration::from_secs(24 * 3600),
        ..SinkBehavior::default()
    })
    .await;
    let sinks = variants::Sinks {
        xray: xray.address().to_owned(),
        otlp: otlp.url(),
        rollbar: rollbar.url(),
        otlp_hung: otlp_hung.url(),
        // Port 1 on loopback: nothing listens, every connection is refused.
        otlp_refusing: "http://127.0.0.1:1".to_owned(),
    };
    let work = std::env::temp_dir().join(format!("cruddur-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let dynamodb = dynamo_local().endpoint();
    let tls = TlsTerminator::start(dynamodb.trim_start_matches("http://"), &work).await;
    let deployed = variants::Deployed {
        dynamodb: tls.endpoint(),
        certificate: tls.certificate().to_path_buf(),
        ssm: moto().endpoint().to_owned(),
    };
    put_secrets(&deployed.ssm).await?;
    create_table(dynamodb).await?;
    let result = measure_all(&options, &sinks, &deployed, &work).await;
    let _ = std::fs::remove_dir_all(&work);
    let (summaries, concurrent) = result?;

    let context = report::Context {
        date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        command: format!(
            "scripts/bench --rounds {} --invocations {} --pause-ms {} --init-starts {}{}",
            options.rounds,
            options.invocations,
            options.pause.as_millis(),
            options.init_starts,
            if options.python { "" } else { " --no-python" }
        ),
        machine: machine(),
        rounds: options.rounds,
        init_starts: options.init_starts,
        invocations: options.invocations,
        pause: options.pause,
        otlp_requests: otlp.requests().len(),
        xray_documents: xray.documents().len(),
    };
    if context.otlp_requests == 0 || context.xray_documents == 0 {
        return Err(
            "the traced variants exported nothing: the benchmark would not measure telemetry"
                .into(),
        );
    }
    let markdown = report::markdown(&context, &summaries, &concurrent);
    std::fs::write(&options.out, &markdown)
        .map_err(|e| format!("cannot write {}: {e}", options.out.display()))?;
    println!("{markdown}");
    eprintln!("cruddur-bench: wrote {}", options.out.display());
    Ok(())
}

/// A client configuration for a local stand-in (moto, DynamoDB Local), with placeholder
/// credentials under `access_key_id`.
fn local_config(endpoint: &str, access_key_id: &str) -> aws_config::SdkConfig {
    use aws_config::{BehaviorVersion, Region};
    use aws_sdk_dynamodb::config::{Credentials, SharedCredentialsProvider};
    aws_config::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(cruddur_aws_https::https_client())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            access_key_id,
            "bench",
            None,
            None,
            "bench",
        )))
        .build()
}

/// The deployed variants' table, as the stack would create it, on DynamoDB Local's `endpoint`.
async fn create_table(endpoint: &str) -> Result<(), String> {
    let config = local_config(endpoint, variants::ACCESS_KEY_ID);
    let client = aws_sdk_dynamodb::Client::new(&config);
    cruddur_core::DynamoStore::new(client, variants::TABLE, "us-east-1")
        .create_table()
        .await
        .map_err(|e| format!("cannot create {} in DynamoDB Local: {e}", variants::TABLE))
}

/// The deployed variants' secrets, as `aws ssm put-parameter` would store them.
async fn put_secrets(endpoint: &str) -> Result<(), String> {
    let ssm = aws_sdk_ssm::Client::new(&local_config(endpoint, "bench"));
    for (name, value) in [
        (variants::ROLLBAR_PARAMETER, "bench"),
        (variants::HONEYCOMB_PARAMETER, "bench"),
    ] {
        ssm.put_parameter()
            .name(name)
            .value(value)
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .overwrite(true)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "cannot store {name} in moto's SSM: {}",
                    aws_sdk_ssm::error::DisplayErrorContext(e)
                )
            })?;
    }
    Ok(())
}

async fn measure_all(
    options: &Options,
    sinks: &variants::Sinks,
    deployed: &variants::Deployed,
    work: &std::path::Path,
) -> Result<(Vec<report::Summary>, Vec<report::Concurrency>), String> {
    let variants = variants::all(sinks, deployed, options.python)?;
    // Every process starts from the same seeded database (and the same DynamoDB table).
    let seeded = work.join("seeded.db");
    variants::seed(&seeded, work, deployed).await?;
    let mut runs: Vec<Vec<measure::Run>> = vec![Vec::new(); variants.len()];
    for round in 1..=options.rounds {
        for (i, variant) in variants.iter().enumerate() {
            eprintln!(
                "cruddur-bench: round {round}/{}: {}",
                options.rounds, variant.name
            );
            let database = work.join(format!("run-{round}-{i}.db"));
            copy_database(&seeded, &database)?;
            let log = work.join(format!("run-{round}-{i}.log"));
            let mut run = measure::run_once(
                variant.function,
                &variant.launch,
                options.invocations,
                options.pause,
                &database,
                &log,
            )
            .await?;
            for _ in 0..options.init_starts {
                let init = measure::init_once(variant.function, &variant.launch, &database, &log);
                run.more_inits.push(init.await?);
            }
            runs[i].push(run);
        }
    }
    let summaries = variants
        .iter()
        .zip(&runs)
        .map(|(v, r)| report::Summary::of(&v.name, v.binary_bytes, r))
        .collect();
    // Lambda Managed Instances: the deployed home-activities with invocations in flight at once.
    let deployed_home = variants::concurrent(sinks, deployed)?;
    let mut concurrent = Vec::new();
    for in_flight in variants::IN_FLIGHT {
        let mut runs = Vec::new();
        for round in 1..=options.rounds {
            eprintln!(
                "cruddur-bench: round {round}/{}: {}, {in_flight} in flight",
                options.rounds, deployed_home.name
            );
            let log = work.join(format!("concurrent-{in_flight}-{round}.log"));
            let database = work.join("unused.db");
            let run = measure::run_concurrent(
                deployed_home.function,
                &deployed_home.launch,
                in_flight,
                options.invocations,
                &database,
                &log,
            );
            runs.push(run.await?);
        }
        concurrent.push(report::Concurrency::of(in_flight, &runs));
    }
    Ok((summaries, concurrent))
}

/// Copies a SQLite database with its write-ahead log (the seeding process was stopped, not
/// closed, so recent pages may still be in the log).
fn copy_database(from: &std::path::Path, to: &std::path::Path) -> Result<(), String> {
    std::fs::copy(from, to).map_err(|e| format!("copy {}: {e}", from.display()))?;
    let wal = |p: &std::path::Path| PathBuf::from(format!("{}-wal", p.display()));
    if wal(from).exists() {
        std::fs::copy(wal(from), wal(to))
            .map_err(|e| format!("copy the log of {}: {e}", from.display()))?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    match run(options).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("cruddur-bench: {message}");
            ExitCode::FAILURE
        }
    }
}
