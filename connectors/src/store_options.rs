//! `StoreOptions`: the object-store settings (`ember.s3.*`, `ember.gcs.*`, `ember.azure.*`,
//! `ember.store.*`) of a session, as a DataFusion config extension.
//!
//! Why an extension: Ballista ships every entry of a job's `ConfigOptions` — extensions
//! included — to the scheduler (which lists files and reads Parquet footers while planning) and
//! to every executor. Registering this extension in each process's `SessionConfig` is all it
//! takes for them to open the same stores with the same settings as the client.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use datafusion::error::{DataFusionError, Result};

use crate::aws_profile::AwsProfile;

/// What kind of text an object-store key holds. Ember's configuration layer validates values by
/// it when they are set; [`StoreOptions`] parses them when a store is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreValue {
    /// Free text.
    Text,
    /// A credential: never printed.
    Secret,
    /// `true` or `false`.
    Flag,
    /// A file path.
    Path,
    /// A duration ([`parse_duration`]).
    Duration,
    /// A non-negative integer.
    Count,
}

/// The declaration of one object-store key: name, kind, default (as text, `None` when the
/// default comes from elsewhere, said in `doc`) and the line the README's table shows.
#[derive(Debug)]
pub struct StoreKey {
    /// Full key name, e.g. `ember.s3.endpoint`.
    pub name: &'static str,
    /// What its value is.
    pub kind: StoreValue,
    /// Default, as text.
    pub default: Option<&'static str>,
    /// One-line description.
    pub doc: &'static str,
}

/// Declares every object-store key once: a constant for its name, and its entry in
/// [`STORE_KEYS`].
macro_rules! store_keys {
    ($($konst:ident = $name:literal, $kind:ident, default $default:tt, $doc:literal;)*) => {
        $(
            #[doc = concat!("`", $name, "`: ", $doc)]
            pub const $konst: &str = $name;
        )*

        /// Every object-store key, in documentation order.
        pub const STORE_KEYS: &[StoreKey] = &[$(StoreKey {
            name: $name,
            kind: StoreValue::$kind,
            default: store_keys!(@default $default),
            doc: $doc,
        }),*];
    };
    (@default none) => { None };
    (@default $default:literal) => { Some($default) };
}

store_keys! {
    S3_ENDPOINT = "ember.s3.endpoint", Text, default none,
        "s3:// locations: endpoint of an S3-compatible store, e.g. http://127.0.0.1:9000 (default: AWS_ENDPOINT_URL, else AWS)";
    S3_REGION = "ember.s3.region", Text, default none,
        "s3:// locations: region (default: AWS_REGION, AWS_DEFAULT_REGION or the profile's)";
    S3_ACCESS_KEY_ID = "ember.s3.access.key.id", Secret, default none,
        "s3:// locations: access key id (default: AWS_ACCESS_KEY_ID, else the profile's); a secret like the key it goes with, so a process never pairs one sender's id with another's key";
    S3_SECRET_ACCESS_KEY = "ember.s3.secret.access.key", Secret, default none,
        "s3:// locations: secret access key (default: AWS_SECRET_ACCESS_KEY, else the profile's)";
    S3_SESSION_TOKEN = "ember.s3.session.token", Secret, default none,
        "s3:// locations: session token of temporary credentials (default: AWS_SESSION_TOKEN, else the profile's)";
    S3_PATH_STYLE = "ember.s3.path.style", Flag, default "true",
        "s3:// locations: path-style requests (endpoint/bucket/key); false for virtual-hosted style (bucket.endpoint/key)";
    S3_PROFILE = "ember.s3.profile", Text, default none,
        "s3:// locations: the profile of ~/.aws/credentials and ~/.aws/config to take credentials and region from (default: AWS_PROFILE, else default)";
    GCS_SERVICE_ACCOUNT_PATH = "ember.gcs.service.account.path", Path, default none,
        "gs:// locations: service-account JSON file (default: GOOGLE_APPLICATION_CREDENTIALS)";
    GCS_SERVICE_ACCOUNT_KEY = "ember.gcs.service.account.key", Secret, default none,
        "gs:// locations: service-account key, the JSON itself";
    AZURE_ACCOUNT_NAME = "ember.azure.account.name", Text, default none,
        "az:// and abfss:// locations: storage account (default: AZURE_STORAGE_ACCOUNT_NAME)";
    AZURE_ACCOUNT_KEY = "ember.azure.account.key", Secret, default none,
        "az:// and abfss:// locations: storage account key (default: AZURE_STORAGE_ACCOUNT_KEY)";
    AZURE_ENDPOINT = "ember.azure.endpoint", Text, default none,
        "az:// and abfss:// locations: endpoint, e.g. an Azurite emulator's";
    STORE_CONNECT_TIMEOUT = "ember.store.connect.timeout", Duration, default "5s",
        "Object stores: how long opening a connection may take";
    STORE_REQUEST_TIMEOUT = "ember.store.request.timeout", Duration, default "30s",
        "Object stores: how long one request may take";
    STORE_MAX_RETRIES = "ember.store.max.retries", Count, default "5",
        "Object stores: retries of a failed request (with exponential backoff)";
    // object_store's own default is 3 minutes, too long to wait for an unreachable endpoint to
    // be reported.
    STORE_RETRY_TIMEOUT = "ember.store.retry.timeout", Duration, default "30s",
        "Object stores: how long a failing request keeps being retried, so an unreachable store fails within about this time";
}

/// The declaration of `key` (a full name, case-insensitive), when it is an object-store key.
pub fn store_key(key: &str) -> Option<&'static StoreKey> {
    STORE_KEYS
        .iter()
        .find(|declared| declared.name.eq_ignore_ascii_case(key))
}

/// The object-store settings of a session: a map from the keys of [`STORE_KEYS`] to their text.
/// Values are validated by the layer that sets them (`EmberConfig`); readers parse them with
/// [`StoreOptions::duration`] and friends, whose errors name the key.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct StoreOptions {
    values: BTreeMap<&'static str, String>,
}

impl StoreOptions {
    /// Sets `key` (a full name from [`STORE_KEYS`], case-insensitive) to `value`.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), UnknownStoreKey> {
        let declared = store_key(key).ok_or_else(|| UnknownStoreKey(key.to_string()))?;
        self.values.insert(declared.name, value.trim().to_string());
        Ok(())
    }

    /// The value of `key`, when set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// `key` as a boolean (`true`/`false`), when set or declared with a default.
    pub fn flag(&self, key: &str) -> Result<Option<bool>> {
        self.parse(key, |text| match text.to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err("expected true or false".to_string()),
        })
    }

    /// `key` as a duration (see [`parse_duration`]), when set or declared with a default.
    pub fn duration(&self, key: &str) -> Result<Option<Duration>> {
        self.parse(key, parse_duration)
    }

    /// `key` as a non-negative integer, when set or declared with a default.
    pub fn count(&self, key: &str) -> Result<Option<usize>> {
        self.parse(key, |text| {
            text.parse::<usize>()
                .map_err(|_| "expected a non-negative integer".to_string())
        })
    }

    fn parse<T>(&self, key: &str, parse: impl Fn(&str) -> Result<T, String>) -> Result<Option<T>> {
        let declared_default = || store_key(key).and_then(|declared| declared.default);
        self.get(key)
            .or_else(declared_default)
            .map(|text| {
                parse(text).map_err(|reason| {
                    DataFusionError::Configuration(format!("invalid value for {key}: {reason}"))
                })
            })
            .transpose()
    }

    /// These options with S3 credentials and region that are not configured taken from the
    /// standard AWS sources, as the AWS CLI resolves them: the `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION` / `AWS_DEFAULT_REGION` and
    /// `AWS_ENDPOINT_URL` variables of `env`, then the profile `ember.s3.profile` (else
    /// `AWS_PROFILE`, else `default`) of the shared credentials and config files
    /// (`AWS_SHARED_CREDENTIALS_FILE`, `AWS_CONFIG_FILE`, else `~/.aws/credentials` and
    /// `~/.aws/config`).
    ///
    /// Credentials are taken as a whole from the first source that has an access key id, so a
    /// configured key is never paired with another source's secret. A process resolves them
    /// when it builds an S3 store, from its own environment; a client session that sends its
    /// secrets to a cluster (under TLS, or `ember.cluster.send.credentials`) resolves them where
    /// it starts, so its jobs carry them (as Spark copies the driver's `AWS_*` variables).
    pub fn with_aws_environment(mut self, env: &dyn Fn(&str) -> Option<String>) -> Self {
        let profile = self.profile_from_files(env);
        let from_env = [
            (S3_ACCESS_KEY_ID, env("AWS_ACCESS_KEY_ID")),
            (S3_SECRET_ACCESS_KEY, env("AWS_SECRET_ACCESS_KEY")),
            (S3_SESSION_TOKEN, env("AWS_SESSION_TOKEN")),
        ];
        if self.get(S3_ACCESS_KEY_ID).is_none() {
            let credentials = if from_env[0].1.is_some() {
                from_env.to_vec()
            } else {
                profile.credentials()
            };
            for (key, value) in credentials {
                if let Some(value) = value.filter(|v| !v.is_empty()) {
                    self.values.insert(key, value);
                }
            }
        }
        let region = env("AWS_REGION")
            .or_else(|| env("AWS_DEFAULT_REGION"))
            .or(profile.region);
        let endpoint = env("AWS_ENDPOINT_URL").or(profile.endpoint_url);
        for (key, value) in [(S3_REGION, region), (S3_ENDPOINT, endpoint)] {
            if let Some(value) = value.filter(|v| !v.is_empty()) {
                self.values.entry(key).or_insert(value);
            }
        }
        self
    }

    fn profile_from_files(&self, env: &dyn Fn(&str) -> Option<String>) -> AwsProfile {
        let name = self
            .get(S3_PROFILE)
            .map(str::to_string)
            .or_else(|| env("AWS_PROFILE"))
            .unwrap_or_else(|| "default".to_string());
        let home = env("HOME").map(PathBuf::from);
        let file = |variable: &str, default: &str| {
            env(variable)
                .map(PathBuf::from)
                .or_else(|| home.as_deref().map(|home| home.join(".aws").join(default)))
        };
        AwsProfile::read(
            &name,
            file("AWS_SHARED_CREDENTIALS_FILE", "credentials").as_deref(),
            file("AWS_CONFIG_FILE", "config").as_deref(),
        )
    }
}

/// Whether `key` is a store key whose value is a secret (masked in logs, redacted where it is
/// not sent).
pub fn is_secret(key: &str) -> bool {
    store_key(key).is_some_and(|key| key.kind == StoreValue::Secret)
}

/// A key that is not one of [`STORE_KEYS`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown object-store key '{0}'")]
pub struct UnknownStoreKey(pub String);

/// The longest duration a setting takes: a year, far beyond any timeout or interval, and far
/// below where adding it to a clock reading or converting it to nanoseconds could overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// Parses durations like `500ms`, `10s`, `2m` or `1h`; a bare number is seconds. Must be positive
/// and at most [`MAX_DURATION`].
pub fn parse_duration(value: &str) -> Result<Duration, String> {
    let text = value.trim().to_ascii_lowercase();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let amount: f64 = number
        .parse()
        .map_err(|_| "expected a duration such as 500ms, 10s or 2m".to_string())?;
    let seconds = match unit.trim() {
        "ms" => amount / 1000.0,
        "" | "s" => amount,
        "m" | "min" => amount * 60.0,
        "h" => amount * 3600.0,
        other => return Err(format!("unknown unit '{other}'; use ms, s, m or h")),
    };
    if seconds.is_nan() || seconds <= 0.0 {
        return Err("must be positive".into());
    }
    Duration::try_from_secs_f64(seconds)
        .ok()
        .filter(|duration| *duration <= MAX_DURATION)
        .ok_or_else(|| "must be at most a year (8760h)".to_string())
}

/// Prints every key, with credentials masked, so options can be logged.
impl fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = self.values.iter().map(|(key, value)| {
            let secret = is_secret(key);
            let value = if secret { "***" } else { value.as_str() };
            (key, value)
        });
        f.debug_map().entries(shown).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| vars.get(name).cloned()
    }

    #[test]
    fn configured_credentials_win_over_the_environment_as_a_whole() {
        let mut options = StoreOptions::default();
        options.set(S3_ACCESS_KEY_ID, "configured").unwrap();
        let resolved = options.with_aws_environment(&env(&[
            ("AWS_ACCESS_KEY_ID", "from-env"),
            ("AWS_SECRET_ACCESS_KEY", "env-secret"),
            ("AWS_REGION", "eu-west-1"),
        ]));
        assert_eq!(resolved.get(S3_ACCESS_KEY_ID), Some("configured"));
        assert_eq!(resolved.get(S3_SECRET_ACCESS_KEY), None);
        assert_eq!(resolved.get(S3_REGION), Some("eu-west-1"));
    }

    #[test]
    fn profiles_fill_what_the_variables_leave_out() {
        let dir = tempfile::tempdir().unwrap();
        let credentials = dir.path().join("credentials");
        std::fs::write(
            &credentials,
            "[default]\naws_access_key_id = D\naws_secret_access_key = DS\n\
             [analytics]\naws_access_key_id = A\naws_secret_access_key = AS\n",
        )
        .unwrap();
        let config = dir.path().join("config");
        std::fs::write(
            &config,
            "[profile analytics]\nregion = us-east-2\nendpoint_url = http://10.0.0.1:9000\n",
        )
        .unwrap();
        let files = [
            ("AWS_SHARED_CREDENTIALS_FILE", credentials.to_str().unwrap()),
            ("AWS_CONFIG_FILE", config.to_str().unwrap()),
            ("AWS_PROFILE", "analytics"),
        ];
        let resolved = StoreOptions::default().with_aws_environment(&env(&files));
        assert_eq!(resolved.get(S3_ACCESS_KEY_ID), Some("A"));
        assert_eq!(resolved.get(S3_SECRET_ACCESS_KEY), Some("AS"));
        assert_eq!(resolved.get(S3_REGION), Some("us-east-2"));
        assert_eq!(resolved.get(S3_ENDPOINT), Some("http://10.0.0.1:9000"));

        let mut named = StoreOptions::default();
        named.set(S3_PROFILE, "default").unwrap();
        let resolved = named.with_aws_environment(&env(&files));
        assert_eq!(resolved.get(S3_ACCESS_KEY_ID), Some("D"));
    }

    #[test]
    fn secrets_are_masked_but_kept() {
        let mut options = StoreOptions::default();
        options
            .set("EMBER.S3.SECRET.ACCESS.KEY", "hunter2")
            .unwrap();
        options.set(S3_REGION, "us-east-1").unwrap();
        let printed = format!("{options:?}");
        assert!(
            !printed.contains("hunter2") && printed.contains("us-east-1"),
            "{printed}"
        );
        assert_eq!(options.get(S3_SECRET_ACCESS_KEY), Some("hunter2"));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let mut options = StoreOptions::default();
        assert_eq!(
            options.set("ember.s3.bucket", "x").unwrap_err().to_string(),
            "unknown object-store key 'ember.s3.bucket'"
        );
        options.set(STORE_CONNECT_TIMEOUT, "soon").unwrap();
        let error = options.duration(STORE_CONNECT_TIMEOUT).unwrap_err();
        assert!(error.to_string().contains(STORE_CONNECT_TIMEOUT), "{error}");
    }
}
