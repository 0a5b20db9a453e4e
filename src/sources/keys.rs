//! API keys: where they come from, and what happens when one is missing.
//!
//! Three places, in this order: `api_key_env` (an environment variable, e.g.
//! from systemd's `EnvironmentFile=`), `api_key_file` (a file holding the key;
//! a relative name is looked up in `$CREDENTIALS_DIRECTORY`, which is how
//! systemd's `LoadCredential=` hands secrets over, else next to the config
//! file), or `api_key` inline. A configured key that cannot be found disables
//! the source with a warning instead of stopping herald.

use std::path::PathBuf;

use serde::Deserialize;

use super::BuildContext;
use crate::model::secret::{ApiKey, Secret};

/// The key settings every keyed kind accepts (declared in each kind's options).
#[allow(
    clippy::struct_field_names,
    reason = "named after the config keys they hold"
)]
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct KeySettings {
    /// An environment variable holding the key.
    pub api_key_env: Option<String>,
    /// A file holding the key.
    pub api_key_file: Option<String>,
    /// The key itself, inline.
    pub api_key: Option<String>,
}

impl KeySettings {
    /// Whether any of the three keys is set.
    pub(super) fn is_configured(&self) -> bool {
        self.api_key_env.is_some() || self.api_key_file.is_some() || self.api_key.is_some()
    }

    /// For kinds that cannot work without a key: the key, or the reason
    /// the source is disabled.
    pub(super) fn required(&self, context: &BuildContext) -> (Option<ApiKey>, Option<String>) {
        match self.resolve(context) {
            Ok(key) => (Some(key), None),
            Err(reason) => (None, Some(reason)),
        }
    }

    /// For kinds where a key is optional: none configured is fine, but one
    /// configured and missing disables the source (the operator meant it).
    pub(super) fn optional(&self, context: &BuildContext) -> (Option<ApiKey>, Option<String>) {
        if self.is_configured() {
            self.required(context)
        } else {
            (None, None)
        }
    }

    /// Finds the key, or explains (without the value) why there is none.
    ///
    /// # Errors
    /// Why there is no key (never its value).
    pub(super) fn resolve(&self, context: &BuildContext) -> Result<ApiKey, String> {
        if let Some(var) = &self.api_key_env {
            return match std::env::var(var) {
                Ok(value) if !value.trim().is_empty() => Ok(ApiKey {
                    secret: Secret::new(value.trim()),
                    hint: format!("api_key_env {var}"),
                }),
                _ => Err(format!("api_key_env {var} is not set")),
            };
        }
        if let Some(name) = &self.api_key_file {
            let path = key_file_path(name, context);
            return match std::fs::read_to_string(&path) {
                Ok(value) if !value.trim().is_empty() => Ok(ApiKey {
                    secret: Secret::new(value.trim()),
                    hint: format!("api_key_file {name}"),
                }),
                Ok(_) => Err(format!("api_key_file {} is empty", path.display())),
                Err(e) => Err(format!("api_key_file {}: {e}", path.display())),
            };
        }
        match &self.api_key {
            Some(value) if !value.trim().is_empty() => Ok(ApiKey {
                secret: Secret::new(value.trim()),
                hint: "api_key".to_owned(),
            }),
            _ => Err("no API key configured (set api_key_env, api_key_file or api_key)".to_owned()),
        }
    }
}

fn key_file_path(name: &str, context: &BuildContext) -> PathBuf {
    let path = PathBuf::from(name);
    if path.is_absolute() {
        return path;
    }
    match std::env::var_os("CREDENTIALS_DIRECTORY") {
        Some(dir) => PathBuf::from(dir).join(path),
        None => context.config_dir.join(path),
    }
}
