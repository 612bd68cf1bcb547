//! The typed settings every function reads from its environment, in one place. The
//! functions' declared environment lists (which `tests/infra-check` holds the template to)
//! are built from the names here.

use routing_usecases::resync::{
    ResyncPace, DEFAULT_RESYNC_LEASE_SLICE, DEFAULT_RESYNC_RATE_PER_SECOND,
};

use crate::config_source::{ConfigSource, ConfigSourceError};

/// The DynamoDB table (required).
pub const TABLE_NAME: &str = "TABLE_NAME";
/// A DynamoDB endpoint other than AWS's (local runs); read by the AWS SDK itself.
pub const AWS_ENDPOINT_URL_DYNAMODB: &str = "AWS_ENDPOINT_URL_DYNAMODB";
/// The Graph API's base URL (default `https://graph.facebook.com`).
pub const GRAPH_API_BASE_URL: &str = "GRAPH_API_BASE_URL";
/// The Graph API version (default `graph::DEFAULT_GRAPH_API_VERSION`).
pub const GRAPH_API_VERSION: &str = "GRAPH_API_VERSION";
/// The log filter (default `info`).
pub const RUST_LOG: &str = "RUST_LOG";
/// The local configuration file.
pub const CONFIG_FILE_ENV: &str = "COORDINATOR_CONFIG_FILE";
/// The AWS Secrets Manager secret (ARN or name) that holds the configuration document.
pub const CONFIG_SECRET_ENV: &str = "COORDINATOR_CONFIG_SECRET_ID";
/// Graph calls per second of the re-sync batch (default 5).
pub const RESYNC_RATE_PER_SECOND: &str = "RESYNC_RATE_PER_SECOND";
/// Leased conversations the re-sync batch checks per run (default 50).
pub const RESYNC_LEASE_SLICE: &str = "RESYNC_LEASE_SLICE";
/// Set by Lambda: the function's name (metrics dimension; JSON logs when present).
pub const AWS_LAMBDA_FUNCTION_NAME: &str = "AWS_LAMBDA_FUNCTION_NAME";

/// The EventBridge bus the event publisher puts events on (required there).
pub const EVENT_BUS_NAME: &str = "EVENT_BUS_NAME";
/// An EventBridge endpoint other than AWS's (local runs); read by the AWS SDK itself.
pub const AWS_ENDPOINT_URL_EVENTBRIDGE: &str = "AWS_ENDPOINT_URL_EVENTBRIDGE";

/// The variables every function reads (the template may set only names a function lists).
pub const COMMON_ENVIRONMENT: &[&str] = &[
    TABLE_NAME,
    AWS_ENDPOINT_URL_DYNAMODB,
    GRAPH_API_BASE_URL,
    GRAPH_API_VERSION,
    RUST_LOG,
    CONFIG_FILE_ENV,
    CONFIG_SECRET_ENV,
];

/// The variables only the re-sync function reads, beyond the common ones.
pub const RESYNC_ENVIRONMENT: &[&str] = &[RESYNC_RATE_PER_SECOND, RESYNC_LEASE_SLICE];

/// The variables the event publisher reads: it reads neither the table (its stream is its
/// trigger) nor the configuration document.
pub const PUBLISHER_ENVIRONMENT: &[&str] =
    &[EVENT_BUS_NAME, AWS_ENDPOINT_URL_EVENTBRIDGE, RUST_LOG];

/// A setting that is missing or not valid.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{0} is not set")]
    Missing(&'static str),
    #[error("{name} must be a positive integer, got {value:?}")]
    NotPositive { name: &'static str, value: String },
    #[error(transparent)]
    Config(#[from] ConfigSourceError),
}

/// Where the Graph API is (unset or blank values take the client's defaults).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GraphSettings {
    pub base_url: Option<String>,
    pub version: Option<String>,
}

/// The re-sync batch's pace: `RESYNC_RATE_PER_SECOND` and `RESYNC_LEASE_SLICE` from any
/// source of variables.
pub fn resync_pace(lookup: impl Fn(&str) -> Option<String>) -> Result<ResyncPace, SettingsError> {
    let positive = |name: &'static str, default: u32| match lookup(name) {
        None => Ok(default),
        Some(value) => value
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or(SettingsError::NotPositive { name, value }),
    };
    Ok(ResyncPace {
        rate_per_second: positive(RESYNC_RATE_PER_SECOND, DEFAULT_RESYNC_RATE_PER_SECOND)?,
        lease_slice: positive(RESYNC_LEASE_SLICE, DEFAULT_RESYNC_LEASE_SLICE)?,
    })
}

/// Everything a function reads from its environment.
#[derive(Clone, Debug)]
pub struct Settings {
    pub table_name: String,
    pub config_source: ConfigSource,
    pub graph: GraphSettings,
    pub resync: ResyncPace,
    /// The function's name in Lambda; `None` outside Lambda.
    pub function_name: Option<String>,
    /// `RUST_LOG`, when set.
    pub log_filter: Option<String>,
}

impl Settings {
    /// The process environment (start-up only).
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Any source of variables; blank values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let var = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        Ok(Settings {
            table_name: var(TABLE_NAME).ok_or(SettingsError::Missing(TABLE_NAME))?,
            config_source: ConfigSource::from_vars(var(CONFIG_FILE_ENV), var(CONFIG_SECRET_ENV))?,
            graph: GraphSettings {
                base_url: var(GRAPH_API_BASE_URL),
                version: var(GRAPH_API_VERSION),
            },
            resync: resync_pace(var)?,
            function_name: var(AWS_LAMBDA_FUNCTION_NAME),
            log_filter: var(RUST_LOG),
        })
    }

    /// Running inside AWS Lambda (JSON logs).
    pub fn in_lambda(&self) -> bool {
        self.function_name.is_some()
    }
}

/// What the event publisher reads from its environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublisherSettings {
    pub bus_name: String,
    pub function_name: Option<String>,
    pub log_filter: Option<String>,
}

impl PublisherSettings {
    /// The process environment (start-up only).
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Any source of variables; blank values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let var = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        Ok(PublisherSettings {
            bus_name: var(EVENT_BUS_NAME).ok_or(SettingsError::Missing(EVENT_BUS_NAME))?,
            function_name: var(AWS_LAMBDA_FUNCTION_NAME),
            log_filter: var(RUST_LOG),
        })
    }
}

/// What start-up reads of any function's settings (`lambda::start`).
pub trait FunctionSettings: Sized {
    /// The process environment (start-up only).
    fn from_env() -> Result<Self, SettingsError>;
    /// `RUST_LOG`, when set.
    fn log_filter(&self) -> Option<&str>;
    /// Whether the function runs in Lambda (JSON logs).
    fn in_lambda(&self) -> bool;
}

impl FunctionSettings for Settings {
    fn from_env() -> Result<Self, SettingsError> {
        Settings::from_env()
    }
    fn log_filter(&self) -> Option<&str> {
        self.log_filter.as_deref()
    }
    fn in_lambda(&self) -> bool {
        Settings::in_lambda(self)
    }
}

impl FunctionSettings for PublisherSettings {
    fn from_env() -> Result<Self, SettingsError> {
        PublisherSettings::from_env()
    }
    fn log_filter(&self) -> Option<&str> {
        self.log_filter.as_deref()
    }
    fn in_lambda(&self) -> bool {
        self.function_name.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| vars.get(name).cloned()
    }

    #[test]
    fn limits_default_and_name_the_bad_variable() {
        let none = resync_pace(|_| None).unwrap();
        assert_eq!((none.rate_per_second, none.lease_slice), (5, 50));
        let set = resync_pace(|name| {
            Some(
                if name == "RESYNC_RATE_PER_SECOND" {
                    "20"
                } else {
                    "7"
                }
                .to_string(),
            )
        })
        .unwrap();
        assert_eq!((set.rate_per_second, set.lease_slice), (20, 7));
        for bad in ["0", "-1", "fast", ""] {
            let err = resync_pace(|name| (name == "RESYNC_LEASE_SLICE").then(|| bad.to_string()))
                .unwrap_err();
            assert!(
                matches!(
                    err,
                    SettingsError::NotPositive {
                        name: "RESYNC_LEASE_SLICE",
                        ..
                    }
                ),
                "{err}"
            );
            assert!(err.to_string().contains("RESYNC_LEASE_SLICE"), "{err}");
        }
    }

    #[test]
    fn the_publisher_needs_its_bus() {
        let err = PublisherSettings::from_lookup(lookup(&[(TABLE_NAME, "t")])).unwrap_err();
        assert!(err.to_string().contains(EVENT_BUS_NAME), "{err}");
        let settings = PublisherSettings::from_lookup(lookup(&[
            (EVENT_BUS_NAME, "routing"),
            (RUST_LOG, "debug"),
        ]))
        .unwrap();
        assert_eq!(settings.bus_name, "routing");
        assert_eq!(settings.log_filter.as_deref(), Some("debug"));
    }

    #[test]
    fn settings_name_what_is_missing() {
        let err = Settings::from_lookup(lookup(&[(CONFIG_FILE_ENV, "c.json")])).unwrap_err();
        assert!(err.to_string().contains("TABLE_NAME"), "{err}");
        let err = Settings::from_lookup(lookup(&[(TABLE_NAME, "t")])).unwrap_err();
        assert!(err.to_string().contains(CONFIG_SECRET_ENV), "{err}");
        let settings = Settings::from_lookup(lookup(&[
            (TABLE_NAME, "t"),
            (CONFIG_FILE_ENV, "c.json"),
            (GRAPH_API_VERSION, " "),
            (RESYNC_LEASE_SLICE, "9"),
        ]))
        .unwrap();
        assert_eq!(settings.table_name, "t");
        assert_eq!(settings.config_source, ConfigSource::File("c.json".into()));
        assert_eq!(settings.graph, GraphSettings::default(), "blank is unset");
        assert_eq!(settings.resync.lease_slice, 9);
        assert!(!settings.in_lambda());
    }
}
