//! Where the configuration document comes from: a Secrets Manager secret in AWS, a file
//! locally. Both are read as text and then parsed and validated the same way, once per
//! container.

use std::path::PathBuf;

use super::{ConfigError, CoordinatorConfig};

/// The document's source, as the settings name it (`COORDINATOR_CONFIG_SECRET_ID` or
/// `COORDINATOR_CONFIG_FILE`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigSource {
    File(PathBuf),
    Secret(String),
}

impl ConfigSource {
    pub fn from_vars(file: Option<String>, secret: Option<String>) -> Result<Self, ConfigError> {
        match (file, secret) {
            (Some(_), Some(_)) => Err(ConfigError::BothSources),
            (Some(path), None) => Ok(ConfigSource::File(PathBuf::from(path))),
            (None, Some(id)) => Ok(ConfigSource::Secret(id)),
            (None, None) => Err(ConfigError::NotConfigured),
        }
    }

    /// Read, parse and validate the document (`secrets` is used only for a secret).
    pub async fn load(
        &self,
        secrets: &aws_sdk_secretsmanager::Client,
    ) -> Result<CoordinatorConfig, ConfigError> {
        match self {
            ConfigSource::File(path) => CoordinatorConfig::from_file(path),
            ConfigSource::Secret(id) => {
                let secret = |message: String| ConfigError::Secret {
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
