//! What the telemetry does, read once per cold start: [`Settings::from_env`] takes the standard
//! variables (OpenTelemetry's `OTEL_*`, Lambda's `AWS_*`, Rollbar's `ROLLBAR_*`), and the builder
//! methods take what only the application knows (whether it runs outside Lambda, which span
//! fields are worth indexing, what its error bodies look like).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::breaker::Backoff;
use crate::env::{self, Vars};

/// The X-Ray daemon's default address (Lambda sets `AWS_XRAY_DAEMON_ADDRESS` itself).
pub(crate) const DEFAULT_DAEMON_ADDRESS: &str = "127.0.0.1:2000";
/// Rollbar's item API.
pub(crate) const DEFAULT_ROLLBAR_ENDPOINT: &str = "https://api.rollbar.com/api/1/item/";

/// The telemetry's configuration. Start from [`Settings::from_env`], then add the application's
/// choices with the builder methods.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub(crate) service_name: String,
    service_name_given: bool,
    pub(crate) function_name: Option<String>,
    pub(crate) local: bool,
    pub(crate) rust_log: Option<String>,
    pub(crate) lambda_log_level: Option<String>,
    pub(crate) tracing_disabled: bool,
    pub(crate) xray_daemon_address: String,
    pub(crate) otlp_endpoint: Option<String>,
    pub(crate) otlp_sample_ratio: f64,
    pub(crate) otlp_timeout: Duration,
    /// Set when the OTLP traces endpoint is X-Ray's: exports are signed and sent there (or to
    /// `AWS_ENDPOINT_URL_XRAY`), and the daemon path is off.
    pub(crate) xray_otlp: Option<XrayOtlp>,
    pub(crate) flush_timeout: Duration,
    /// Invocations the runtime serves at once (`AWS_LAMBDA_MAX_CONCURRENCY`, Lambda Managed
    /// Instances); 1 on standard Lambda.
    pub(crate) max_concurrency: usize,
    pub(crate) queue_size: usize,
    /// The retry schedule of a failing backend (OTLP, Rollbar, late secrets).
    pub(crate) backoff: Backoff,
    pub(crate) metrics_namespace: Option<String>,
    /// (span field, X-Ray annotation key)
    pub(crate) annotations: Vec<(String, String)>,
    pub(crate) rollbar: RollbarSettings,
    pub(crate) error_bodies: ErrorBodies,
    pub(crate) secrets: Option<SecretsLater>,
    /// Flush what is queued when Lambda shuts the sandbox down (`run` and `run_events`).
    pub(crate) flush_on_shutdown: bool,
}

/// Where signed OTLP exports for X-Ray go, and as whom.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct XrayOtlp {
    /// The region the endpoint's host names; the signatures' region.
    pub(crate) region: String,
    /// Where requests go: the endpoint, or `AWS_ENDPOINT_URL_XRAY` (`AWS_ENDPOINT_URL`) with
    /// `/v1/traces`, as the AWS SDKs resolve a service's endpoint.
    pub(crate) url: String,
    /// The credentials Lambda puts in the environment; `None` when they are missing (export is
    /// then off, said once).
    pub(crate) credentials: Option<AwsCredentials>,
}

/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct AwsCredentials {
    pub(crate) access_key_id: String,
    pub(crate) secret_access_key: String,
    pub(crate) session_token: Option<String>,
}

impl std::fmt::Debug for XrayOtlp {
    /// Without the credentials (settings get logged in tests and bug reports).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XrayOtlp")
            .field("region", &self.region)
            .field("url", &self.url)
            .field(
                "access_key_id",
                &self.credentials.as_ref().map(|c| &c.access_key_id),
            )
            .finish()
    }
}

/// The region of an X-Ray OTLP endpoint: `https://xray.<region>.amazonaws.com/v1/traces` (or
/// `.amazonaws.com.cn`, or without the path, as `OTEL_EXPORTER_OTLP_ENDPOINT` names a base).
pub(crate) fn xray_endpoint_region(endpoint: &str) -> Option<String> {
    let rest = endpoint.strip_prefix("https://")?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let path = path.trim_end_matches('/');
    if !(path.is_empty() || path == "v1/traces") {
        return None;
    }
    let host = host.to_ascii_lowercase();
    let region = host
        .strip_prefix("xray.")?
        .strip_suffix(".amazonaws.com")
        .or_else(|| {
            host.strip_prefix("xray.")?
                .strip_suffix(".amazonaws.com.cn")
        })?;
    let valid = !region.is_empty()
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    valid.then(|| region.to_owned())
}

/// X-Ray's OTLP target, when `endpoint` is X-Ray's.
fn xray_otlp<F: Fn(&str) -> Option<String>>(vars: &Vars<F>, endpoint: &str) -> Option<XrayOtlp> {
    let region = xray_endpoint_region(endpoint)?;
    let url = match vars
        .text("AWS_ENDPOINT_URL_XRAY")
        .or_else(|| vars.text("AWS_ENDPOINT_URL"))
    {
        Some(base) => format!("{}/v1/traces", base.trim_end_matches('/')),
        None => format!("https://xray.{region}.amazonaws.com/v1/traces"),
    };
    let credentials = match (
        vars.text("AWS_ACCESS_KEY_ID"),
        vars.text("AWS_SECRET_ACCESS_KEY"),
    ) {
        (Some(access_key_id), Some(secret_access_key)) => Some(AwsCredentials {
            access_key_id,
            secret_access_key,
            session_token: vars.text("AWS_SESSION_TOKEN"),
        }),
        _ => None,
    };
    Some(XrayOtlp {
        region,
        url,
        credentials,
    })
}

/// Secrets that arrive after init, read from a parameter store or a secrets manager by the
/// application (see [`Settings::secrets_later`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LateSecrets {
    /// Rollbar's token: error reports start when it arrives.
    pub rollbar_token: Option<String>,
    /// Headers of the OTLP exports (e.g. `x-honeycomb-team`): OTLP export starts when they
    /// arrive.
    pub otlp_headers: Vec<(String, String)>,
}

/// One read of the late secrets: the secrets, or why they could not be read.
pub(crate) type SecretsFuture = Pin<Box<dyn Future<Output = Result<LateSecrets, String>> + Send>>;

/// How to read the late secrets, as often as it takes (see [`Settings::secrets_later`]).
#[derive(Clone)]
pub(crate) struct SecretsLater(Arc<dyn Fn() -> SecretsFuture + Send + Sync>);

impl SecretsLater {
    /// A new read.
    pub(crate) fn read(&self) -> SecretsFuture {
        (self.0)()
    }
}

impl std::fmt::Debug for SecretsLater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretsLater")
    }
}

impl PartialEq for SecretsLater {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// Rollbar's part of the settings.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RollbarSettings {
    pub(crate) token: Option<String>,
    pub(crate) endpoint: String,
    /// `ROLLBAR_ENVIRONMENT`; else what the application names; else `production`.
    pub(crate) environment: Option<String>,
    environment_from_env: bool,
    pub(crate) timeout: Duration,
    pub(crate) max_items_per_invocation: usize,
    /// Items held while Rollbar does not answer; more are dropped (counted).
    pub(crate) queue_size: usize,
}

#[cfg_attr(not(feature = "rollbar"), allow(dead_code))]
impl RollbarSettings {
    pub(crate) fn environment(&self) -> &str {
        self.environment.as_deref().unwrap_or("production")
    }
}

/// The bodies of the answers the telemetry makes itself, as JSON text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ErrorBodies {
    /// 400: an event that cannot be read as an HTTP request.
    pub(crate) bad_request: String,
    /// 500: the handler panicked.
    pub(crate) internal_error: String,
}

impl Default for ErrorBodies {
    fn default() -> Self {
        Self {
            bad_request: r#"{"message":"Bad Request"}"#.to_owned(),
            internal_error: r#"{"message":"Internal Server Error"}"#.to_owned(),
        }
    }
}

/// Span fields X-Ray always indexes (the invocation's own), by annotation key.
const BUILT_IN_ANNOTATIONS: [(&str, &str); 3] = [
    ("cold_start", "ColdStart"),
    ("service", "service"),
    ("function", "function"),
];

impl Settings {
    /// The settings the environment gives:
    ///
    /// | variable | default | |
    /// |---|---|---|
    /// | `OTEL_SERVICE_NAME` | `unknown_service` | `service.name`, and `service` in logs and metrics |
    /// | `OTEL_SDK_DISABLED` | `false` | `true`: no traces (logs and metrics stay) |
    /// | `AWS_XRAY_DAEMON_ADDRESS` | `127.0.0.1:2000` | `host:port` or Lambda's `tcp:.. udp:..` |
    /// | `OTEL_EXPORTER_OTLP_ENDPOINT`, `..._TRACES_ENDPOINT` | – | OTLP/HTTP export on when set |
    /// | `AWS_ENDPOINT_URL_XRAY`, `AWS_ENDPOINT_URL` | – | where X-Ray's OTLP exports go instead |
    /// | `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG` | `always_on` | OTLP sampling |
    /// | `OTEL_EXPORTER_OTLP_TIMEOUT`, `..._TRACES_TIMEOUT` | `10000` | ms one OTLP request may take |
    /// | `OTEL_BSP_EXPORT_TIMEOUT` | `1000` | ms the runtime waits for the export after a response |
    /// | `OTEL_BSP_MAX_QUEUE_SIZE` | `2048` | spans held per exporter between flushes |
    /// | `METRICS_NAMESPACE` | the service name | CloudWatch namespace of EMF metrics |
    /// | `RUST_LOG`, `AWS_LAMBDA_LOG_LEVEL` | `info` | log filter |
    /// | `ROLLBAR_ACCESS_TOKEN`, `ROLLBAR_ENDPOINT`, `ROLLBAR_ENVIRONMENT` | off | error reports |
    /// | `ROLLBAR_TIMEOUT_MS`, `ROLLBAR_MAX_ITEMS_PER_INVOCATION` | `2000`, `5` | |
    /// | `ROLLBAR_QUEUE_SIZE` | `100` | reports held while Rollbar does not answer |
    /// | `LAMBDA_TELEMETRY_RETRY_BASE_MS`, `..._RETRY_MAX_MS` | `1000`, `60000` | a failing backend's backoff |
    /// | `LAMBDA_TELEMETRY_PROBE_MS` | `50` | ms a flush waits for a probe of a failing backend |
    /// | `LAMBDA_TELEMETRY_SHUTDOWN_FLUSH` | `true` | flush at shutdown (an internal extension) |
    pub fn from_env() -> Self {
        Self::from_vars(&env::process())
    }

    /// [`Settings::from_env`] over any variable source (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        Self::from_vars(&Vars(get))
    }

    fn from_vars<F: Fn(&str) -> Option<String>>(vars: &Vars<F>) -> Self {
        let given_name = vars.text("OTEL_SERVICE_NAME");
        let otlp_endpoint = vars
            .text("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .or_else(|| vars.text("OTEL_EXPORTER_OTLP_ENDPOINT"));
        let environment = vars.text("ROLLBAR_ENVIRONMENT");
        Self {
            service_name_given: given_name.is_some(),
            service_name: given_name.unwrap_or_else(|| "unknown_service".to_owned()),
            function_name: vars.text("AWS_LAMBDA_FUNCTION_NAME"),
            local: false,
            rust_log: vars.text("RUST_LOG"),
            lambda_log_level: vars.text("AWS_LAMBDA_LOG_LEVEL"),
            tracing_disabled: vars.flag("OTEL_SDK_DISABLED", false),
            xray_daemon_address: vars
                .text("AWS_XRAY_DAEMON_ADDRESS")
                .unwrap_or_else(|| DEFAULT_DAEMON_ADDRESS.to_owned()),
            xray_otlp: otlp_endpoint
                .as_deref()
                .and_then(|endpoint| xray_otlp(vars, endpoint)),
            otlp_endpoint,
            otlp_sample_ratio: sample_ratio(
                vars.text("OTEL_TRACES_SAMPLER").as_deref(),
                vars.text("OTEL_TRACES_SAMPLER_ARG").as_deref(),
            ),
            otlp_timeout: Duration::from_millis(vars.parsed(
                "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
                vars.parsed("OTEL_EXPORTER_OTLP_TIMEOUT", 10_000),
            )),
            flush_timeout: Duration::from_millis(vars.parsed("OTEL_BSP_EXPORT_TIMEOUT", 1000)),
            max_concurrency: vars.parsed("AWS_LAMBDA_MAX_CONCURRENCY", 1usize).max(1),
            queue_size: vars
                .parsed("OTEL_BSP_MAX_QUEUE_SIZE", 2048usize)
                .clamp(1, 1 << 20),
            backoff: Backoff {
                base: Duration::from_millis(
                    vars.parsed("LAMBDA_TELEMETRY_RETRY_BASE_MS", 1000u64)
                        .max(1),
                ),
                max: Duration::from_millis(
                    vars.parsed("LAMBDA_TELEMETRY_RETRY_MAX_MS", 60_000u64)
                        .max(1),
                ),
                probe: Duration::from_millis(vars.parsed("LAMBDA_TELEMETRY_PROBE_MS", 50)),
            },
            metrics_namespace: vars.text("METRICS_NAMESPACE"),
            annotations: BUILT_IN_ANNOTATIONS
                .iter()
                .map(|(field, key)| ((*field).to_owned(), (*key).to_owned()))
                .collect(),
            rollbar: RollbarSettings {
                token: vars.text("ROLLBAR_ACCESS_TOKEN"),
                endpoint: vars
                    .text("ROLLBAR_ENDPOINT")
                    .unwrap_or_else(|| DEFAULT_ROLLBAR_ENDPOINT.to_owned()),
                environment_from_env: environment.is_some(),
                environment,
                timeout: Duration::from_millis(vars.parsed("ROLLBAR_TIMEOUT_MS", 2000)),
                max_items_per_invocation: vars.parsed("ROLLBAR_MAX_ITEMS_PER_INVOCATION", 5),
                queue_size: vars.parsed("ROLLBAR_QUEUE_SIZE", 100usize).clamp(1, 10_000),
            },
            error_bodies: ErrorBodies::default(),
            secrets: None,
            flush_on_shutdown: vars.flag("LAMBDA_TELEMETRY_SHUTDOWN_FLUSH", true),
        }
    }

    /// The service's name when `OTEL_SERVICE_NAME` does not give one.
    pub fn default_service_name(mut self, name: impl Into<String>) -> Self {
        if !self.service_name_given {
            self.service_name = name.into();
        }
        self
    }

    /// Running outside Lambda (e.g. under `cargo lambda watch`): there is no Lambda facade
    /// segment to hang the invocation under, so it is a full X-Ray segment of its own, continuing
    /// the trace its HTTP event's `X-Amzn-Trace-Id` names (a local API Gateway), if any.
    pub fn local(mut self, local: bool) -> Self {
        self.local = local;
        self
    }

    /// Makes a span field an X-Ray annotation (indexed, filterable) under `key`, e.g.
    /// `.annotation("user_id", "user_id")`. Keys are cut to X-Ray's `[A-Za-z0-9_]`, 50 at most.
    pub fn annotation(mut self, field: impl Into<String>, key: &str) -> Self {
        let mut key = annotation_key(key);
        key.truncate(50);
        self.annotations.push((field.into(), key));
        self
    }

    /// The Rollbar environment of the reports, unless `ROLLBAR_ENVIRONMENT` names one (e.g. the
    /// application's stage).
    pub fn rollbar_environment(mut self, environment: impl Into<String>) -> Self {
        if !self.rollbar.environment_from_env {
            self.rollbar.environment = Some(environment.into());
        }
        self
    }

    /// The JSON bodies of the answers the telemetry gives itself: `bad_request` for an event that
    /// is no readable HTTP request (400), `internal_error` for a handler that panicked (500).
    pub fn error_bodies(
        mut self,
        bad_request: impl Into<String>,
        internal_error: impl Into<String>,
    ) -> Self {
        self.error_bodies = ErrorBodies {
            bad_request: bad_request.into(),
            internal_error: internal_error.into(),
        };
        self
    }

    /// Secrets the application reads after init, off the cold start and off every response path
    /// (Rollbar's token, the OTLP headers): `read` runs in the background from the first
    /// [`Telemetry::flush`](crate::Telemetry::flush), after the first response. Until it
    /// succeeds, error reports and OTLP export are off (said once in the log); a read that fails
    /// (`Err` with the reason, or no answer within 5 s) is tried again with the failing
    /// backends' backoff (`LAMBDA_TELEMETRY_RETRY_*`). A value the environment already gives is
    /// kept.
    ///
    /// ```
    /// use lambda_telemetry::{LateSecrets, Settings};
    ///
    /// let settings = Settings::from_env().secrets_later(|| async {
    ///     // e.g. an SSM GetParameter with decryption
    ///     let token: Result<String, String> = Ok("token".to_owned());
    ///     Ok(LateSecrets { rollbar_token: Some(token?), ..LateSecrets::default() })
    /// });
    /// ```
    pub fn secrets_later<F, Fut>(mut self, read: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<LateSecrets, String>> + Send + 'static,
    {
        self.secrets = Some(SecretsLater(Arc::new(move || -> SecretsFuture {
            Box::pin(read())
        })));
        self
    }

    /// The CloudWatch namespace of EMF metrics.
    #[cfg_attr(not(feature = "emf"), allow(dead_code))]
    pub(crate) fn metrics_namespace(&self) -> &str {
        self.metrics_namespace
            .as_deref()
            .unwrap_or(&self.service_name)
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self::from_lookup(|_| None)
    }
}

/// The span attribute that lists which of the span's attributes X-Ray indexes as annotations
/// (AWS's convention for spans sent over OTLP).
#[cfg_attr(not(any(feature = "xray", feature = "otlp")), allow(dead_code))]
pub(crate) const XRAY_ANNOTATIONS_ATTRIBUTE: &str = "aws.xray.annotations";

/// An annotation key X-Ray accepts: other characters than `[A-Za-z0-9_]` become `_`.
pub(crate) fn annotation_key(key: &str) -> String {
    key.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// The OTLP sampling ratio. The `parentbased_*` samplers are read as their root sampler: the
/// parent of an invocation is Lambda's X-Ray decision, which must not starve the OTLP backend.
fn sample_ratio(sampler: Option<&str>, arg: Option<&str>) -> f64 {
    let ratio = || {
        arg.and_then(|a| a.parse::<f64>().ok())
            .filter(|r| r.is_finite())
            .unwrap_or(1.0)
            .clamp(0.0, 1.0)
    };
    match sampler.map(str::to_ascii_lowercase).as_deref() {
        Some("always_off" | "parentbased_always_off") => 0.0,
        Some("traceidratio" | "parentbased_traceidratio") => ratio(),
        _ => 1.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Settings {
        let map: HashMap<_, _> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn xray_otlp_endpoints_are_recognised_in_any_region() {
        for (endpoint, region) in [
            (
                "https://xray.us-east-1.amazonaws.com/v1/traces",
                Some("us-east-1"),
            ),
            (
                "https://xray.ap-southeast-4.amazonaws.com",
                Some("ap-southeast-4"),
            ),
            (
                "https://XRAY.eu-west-1.amazonaws.com/v1/traces/",
                Some("eu-west-1"),
            ),
            (
                "https://xray.cn-north-1.amazonaws.com.cn/v1/traces",
                Some("cn-north-1"),
            ),
            ("http://xray.us-east-1.amazonaws.com/v1/traces", None),
            ("https://api.honeycomb.io", None),
            ("https://xray.us-east-1.amazonaws.com/v1/logs", None),
            ("https://xray..amazonaws.com/v1/traces", None),
            (
                "https://xray.us-east-1.amazonaws.com.evil.example/v1/traces",
                None,
            ),
        ] {
            assert_eq!(
                xray_endpoint_region(endpoint).as_deref(),
                region,
                "{endpoint}"
            );
        }
    }

    #[test]
    fn xray_otlp_goes_to_the_endpoint_or_the_aws_endpoint_override() {
        let xray = [(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "https://xray.eu-west-1.amazonaws.com/v1/traces",
        )];
        let target = settings(&xray).xray_otlp.expect("X-Ray's endpoint");
        assert_eq!(target.region, "eu-west-1");
        assert_eq!(target.url, "https://xray.eu-west-1.amazonaws.com/v1/traces");
        assert!(target.credentials.is_none());

        let general = [xray[0], ("AWS_ENDPOINT_URL", "http://127.0.0.1:4318/")];
        assert_eq!(
            settings(&general).xray_otlp.unwrap().url,
            "http://127.0.0.1:4318/v1/traces"
        );
        let both = [
            general[0],
            general[1],
            ("AWS_ENDPOINT_URL_XRAY", "http://localhost:2001"),
            ("AWS_ACCESS_KEY_ID", "AKID"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
        ];
        let target = settings(&both).xray_otlp.unwrap();
        assert_eq!(
            target.url, "http://localhost:2001/v1/traces",
            "the service's own wins"
        );
        let credentials = target.credentials.as_ref().expect("credentials");
        assert_eq!(credentials.access_key_id, "AKID");
        assert_eq!(credentials.session_token, None);
        assert!(!format!("{target:?}").contains("secret"), "never printed");

        let honeycomb = [("OTEL_EXPORTER_OTLP_ENDPOINT", "https://api.honeycomb.io")];
        assert!(settings(&honeycomb).xray_otlp.is_none());
    }

    #[test]
    fn defaults() {
        let s = settings(&[]);
        assert_eq!(s.service_name, "unknown_service");
        assert_eq!(s.xray_daemon_address, "127.0.0.1:2000");
        assert_eq!(s.otlp_endpoint, None);
        assert_eq!(s.otlp_sample_ratio, 1.0);
        assert_eq!(s.flush_timeout, Duration::from_secs(1));
        assert_eq!(s.otlp_timeout, Duration::from_secs(10));
        assert_eq!(s.queue_size, 2048);
        assert_eq!(s.metrics_namespace(), "unknown_service");
        assert!(!s.tracing_disabled && !s.local);
        assert_eq!(s.rollbar.environment(), "production");
        assert_eq!(s.rollbar.endpoint, DEFAULT_ROLLBAR_ENDPOINT);
        assert_eq!(s.rollbar.timeout, Duration::from_secs(2));
        assert_eq!(s.rollbar.max_items_per_invocation, 5);
    }

    #[test]
    fn the_application_fills_in_what_the_environment_leaves_open() {
        let s = settings(&[
            ("OTEL_BSP_EXPORT_TIMEOUT", "250"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "9"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "3000"),
        ])
        .default_service_name("orders")
        .rollbar_environment("beta")
        .local(true)
        .annotation("app.handle", "handle");
        assert_eq!(s.service_name, "orders");
        assert_eq!(s.metrics_namespace(), "orders");
        assert_eq!(s.rollbar.environment(), "beta");
        assert!(s.local);
        assert_eq!(s.flush_timeout, Duration::from_millis(250));
        assert_eq!(s.otlp_timeout, Duration::from_secs(3));
        assert_eq!(s.queue_size, 9);
        assert!(s
            .annotations
            .contains(&("app.handle".to_owned(), "handle".to_owned())));
        let given = settings(&[("OTEL_SERVICE_NAME", "mine"), ("ROLLBAR_ENVIRONMENT", "qa")])
            .default_service_name("orders")
            .rollbar_environment("beta")
            .annotation("weird-key!", "weird-key!");
        assert_eq!(given.service_name, "mine");
        assert_eq!(given.rollbar.environment(), "qa");
        assert_eq!(given.annotations.last().unwrap().1, "weird_key_");
    }

    #[test]
    fn sampler_settings() {
        assert_eq!(
            settings(&[("OTEL_TRACES_SAMPLER", "always_off")]).otlp_sample_ratio,
            0.0
        );
        let s = settings(&[
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
        ]);
        assert_eq!(s.otlp_sample_ratio, 0.25);
        let s = settings(&[
            ("OTEL_TRACES_SAMPLER", "traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "7"),
        ]);
        assert_eq!(s.otlp_sample_ratio, 1.0);
        let s = settings(&[
            ("OTEL_TRACES_SAMPLER", "traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "nan"),
        ]);
        assert_eq!(s.otlp_sample_ratio, 1.0);
    }

    #[test]
    fn traces_endpoint_wins() {
        let s = settings(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://api.honeycomb.io"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://127.0.0.1:4318/v1/traces",
            ),
            ("OTEL_SDK_DISABLED", "TRUE"),
        ]);
        assert_eq!(
            s.otlp_endpoint.as_deref(),
            Some("http://127.0.0.1:4318/v1/traces")
        );
        assert!(s.tracing_disabled);
    }
}
