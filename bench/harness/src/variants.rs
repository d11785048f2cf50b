//! What is measured: the same two endpoints with telemetry on and off on the embedded SQLite
//! store, the same two as deployed (DynamoDB over TLS, credentials in the environment, secrets
//! from SSM), a bare lambda_http hello, and the original Python stack, all on the same events.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::measure::{run_once, Launch};

pub fn root() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

/// Where `cargo lambda build --release` leaves a function's `bootstrap`; with `gathered`, the
/// opt-in build with the gathered-code link (scripts/bench makes it in `target/gathered`).
fn bootstrap(binary: &str, gathered: bool) -> Result<PathBuf, String> {
    let target = if gathered {
        target_dir().join("gathered")
    } else {
        target_dir()
    };
    let path = target.join("lambda").join(binary).join("bootstrap");
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "{} is missing: run scripts/bench (it builds the release bootstraps with cargo lambda build --release)",
            path.display()
        ))
    }
}

fn event(name: &str) -> Result<Value, String> {
    let path = root().join("events").join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Where the telemetry goes.
pub struct Sinks {
    pub xray: String,
    pub otlp: String,
    pub rollbar: String,
    /// An OTLP endpoint that accepts connections and never answers.
    pub otlp_hung: String,
    /// An OTLP endpoint where nothing listens (connections refused).
    pub otlp_refusing: String,
}

/// The deployed configuration's services: DynamoDB Local behind a TLS terminator, and moto's
/// SSM holding the secrets.
pub struct Deployed {
    /// `https://localhost:<port>`.
    pub dynamodb: String,
    /// The terminator's certificate, for `SSL_CERT_FILE`.
    pub certificate: PathBuf,
    /// moto's endpoint (plain HTTP; SSM in AWS is HTTPS like DynamoDB).
    pub ssm: String,
}

/// The SSM parameters the deployed variants read their secrets from.
pub const ROLLBAR_PARAMETER: &str = "/cruddur/bench/rollbar-access-token";
pub const HONEYCOMB_PARAMETER: &str = "/cruddur/bench/honeycomb-api-key";
/// The access key of the deployed variants' (temporary) credentials. DynamoDB Local keeps a
/// set of tables per access key and region, so their table is created under it too.
pub const ACCESS_KEY_ID: &str = "ASIABENCHBENCHBENCH";
/// The table the deployed variants use.
pub const TABLE: &str = "cruddur-bench";

impl Deployed {
    /// The environment as Lambda and the stack give it: the table, DynamoDB's endpoint (only
    /// because it is local) and the certificate to trust, the role's credentials, the secrets'
    /// parameter names; seeding off as deployed.
    fn env(&self, sinks: &Sinks) -> Vec<(String, String)> {
        env(&[
            ("AWS_XRAY_DAEMON_ADDRESS", &sinks.xray),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &sinks.otlp),
            (
                "ROLLBAR_ENDPOINT",
                &format!("{}/api/1/item/", sinks.rollbar),
            ),
            ("ROLLBAR_ACCESS_TOKEN_PARAMETER", ROLLBAR_PARAMETER),
            ("HONEYCOMB_API_KEY_PARAMETER", HONEYCOMB_PARAMETER),
            ("CRUDDUR_STAGE", "bench"),
            ("CRUDDUR_TABLE_NAME", TABLE),
            ("CRUDDUR_SEED_DEMO_DATA", "false"),
            ("AWS_ENDPOINT_URL_DYNAMODB", &self.dynamodb),
            ("AWS_ENDPOINT_URL_SSM", &self.ssm),
            (
                "SSL_CERT_FILE",
                self.certificate.to_str().unwrap_or_default(),
            ),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID),
            ("AWS_SECRET_ACCESS_KEY", "bench-secret"),
            ("AWS_SESSION_TOKEN", "bench-session-token"),
        ])
    }
}

impl Sinks {
    /// Full telemetry into these sinks, for either stack. Only Rollbar's endpoint differs: the
    /// Python notifier takes the API's base, ours the item URL.
    fn traced_env(&self, rollbar_endpoint: &str) -> Vec<(String, String)> {
        env(&[
            ("AWS_XRAY_DAEMON_ADDRESS", &self.xray),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &self.otlp),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-honeycomb-team=bench"),
            ("ROLLBAR_ACCESS_TOKEN", "bench"),
            ("ROLLBAR_ENDPOINT", rollbar_endpoint),
            ("CRUDDUR_STAGE", "bench"),
        ])
    }
}

pub struct Variant {
    pub name: String,
    /// AWS_LAMBDA_FUNCTION_NAME.
    pub function: &'static str,
    pub launch: Launch,
    pub binary_bytes: Option<u64>,
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn rust(
    name: String,
    function: &'static str,
    binary: &str,
    environment: Vec<(String, String)>,
) -> Result<Variant, String> {
    rust_build(name, function, binary, false, environment)
}

fn rust_build(
    name: String,
    function: &'static str,
    binary: &str,
    gathered: bool,
    environment: Vec<(String, String)>,
) -> Result<Variant, String> {
    let program = bootstrap(binary, gathered)?;
    let binary_bytes = std::fs::metadata(&program).ok().map(|m| m.len());
    Ok(Variant {
        name,
        function,
        launch: Launch {
            program,
            args: Vec::new(),
            dir: None,
            env: environment,
            event: event(function)?,
        },
        binary_bytes,
    })
}

fn python(
    name: String,
    function: &'static str,
    interpreter: &Path,
    sinks: &Sinks,
    flush: bool,
) -> Result<Variant, String> {
    let dir = root().join("bench/python");
    let mut environment = sinks.traced_env(&format!("{}/api/1/", sinks.rollbar));
    environment.extend(env(&[
        ("LAMBDA_TASK_ROOT", dir.to_str().unwrap_or_default()),
        ("BENCH_OTEL_FLUSH", if flush { "1" } else { "0" }),
    ]));
    Ok(Variant {
        name,
        function,
        launch: Launch {
            program: interpreter.to_path_buf(),
            args: vec!["-m".into(), "awslambdaric".into(), "handler.handler".into()],
            dir: Some(dir),
            env: environment,
            event: event(function)?,
        },
        binary_bytes: None,
    })
}

/// Every variant, in the order each round runs them.
pub fn all(sinks: &Sinks, deployed: &Deployed, with_python: bool) -> Result<Vec<Variant>, String> {
    let traced = sinks.traced_env(&format!("{}/api/1/item/", sinks.rollbar));
    let untraced = env(&[("OTEL_SDK_DISABLED", "true"), ("CRUDDUR_STAGE", "bench")]);
    let interpreter = if with_python {
        Some(python_venv()?)
    } else {
        None
    };
    let mut variants = vec![rust(
        HELLO.into(),
        "home-activities",
        "bench-hello",
        Vec::new(),
    )?];
    for function in ["home-activities", "create-activity"] {
        variants.push(rust(
            format!("{function}, telemetry on"),
            function,
            function,
            traced.clone(),
        )?);
        if function == "home-activities" {
            for (backend, endpoint) in [
                (OTLP_HUNG, &sinks.otlp_hung),
                (OTLP_REFUSING, &sinks.otlp_refusing),
            ] {
                let mut failing = traced.clone();
                for (name, value) in &mut failing {
                    if name == "OTEL_EXPORTER_OTLP_ENDPOINT" {
                        value.clone_from(endpoint);
                    }
                }
                variants.push(rust(
                    format!("{function}, telemetry on, {backend}"),
                    function,
                    function,
                    failing,
                )?);
            }
        }
        variants.push(rust(
            format!("{function}, telemetry off"),
            function,
            function,
            untraced.clone(),
        )?);
        variants.push(rust(
            format!("{function}, {DEPLOYED}"),
            function,
            function,
            deployed.env(sinks),
        )?);
        if function == "home-activities" {
            // The same two, built with the opt-in gathered-code link, beside the default build.
            for (name, environment) in [
                ("telemetry on", traced.clone()),
                (DEPLOYED, deployed.env(sinks)),
            ] {
                variants.push(rust_build(
                    format!("{function}, {name}, {GATHERED}"),
                    function,
                    function,
                    true,
                    environment,
                )?);
            }
        }
        if let Some(interpreter) = &interpreter {
            variants.push(python(
                format!("{function}, Python stack"),
                function,
                interpreter,
                sinks,
                true,
            )?);
        }
    }
    if let Some(interpreter) = &interpreter {
        variants.push(python(
            "home-activities, Python stack, spans exported in the background".into(),
            "home-activities",
            interpreter,
            sinks,
            false,
        )?);
    }
    Ok(variants)
}

/// The invocations in flight at once of the concurrent (Lambda Managed Instances) runs.
pub const IN_FLIGHT: [usize; 3] = [1, 4, 16];

/// The variant the concurrent runs use: home-activities as deployed (DynamoDB over TLS,
/// telemetry on).
pub fn concurrent(sinks: &Sinks, deployed: &Deployed) -> Result<Variant, String> {
    rust(
        format!("home-activities, {DEPLOYED}"),
        "home-activities",
        "home-activities",
        deployed.env(sinks),
    )
}

/// The failing-backend variants, after the traced function's name.
pub const OTLP_HUNG: &str = "OTLP endpoint hung";
pub const OTLP_REFUSING: &str = "OTLP endpoint refusing";

/// The rows of the opt-in build with the gathered-code link, after the default build's name.
pub const GATHERED: &str = "gathered-code link";

/// The bare floor's row.
pub const HELLO: &str = "hello (bare lambda_http)";
/// What the deployed rows are called after their function.
pub const DEPLOYED: &str = "DynamoDB over TLS, telemetry on";

/// Creates the data every run starts from: the demo data, seeded by the Rust store, in the
/// SQLite file and in DynamoDB's [`TABLE`] (which the harness creates first, as the stack would).
pub async fn seed(database: &Path, work: &Path, deployed: &Deployed) -> Result<(), String> {
    let untraced = [("OTEL_SDK_DISABLED", "true"), ("CRUDDUR_STAGE", "bench")];
    let mut dynamodb = env(&untraced);
    dynamodb.extend(
        deployed
            .env(&Sinks {
                xray: String::new(),
                otlp: String::new(),
                rollbar: String::new(),
                otlp_hung: String::new(),
                otlp_refusing: String::new(),
            })
            .into_iter()
            .filter(|(k, _)| {
                k.starts_with("AWS_") && !k.starts_with("AWS_XRAY") || k == "SSL_CERT_FILE"
            }),
    );
    dynamodb.extend(env(&[
        ("CRUDDUR_TABLE_NAME", TABLE),
        ("CRUDDUR_SEED_DEMO_DATA", "true"),
    ]));
    for (name, environment) in [("seed", env(&untraced)), ("seed-dynamodb", dynamodb)] {
        let seeder = rust(
            name.into(),
            "home-activities",
            "home-activities",
            environment,
        )?;
        run_once(
            "home-activities",
            &seeder.launch,
            2,
            Duration::ZERO,
            database,
            &work.join(format!("{name}.log")),
        )
        .await?;
    }
    Ok(())
}

/// The Python baseline's interpreter, in a virtual environment the harness makes (`.venv-bench/`)
/// from `bench/python/requirements.txt`.
fn python_venv() -> Result<PathBuf, String> {
    let venv = root().join(".venv-bench");
    let python = venv.join("bin/python");
    let requirements = root().join("bench/python/requirements.txt");
    let stamp = venv.join(".requirements");
    let wanted = std::fs::read_to_string(&requirements).map_err(|e| e.to_string())?;
    if python.exists() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
        return Ok(python);
    }
    eprintln!(
        "cruddur-bench: installing the Python stack into {}",
        venv.display()
    );
    let run = |program: &Path, args: &[&str]| -> Result<(), String> {
        let status = Command::new(program)
            .args(args)
            .status()
            .map_err(|e| format!("{}: {e}", program.display()))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("{} {} failed", program.display(), args.join(" ")))
        }
    };
    if !python.exists() {
        run(
            Path::new("python3"),
            &["-m", "venv", venv.to_str().unwrap_or_default()],
        )?;
    }
    run(
        &python,
        &[
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
            requirements.to_str().unwrap_or_default(),
        ],
    )?;
    std::fs::write(&stamp, wanted).map_err(|e| e.to_string())?;
    Ok(python)
}
