//! `cruddur-xray`: a local X-Ray daemon with trace trees and the service map, and the same views
//! of a deployed stack. See `cruddur-xray --help` and docs/local-tools.md.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use cruddur_xray::filter::Filter;
use cruddur_xray::listen::{self, Timing};
use cruddur_xray::map::ServiceMap;
use cruddur_xray::source::{parse_since, Source};
use cruddur_xray::trace::Trace;
use cruddur_xray::{map_render, tree};

/// Where `listen --out` writes in scripts/dev, and where the readers look by default.
const DEFAULT_FILE: &str = ".cruddur/xray.jsonl";

#[derive(Parser)]
#[command(
    name = "cruddur-xray",
    version,
    about = "A local X-Ray daemon with trace trees and the service map, and the same views of a deployed stack"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Receive segment documents over UDP like the X-Ray daemon (and, with --otlp, spans over
    /// OTLP like X-Ray's OTLP endpoint); print each trace as a tree.
    Listen {
        /// UDP address to listen on (functions send to it via AWS_XRAY_DAEMON_ADDRESS).
        #[arg(long, default_value = "127.0.0.1:2000")]
        bind: String,
        /// Also take OTLP/HTTP spans (protobuf, gzip or not) on this loopback TCP address, as
        /// X-Ray's OTLP endpoint does: POST /v1/traces signed with SigV4 for service xray,
        /// checked against AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN (a bad
        /// signature gets a 403). Functions send to it with AWS_ENDPOINT_URL_XRAY=http://HOST:PORT.
        #[arg(long, value_name = "HOST:PORT")]
        otlp: Option<String>,
        /// Append every accepted document to this JSON-lines file.
        #[arg(long, value_name = "FILE.jsonl")]
        out: Option<PathBuf>,
        /// Also send the documents to X-Ray (PutTraceSegments; credentials and region from the
        /// usual AWS environment variables or profile).
        #[arg(long)]
        forward: bool,
        /// Print a trace that is still incomplete after this many seconds without news.
        #[arg(long, default_value_t = 2.0, value_name = "SECONDS")]
        idle: f64,
    },
    /// The service map: nodes, edges, requests, errors, faults, throttles, p50/p95 latency.
    Map {
        #[command(flatten)]
        source: SourceArgs,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Only traces matching this filter expression.
        #[arg(long)]
        filter: Option<String>,
    },
    /// List traces, earliest first.
    Traces {
        #[command(flatten)]
        source: SourceArgs,
        /// An X-Ray filter expression, e.g. 'annotation.handle = "worf"' or 'fault'.
        #[arg(long)]
        filter: Option<String>,
    },
    /// Print one trace as a tree.
    Trace {
        /// The trace id (1-xxxxxxxx-xxxxxxxxxxxxxxxxxxxxxxxx).
        id: String,
        #[command(flatten)]
        source: SourceArgs,
    },
}

#[derive(Args)]
struct SourceArgs {
    /// Read documents written by `listen --out` [default: .cruddur/xray.jsonl].
    #[arg(long, value_name = "FILE.jsonl", conflicts_with = "aws")]
    from: Option<PathBuf>,
    /// Read a deployed stack's traces from X-Ray (GetTraceSummaries and BatchGetTraces).
    #[arg(long)]
    aws: bool,
    /// With --aws: how far back to look (30s, 15m, 2h, 1d).
    #[arg(long, default_value = "15m", requires = "aws")]
    since: String,
}

impl SourceArgs {
    fn source(&self) -> Result<Source, String> {
        if self.aws {
            return Ok(Source::Aws {
                since: parse_since(&self.since)?,
            });
        }
        Ok(Source::File(
            self.from
                .clone()
                .unwrap_or_else(|| PathBuf::from(DEFAULT_FILE)),
        ))
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Dot,
    Html,
}

fn parse_filter(filter: Option<&str>) -> Result<Option<Filter>, String> {
    filter
        .map(|f| Filter::parse(f).map_err(|e| format!("--filter {f:?}: {e}")))
        .transpose()
}

async fn selected(source: &SourceArgs, filter: Option<&str>) -> Result<Vec<Trace>, String> {
    let filter = parse_filter(filter)?;
    let traces = source.source()?.load().await?.traces();
    Ok(traces
        .into_iter()
        .filter(|t| filter.as_ref().is_none_or(|f| f.matches(t)))
        .collect())
}

async fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Listen {
            bind,
            otlp,
            out,
            forward,
            idle,
        } => {
            if !(idle.is_finite() && idle > 0.0) {
                return Err("--idle must be a positive number of seconds".into());
            }
            let forward = if forward {
                Some(cruddur_xray::aws::client().await?)
            } else {
                None
            };
            let timing = Timing {
                idle: std::time::Duration::from_secs_f64(idle),
                ..Timing::default()
            };
            let otlp = match otlp {
                Some(address) => Some((address, cruddur_xray::otlp::LocalCredentials::from_env()?)),
                None => None,
            };
            listen::run(listen::Options {
                bind,
                otlp,
                out,
                forward,
                timing,
            })
            .await
        }
        Command::Map {
            source,
            format,
            filter,
        } => {
            let traces = selected(&source, filter.as_deref()).await?;
            let map = ServiceMap::compute(&traces);
            let title = format!("Cruddur service map: {}", source.source()?.describe());
            emit(&match format {
                Format::Text => map_render::text(&map),
                Format::Dot => map_render::dot(&map),
                Format::Html => map_render::html(&map, &title),
            });
            Ok(())
        }
        Command::Traces { source, filter } => {
            let traces = selected(&source, filter.as_deref()).await?;
            for trace in &traces {
                if !emit(&format!("{}\n", tree::summary_line(trace))) {
                    break;
                }
            }
            eprintln!("{}", map_render::plural(traces.len(), "trace"));
            Ok(())
        }
        Command::Trace { id, source } => {
            let source = source.source()?;
            let trace = source
                .load_trace(&id)
                .await?
                .ok_or_else(|| format!("trace {id} is not in {}", source.describe()))?;
            emit(&tree::render(&trace));
            Ok(())
        }
    }
}

/// Writes to stdout; false once nobody reads it any more (`cruddur-xray traces | head`), which
/// is not an error.
fn emit(text: &str) -> bool {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .is_ok()
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("cruddur-xray: {message}");
            ExitCode::FAILURE
        }
    }
}
