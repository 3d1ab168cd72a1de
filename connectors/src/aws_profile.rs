//! The part of an AWS profile Ember uses, read from the shared `credentials` and `config` files.
//!
//! Why here: `object_store` reads `AWS_*` variables but not profiles, and the AWS SDK's
//! `aws-config` would add a whole SDK for two small INI files.

use std::path::Path;

use crate::store_options::{S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY, S3_SESSION_TOKEN};

/// Credentials and settings of one named profile; every field is `None` when absent.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct AwsProfile {
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
}

impl AwsProfile {
    /// Reads profile `name` from `credentials` (sections `[name]`) and `config` (sections
    /// `[profile name]`, or `[default]`); a missing or unreadable file contributes nothing.
    /// The credentials file wins where both set a value, as in the AWS CLI.
    pub fn read(name: &str, credentials: Option<&Path>, config: Option<&Path>) -> Self {
        let config_section = if name == "default" {
            "default".to_string()
        } else {
            format!("profile {name}")
        };
        let from_credentials = credentials
            .map(|path| section(path, name))
            .unwrap_or_default();
        let from_config = config
            .map(|path| section(path, &config_section))
            .unwrap_or_default();
        let value = |key: &str| {
            [&from_credentials, &from_config]
                .iter()
                .find_map(|pairs| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()))
        };
        Self {
            access_key_id: value("aws_access_key_id"),
            secret_access_key: value("aws_secret_access_key"),
            session_token: value("aws_session_token"),
            region: value("region"),
            endpoint_url: value("endpoint_url"),
        }
    }

    /// The credentials as store keys and values.
    pub fn credentials(&self) -> Vec<(&'static str, Option<String>)> {
        vec![
            (S3_ACCESS_KEY_ID, self.access_key_id.clone()),
            (S3_SECRET_ACCESS_KEY, self.secret_access_key.clone()),
            (S3_SESSION_TOKEN, self.session_token.clone()),
        ]
    }
}

/// The `key = value` pairs of section `[name]` of the INI file at `path` (keys lowercased).
fn section(path: &Path, name: &str) -> Vec<(String, String)> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let mut inside = false;
    let mut pairs = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = header.trim() == name;
        } else if let (true, Some((key, value))) = (inside, line.split_once('=')) {
            pairs.push((key.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    pairs
}
