//! The telemetry's configuration, read once per cold start from standard variables.

use std::time::Duration;

use crate::rollbar::RollbarSettings;

/// The X-Ray daemon's default address (Lambda sets `AWS_XRAY_DAEMON_ADDRESS` itself).
pub const DEFAULT_DAEMON_ADDRESS: &str = "127.0.0.1:2000";

/// Settings from the environment (see the README's configuration table).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// `OTEL_SERVICE_NAME`, default `cruddur`.
    pub service_name: String,
    /// `AWS_LAMBDA_FUNCTION_NAME`, set by Lambda (and `cargo lambda watch`).
    pub function_name: Option<String>,
    /// `CRUDDUR_STAGE`: with `local`, each invocation is a full X-Ray segment (there is no Lambda
    /// facade segment to hang a subsegment from).
    pub stage: Option<String>,
    /// `RUST_LOG`: full tracing filter directives; wins over `AWS_LAMBDA_LOG_LEVEL`.
    pub rust_log: Option<String>,
    /// `AWS_LAMBDA_LOG_LEVEL`: set by Lambda from the function's `LoggingConfig`.
    pub lambda_log_level: Option<String>,
    /// `OTEL_SDK_DISABLED=true`: no traces exported (logs and metrics stay).
    pub tracing_disabled: bool,
    /// `AWS_XRAY_DAEMON_ADDRESS`: `host:port`, or the `tcp:host:port udp:host:port` form.
    pub xray_daemon_address: String,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`): OTLP is on when set.
    pub otlp_endpoint: Option<String>,
    /// Fraction of traces sent over OTLP, from `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG`.
    pub otlp_sample_ratio: f64,
    /// `CRUDDUR_TELEMETRY_FLUSH_TIMEOUT_MS` (default 1000): how long, after the response is posted,
    /// the runtime waits for the export before asking for the next invocation.
    pub flush_timeout: Duration,
    /// `CRUDDUR_TELEMETRY_QUEUE_SIZE` (default 2048): spans held per exporter between flushes.
    pub queue_size: usize,
    /// `METRICS_NAMESPACE` (default: the service name): the CloudWatch namespace of EMF metrics.
    pub metrics_namespace: String,
    /// Rollbar error reports (`ROLLBAR_*`).
    pub rollbar: RollbarSettings,
}

impl Settings {
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let non_empty = |name: &str| {
            get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let service_name = non_empty("OTEL_SERVICE_NAME").unwrap_or_else(|| "cruddur".to_owned());
        let number = |name: &str, default: u64| {
            non_empty(name)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(default)
        };
        Self {
            function_name: non_empty("AWS_LAMBDA_FUNCTION_NAME"),
            stage: non_empty("CRUDDUR_STAGE"),
            rust_log: non_empty("RUST_LOG"),
            lambda_log_level: non_empty("AWS_LAMBDA_LOG_LEVEL"),
            tracing_disabled: non_empty("OTEL_SDK_DISABLED")
                .is_some_and(|v| v.eq_ignore_ascii_case("true")),
            xray_daemon_address: non_empty("AWS_XRAY_DAEMON_ADDRESS")
                .unwrap_or_else(|| DEFAULT_DAEMON_ADDRESS.to_owned()),
            otlp_endpoint: non_empty("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
                .or_else(|| non_empty("OTEL_EXPORTER_OTLP_ENDPOINT")),
            otlp_sample_ratio: sample_ratio(
                non_empty("OTEL_TRACES_SAMPLER").as_deref(),
                non_empty("OTEL_TRACES_SAMPLER_ARG").as_deref(),
            ),
            flush_timeout: Duration::from_millis(number(
                "CRUDDUR_TELEMETRY_FLUSH_TIMEOUT_MS",
                1000,
            )),
            queue_size: number("CRUDDUR_TELEMETRY_QUEUE_SIZE", 2048).clamp(1, 1 << 20) as usize,
            metrics_namespace: non_empty("METRICS_NAMESPACE")
                .unwrap_or_else(|| service_name.clone()),
            rollbar: RollbarSettings::from_lookup(&get),
            service_name,
        }
    }

    /// Local development: no Lambda facade segment exists to parent on.
    pub fn is_local(&self) -> bool {
        self.stage.as_deref() == Some("local")
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self::from_lookup(|_| None)
    }
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
    fn defaults() {
        let s = settings(&[]);
        assert_eq!(s.service_name, "cruddur");
        assert_eq!(s.xray_daemon_address, "127.0.0.1:2000");
        assert_eq!(s.otlp_endpoint, None);
        assert_eq!(s.otlp_sample_ratio, 1.0);
        assert_eq!(s.flush_timeout, Duration::from_secs(1));
        assert_eq!(s.metrics_namespace, "cruddur");
        assert!(!s.tracing_disabled && !s.is_local());
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
