//! Configuration read once per cold start from the environment.

use std::path::PathBuf;

use crate::store::dynamo::keys::{DEFAULT_FEED_SHARDS, MAX_FEED_SHARDS};

/// Where the embedded store lives unless `CRUDDUR_SQLITE_PATH` says otherwise.
pub const DEFAULT_SQLITE_PATH: &str = ".cruddur/cruddur.db";
/// The demo user who stands in for the caller when `CRUDDUR_STAGE=local`.
pub const DEFAULT_LOCAL_USER: &str = "andrewbrown";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `CRUDDUR_STAGE`: `local` for development; anything else (e.g. `prod`) is deployed.
    pub stage: String,
    /// `CRUDDUR_LOCAL_USER`: honoured only when the stage is `local`.
    pub local_user: String,
    /// `CRUDDUR_SQLITE_PATH`: the embedded store's file.
    pub sqlite_path: PathBuf,
    /// `FRONTEND_URL` (and `BACKEND_URL`): origins allowed by CORS. Empty: any origin.
    pub allowed_origins: Vec<String>,
    /// `CRUDDUR_TABLE_NAME`: use the DynamoDB store on this table instead of SQLite.
    pub table_name: Option<String>,
    /// `CRUDDUR_SEED_DEMO_DATA` (default `true`): write the demo data into a store that lacks it.
    /// The deployed stack sets `false`.
    pub seed_demo_data: bool,
    /// `CRUDDUR_FEED_SHARDS` (default 32, at most 256): how many partitions the DynamoDB home
    /// feed is spread over. Every function on a table must use the same number (or a larger
    /// one): readers with fewer shards than writers miss activities.
    pub feed_shards: u32,
}

/// A setting's value: trimmed, and `None` when unset or blank (a blank variable means "not set",
/// as templates and shells often leave them).
fn trimmed(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// An environment variable read as a setting (see [`trimmed`]).
pub fn env_var(name: &str) -> Option<String> {
    trimmed(std::env::var(name).ok())
}

impl Config {
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Builds the configuration from any variable source (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let non_empty = |name: &str| trimmed(get(name));
        let allowed_origins = ["FRONTEND_URL", "BACKEND_URL"]
            .iter()
            .filter_map(|name| non_empty(name))
            .flat_map(|v| {
                v.split(',')
                    .map(|o| o.trim().trim_end_matches('/').to_owned())
                    .collect::<Vec<_>>()
            })
            .filter(|o| !o.is_empty())
            .collect();
        Self {
            stage: non_empty("CRUDDUR_STAGE").unwrap_or_else(|| "prod".to_owned()),
            local_user: non_empty("CRUDDUR_LOCAL_USER")
                .unwrap_or_else(|| DEFAULT_LOCAL_USER.to_owned()),
            sqlite_path: non_empty("CRUDDUR_SQLITE_PATH")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_SQLITE_PATH)),
            allowed_origins,
            table_name: non_empty("CRUDDUR_TABLE_NAME"),
            seed_demo_data: non_empty("CRUDDUR_SEED_DEMO_DATA")
                .is_none_or(|v| !matches!(v.to_ascii_lowercase().as_str(), "false" | "0" | "no")),
            feed_shards: non_empty("CRUDDUR_FEED_SHARDS")
                .and_then(|v| v.parse::<u32>().ok())
                .filter(|n| (1..=MAX_FEED_SHARDS).contains(n))
                .unwrap_or(DEFAULT_FEED_SHARDS),
        }
    }

    /// Local development: the stand-in caller is allowed.
    pub fn is_local(&self) -> bool {
        self.stage == "local"
    }
}

impl Default for Config {
    fn default() -> Self {
        Self::from_lookup(|_| None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Config {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_are_deployed_and_embedded() {
        let c = config(&[]);
        assert!(!c.is_local());
        assert_eq!(c.local_user, "andrewbrown");
        assert_eq!(c.sqlite_path, PathBuf::from(".cruddur/cruddur.db"));
        assert!(c.allowed_origins.is_empty());
        assert_eq!(c.feed_shards, 32);
    }

    #[test]
    fn feed_shards_outside_their_range_are_the_default() {
        assert_eq!(config(&[("CRUDDUR_FEED_SHARDS", "64")]).feed_shards, 64);
        for bad in ["0", "257", "-1", "many", "3.5"] {
            assert_eq!(
                config(&[("CRUDDUR_FEED_SHARDS", bad)]).feed_shards,
                32,
                "{bad}"
            );
        }
    }

    #[test]
    fn origins_come_from_frontend_and_backend_urls() {
        let c = config(&[
            (
                "FRONTEND_URL",
                "https://cruddur.example/, https://www.cruddur.example",
            ),
            ("BACKEND_URL", "https://api.cruddur.example"),
            ("CRUDDUR_STAGE", "local"),
        ]);
        assert!(c.is_local());
        assert_eq!(
            c.allowed_origins,
            [
                "https://cruddur.example",
                "https://www.cruddur.example",
                "https://api.cruddur.example"
            ]
        );
    }
}
