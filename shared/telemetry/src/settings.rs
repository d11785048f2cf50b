//! The telemetry's configuration, read once per cold start from standard variables.

/// Settings from the environment (see the README's configuration table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `OTEL_SERVICE_NAME`, default `cruddur`.
    pub service_name: String,
    /// `AWS_LAMBDA_FUNCTION_NAME`, set by Lambda (and `cargo lambda watch`).
    pub function_name: Option<String>,
    /// `RUST_LOG`: full tracing filter directives; wins over `AWS_LAMBDA_LOG_LEVEL`.
    pub rust_log: Option<String>,
    /// `AWS_LAMBDA_LOG_LEVEL`: set by Lambda from the function's `LoggingConfig`.
    pub lambda_log_level: Option<String>,
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
        Self {
            service_name: non_empty("OTEL_SERVICE_NAME").unwrap_or_else(|| "cruddur".to_owned()),
            function_name: non_empty("AWS_LAMBDA_FUNCTION_NAME"),
            rust_log: non_empty("RUST_LOG"),
            lambda_log_level: non_empty("AWS_LAMBDA_LOG_LEVEL"),
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self::from_lookup(|_| None)
    }
}
