//! Where the configuration document comes from: a Secrets Manager secret in AWS, a file
//! locally. Both are read as text and then parsed and validated the same way, once per
//! container.

use std::path::PathBuf;

use routing_usecases::config::{ConfigError, CoordinatorConfig};

use crate::settings::{CONFIG_FILE_ENV, CONFIG_SECRET_ENV};

/// Why the configuration document could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ConfigSourceError {
    #[error(
        "configuration: neither {CONFIG_SECRET_ENV} (the Secrets Manager secret, in AWS) nor {CONFIG_FILE_ENV} (a file, locally) is set"
    )]
    NotConfigured,
    #[error(
        "configuration: set only one of {CONFIG_FILE_ENV} (local) and {CONFIG_SECRET_ENV} (AWS)"
    )]
    BothSources,
    #[error("configuration: secret {id}: {message}")]
    Secret { id: String, message: String },
    #[error(transparent)]
    Document(#[from] ConfigError),
}

/// The document's source, as the settings name it (`COORDINATOR_CONFIG_SECRET_ID` or
/// `COORDINATOR_CONFIG_FILE`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigSource {
    File(PathBuf),
    Secret(String),
}

impl ConfigSource {
    pub fn from_vars(
        file: Option<String>,
        secret: Option<String>,
    ) -> Result<Self, ConfigSourceError> {
        match (file, secret) {
            (Some(_), Some(_)) => Err(ConfigSourceError::BothSources),
            (Some(path), None) => Ok(ConfigSource::File(PathBuf::from(path))),
            (None, Some(id)) => Ok(ConfigSource::Secret(id)),
            (None, None) => Err(ConfigSourceError::NotConfigured),
        }
    }

    /// Read, parse and validate the document (`secrets` is used only for a secret).
    pub async fn load(
        &self,
        secrets: &aws_sdk_secretsmanager::Client,
    ) -> Result<CoordinatorConfig, ConfigSourceError> {
        match self {
            ConfigSource::File(path) => Ok(CoordinatorConfig::from_file(path)?),
            ConfigSource::Secret(id) => {
                let secret = |message: String| ConfigSourceError::Secret {
                    id: id.clone(),
                    message,
                };
                let answer = secrets
                    .get_secret_value()
                    .secret_id(id)
                    .send()
                    .await
                    .map_err(|err| {
                        secret(format!(
                            "cannot read it: {}",
                            aws_sdk_secretsmanager::error::DisplayErrorContext(&err)
                        ))
                    })?;
                let text = answer.secret_string().ok_or_else(|| {
                    secret("it has no SecretString: put the configuration JSON as text".into())
                })?;
                CoordinatorConfig::from_json(text).map_err(|err| secret(err.to_string()))
            }
        }
    }
}
