//! `cruddur-gateway`: serves the REST API of a SAM template locally. See the crate docs and the
//! README's "Run the Cruddur frontend against it".

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use cruddur_gateway::cognito::{CognitoAuthorizer, PoolSettings};
use cruddur_gateway::invoke::Invoker;
use cruddur_gateway::template::ApiSpec;
use cruddur_gateway::xray::DaemonSender;
use cruddur_gateway::{server, Gateway};

#[derive(Parser, Debug)]
#[command(about = "A local API Gateway read from a SAM template, in front of `cargo lambda watch`")]
struct Args {
    /// The SAM template whose REST API to serve.
    #[arg(long, default_value = "template.yaml")]
    template: PathBuf,
    /// The port to listen on.
    #[arg(long, default_value_t = 4567, env = "CRUDDUR_API_PORT")]
    port: u16,
    /// The address to listen on (`0.0.0.0` to be reachable from other machines).
    #[arg(long, default_value = "127.0.0.1", env = "CRUDDUR_API_HOST")]
    host: std::net::IpAddr,
    /// The Lambda Invoke API to call (`cargo lambda watch` serves it); without it, AWS itself.
    #[arg(
        long,
        default_value = "http://127.0.0.1:9000",
        env = "CRUDDUR_LAMBDA_ENDPOINT"
    )]
    lambda_endpoint: String,
    /// A template parameter's value, e.g. `--param FrontendUrl=http://localhost:3000` (repeatable).
    #[arg(long = "param", value_parser = parse_param)]
    params: Vec<(String, String)>,
}

fn parse_param(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("{text:?}: expected Name=Value"))
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("cruddur-gateway: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let text = std::fs::read_to_string(&args.template)
        .map_err(|e| format!("cannot read {}: {e}", args.template.display()))?;
    let api = ApiSpec::parse(&text, &args.params).map_err(|e| e.to_string())?;
    let authorizer = PoolSettings::from_lookup(|name| std::env::var(name).ok());
    let daemon =
        std::env::var("AWS_XRAY_DAEMON_ADDRESS").unwrap_or_else(|_| "127.0.0.1:2000".into());
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into());
    let bind = SocketAddr::new(args.host, args.port);
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|e| format!("cannot listen on {bind}: {e}"))?;
    eprintln!(
        "cruddur-gateway: {} ({} routes) on http://{} -> {}; Cognito authorizer: {}",
        api.name,
        api.routes.len(),
        bind,
        args.lambda_endpoint,
        match &authorizer {
            Some(pool) => format!("user pool {} (keys from {})", pool.pool_id, pool.jwks_url),
            None => "off (no AWS_COGNITO_USER_POOL_ID / AWS_COGNITO_USER_POOL_CLIENT_ID): authorized routes get no claims".into(),
        }
    );
    let gateway = Gateway {
        api,
        invoker: Invoker::new(Some(&args.lambda_endpoint)).await,
        authorizer: authorizer.map(CognitoAuthorizer::new),
        daemon: DaemonSender::new(&daemon),
        region,
    };
    tokio::select! {
        () = server::serve(listener, Arc::new(gateway)) => Ok(()),
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}
