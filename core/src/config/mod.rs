//! `EmberConfig`: every `ember.*` key declared once ([`keys`]), loaded from layered sources.
//!
//! Sources, lowest precedence first: `EMBER_*` environment variables, a properties file
//! (`conf/ember-defaults.conf` by default), then explicit pairs (`--conf key=value` on the command
//! line or `Session::builder().config(..)`). A later layer overrides an earlier one.
//!
//! `ember.*` keys must be declared ([`keys::all_keys`]); an unknown one is an error that names
//! its source and the nearest valid key. `datafusion.*` keys pass through to DataFusion's
//! `ConfigOptions`, which validates them when they are set; `ballista.*` keys pass through to
//! cluster sessions, which validate them when they start.

mod error;
pub mod keys;
pub mod kind;
mod session_options;
mod shown_settings;

use std::collections::BTreeMap;
use std::path::Path;

use datafusion::config::ConfigOptions;
use ember_connectors::StoreOptions;

pub use crate::memory::parse_byte_size;
pub use error::{option_error, ConfigError, ConfigOrigin};
pub use keys::*;
pub use kind::{parse_duration, ValueKind};
pub use session_options::EmberOptions;
pub use shown_settings::RedactShownSecrets;

use crate::cluster_secret::MIN_SECRET_BYTES;
use crate::memory::{machine_memory, MemoryBudget};
use crate::tls::{ClusterAuth, TlsFiles};
use error::{datafusion_key_error, nearest};
use keys::Settings;

/// Ember's typed configuration. Build it with [`EmberConfig::set`] per layer, or
/// [`EmberConfig::load`]; read it with one accessor per key (generated from [`keys`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EmberConfig {
    settings: Settings,
    /// The text each of Ember's own keys was set to, for `SHOW` ([`EmberOptions`]).
    settings_text: BTreeMap<&'static str, String>,
    datafusion: BTreeMap<String, String>,
    ballista: BTreeMap<String, (String, ConfigOrigin)>,
    stores: StoreOptions,
}

/// The properties file the CLI and [`EmberConfig`]'s users read when present, relative to the
/// working directory.
pub const DEFAULT_PROPERTIES_FILE: &str = "conf/ember-defaults.conf";

/// The environment variable in which `ember submit` hands the configuration it resolved to the
/// program it runs: properties-file lines, applied over the program's own properties file.
pub const SUBMITTED_CONF_VAR: &str = "EMBER_CONF";

impl EmberConfig {
    /// Loads the standard layers: `EMBER_*` variables from `env`, then `properties_file` when it is
    /// given and exists, then the lines of [`SUBMITTED_CONF_VAR`] in `env` (set by `ember submit`
    /// for the program it runs), then `pairs` (highest precedence).
    pub fn load(
        env: impl IntoIterator<Item = (String, String)>,
        properties_file: Option<&Path>,
        pairs: &[(String, String)],
        pairs_origin: ConfigOrigin,
    ) -> Result<Self, ConfigError> {
        let mut config = Self::default();
        let (submitted, env): (Vec<_>, Vec<_>) = env
            .into_iter()
            .partition(|(name, _)| name == SUBMITTED_CONF_VAR);
        config.apply_env(env)?;
        if let Some(path) = properties_file.filter(|p| p.exists()) {
            config.apply_properties_file(path)?;
        }
        for (name, text) in submitted {
            config.apply_properties(&text, Path::new(&name))?;
        }
        for (key, value) in pairs {
            config.set(key, value, pairs_origin.clone())?;
        }
        Ok(config)
    }

    /// Applies every `EMBER_*` variable in `env`. A variable that names no key is an error, so a
    /// typo never goes unnoticed.
    pub fn apply_env(
        &mut self,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(), ConfigError> {
        let mut vars: Vec<(String, String)> = env
            .into_iter()
            .filter(|(name, _)| name.starts_with("EMBER_"))
            .collect();
        vars.sort();
        for (var, value) in vars {
            let origin = ConfigOrigin::Env(var.clone());
            match all_keys().find(|key| key.env_var() == var) {
                Some(key) => self.set(key.name, &value, origin)?,
                None => {
                    return Err(ConfigError::UnknownKey {
                        suggestion: nearest(&var, all_keys().map(|k| k.env_var())),
                        key: var,
                        origin,
                    })
                }
            }
        }
        Ok(())
    }

    /// Applies a properties file of `key value` or `key=value` lines; `#` starts a comment line.
    pub fn apply_properties_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|cause| ConfigError::Unreadable {
            path: path.to_path_buf(),
            cause,
        })?;
        self.apply_properties(&text, path)
    }

    /// Applies `text` in the properties-file format, `source` naming it in errors (a file, or
    /// the variable that held it).
    pub fn apply_properties(&mut self, text: &str, source: &Path) -> Result<(), ConfigError> {
        let path = source;
        for (index, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
                continue;
            }
            let split = line
                .find(|c: char| c == '=' || c.is_whitespace())
                .map(|at| (line[..at].trim(), line[at + 1..].trim()));
            let origin = ConfigOrigin::File {
                path: path.to_path_buf(),
                line: index + 1,
            };
            match split {
                Some((key, value)) if !key.is_empty() && !value.is_empty() => {
                    self.set(key, value.trim_start_matches('=').trim(), origin)?
                }
                _ => {
                    return Err(ConfigError::Syntax {
                        path: path.to_path_buf(),
                        line: index + 1,
                        text: line.to_string(),
                    })
                }
            }
        }
        Ok(())
    }

    /// Sets one key, validating it now so the error can name `origin`.
    pub fn set(&mut self, key: &str, value: &str, origin: ConfigOrigin) -> Result<(), ConfigError> {
        let key = key.trim();
        let value = value.trim();
        if key.starts_with("datafusion.") {
            // Validate against DataFusion's own registry now; it knows every key and its type.
            ConfigOptions::new()
                .set(key, value)
                .map_err(|e| datafusion_key_error(key, value, origin.clone(), e))?;
            self.datafusion.insert(key.to_string(), value.to_string());
            return Ok(());
        }
        if key.starts_with("ballista.") {
            // Ballista's settings apply to cluster sessions only; this crate does not know them,
            // so a cluster session validates them when it starts (naming `origin` if one is bad).
            self.ballista
                .insert(key.to_string(), (value.to_string(), origin));
            return Ok(());
        }
        let Some(declared) = declared_key(key) else {
            return Err(ConfigError::UnknownKey {
                key: key.to_string(),
                origin,
                suggestion: nearest(key, all_keys().map(|k| k.name.to_string())),
            });
        };
        let invalid = |reason: String| ConfigError::InvalidValue {
            key: declared.name.to_string(),
            value: value.to_string(),
            origin: origin.clone(),
            reason,
        };
        if declared.name == CLUSTER_SECRET_FILE {
            // The file stands for the secret itself: reading it here makes it take the
            // secret's place in the order of precedence, and its errors name the file.
            let secret = read_secret_file(Path::new(value)).map_err(invalid)?;
            self.set(CLUSTER_SECRET, &secret, origin.clone())?;
        }
        match self.settings.set(declared.name, value) {
            Some(parsed) => {
                parsed.map_err(invalid)?;
                self.settings_text.insert(declared.name, value.to_string());
                Ok(())
            }
            None => {
                declared.kind.check(value).map_err(invalid)?;
                self.stores
                    .set(declared.name, value)
                    .expect("every declared key but Ember's own is an object-store key");
                Ok(())
            }
        }
    }

    /// The object-store settings (`ember.s3.*`, `ember.gcs.*`, `ember.azure.*`,
    /// `ember.store.*`).
    pub fn store_options(&self) -> &StoreOptions {
        &self.stores
    }

    /// The `ember` extension of a session's DataFusion configuration: Ember's own keys as set
    /// here, and `stores` (this config's object-store settings, completed by the caller).
    /// `ember.memory.limit` shows the budget in effect ([`EmberConfig::memory_budget`]).
    pub fn session_options(&self, stores: StoreOptions) -> EmberOptions {
        let mut own = self.settings_text.clone();
        // The cluster secret proves this process's membership: it never leaves the process,
        // not even to the cluster it authenticates to.
        own.remove(CLUSTER_SECRET);
        own.insert(MEMORY_LIMIT, self.memory_budget().setting());
        EmberOptions::new(own, stores, self.sends_secrets())
    }

    /// Whether a session sends its object-store secrets (and the AWS credentials of its
    /// environment) with its jobs: under TLS (`ember.tls.cert` or `ember.cluster.secret` set),
    /// or when `ember.cluster.send.credentials` asks to in the clear. Otherwise its
    /// configuration lists them redacted (`SHOW ALL` too) and executors use their own.
    pub fn sends_secrets(&self) -> bool {
        self.cluster_send_credentials()
            || self.tls_cert().is_some()
            || self.cluster_secret().is_some()
    }

    /// The memory this process's queries and fits may hold: `ember.memory.limit` resolved
    /// against this machine's memory.
    pub fn memory_budget(&self) -> MemoryBudget {
        MemoryBudget::resolve(self.memory_limit(), machine_memory())
    }

    /// How this process authenticates to its cluster: the TLS files, or the shared secret;
    /// `None` when neither is set (plain TCP). Both set is an error, as is only some of the
    /// TLS files.
    pub fn cluster_auth(&self) -> Result<Option<ClusterAuth>, ConfigError> {
        match (self.tls_files()?, self.cluster_secret()) {
            (Some(_), Some(_)) => Err(ConfigError::ConflictingClusterAuth),
            (Some(files), None) => Ok(Some(ClusterAuth::Files(files))),
            (None, Some(secret)) => Ok(Some(ClusterAuth::Secret(secret.to_string()))),
            (None, None) => Ok(None),
        }
    }

    /// The TLS files when `ember.tls.cert`, `ember.tls.key` and `ember.tls.ca` are all set, `None`
    /// when none is; setting only some is an error naming the missing ones.
    fn tls_files(&self) -> Result<Option<TlsFiles>, ConfigError> {
        match (self.tls_cert(), self.tls_key(), self.tls_ca()) {
            (None, None, None) => Ok(None),
            (Some(cert), Some(key), Some(ca)) => Ok(Some(TlsFiles {
                cert: cert.to_path_buf(),
                key: key.to_path_buf(),
                ca: ca.to_path_buf(),
            })),
            (cert, key, ca) => {
                let missing: Vec<&str> = [(TLS_CERT, cert), (TLS_KEY, key), (TLS_CA, ca)]
                    .into_iter()
                    .filter(|(_, path)| path.is_none())
                    .map(|(name, _)| name)
                    .collect();
                Err(ConfigError::IncompleteTls {
                    missing: missing.join(", "),
                })
            }
        }
    }

    /// The `datafusion.*` entries that pass through to DataFusion, in key order.
    pub fn datafusion_options(&self) -> &BTreeMap<String, String> {
        &self.datafusion
    }

    /// The `ballista.*` entries for cluster sessions, in key order, with where each came from.
    /// Not validated yet: see [`option_error`] for the error a bad one gets.
    pub fn ballista_options(&self) -> &BTreeMap<String, (String, ConfigOrigin)> {
        &self.ballista
    }
}

/// The most a file of `ember.cluster.secret.file` may hold: a secret, not a document.
const MAX_SECRET_FILE_BYTES: u64 = 4096;

/// The secret in the file of `ember.cluster.secret.file`, without the newline that ends the
/// file (`openssl rand -hex 32 > file`); unreadable, short or long is an error saying so.
fn read_secret_file(path: &Path) -> Result<String, String> {
    use std::io::Read;
    let cannot_read = |error: std::io::Error| format!("cannot read it: {error}");
    let mut text = String::new();
    std::fs::File::open(path)
        .map_err(cannot_read)?
        .take(MAX_SECRET_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(cannot_read)?;
    if text.len() as u64 > MAX_SECRET_FILE_BYTES {
        return Err(format!(
            "it holds more than {MAX_SECRET_FILE_BYTES} bytes; the file holds the secret alone"
        ));
    }
    let secret = text
        .strip_suffix('\n')
        .map(|line| line.strip_suffix('\r').unwrap_or(line))
        .unwrap_or(&text);
    if secret.len() < MIN_SECRET_BYTES {
        return Err(format!(
            "it holds {} bytes; the secret needs at least {MIN_SECRET_BYTES} random bytes \
             (for example the output of `openssl rand -hex 32`)",
            secret.len()
        ));
    }
    Ok(secret.to_string())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::memory::MemoryLimit;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn command_line_beats_file_beats_environment() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ember-defaults.conf");
        std::fs::write(
            &file,
            "# defaults\nember.batch.size 1024\nember.memory.limit=2g\n",
        )
        .unwrap();
        let env = pairs(&[
            ("EMBER_BATCH_SIZE", "10"),
            ("EMBER_MEMORY_LIMIT", "1g"),
            ("EMBER_SQL_SHUFFLE_PARTITIONS", "3"),
            ("HOME", "/root"),
        ]);
        let cli = pairs(&[("ember.batch.size", "4096")]);
        let config = EmberConfig::load(env, Some(&file), &cli, ConfigOrigin::CommandLine).unwrap();
        assert_eq!(config.batch_size(), 4096);
        assert_eq!(config.memory_limit(), MemoryLimit::Bytes(2 << 30));
        assert_eq!(config.shuffle_partitions(), Some(3));
        assert_eq!(*config.master(), "local[*]".parse().unwrap());
    }

    #[test]
    fn submitted_configuration_beats_the_file_and_yields_to_explicit_pairs() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ember-defaults.conf");
        std::fs::write(&file, "ember.batch.size=1024\nember.memory.limit=2g\n").unwrap();
        let env = pairs(&[
            ("EMBER_SQL_SHUFFLE_PARTITIONS", "3"),
            (
                SUBMITTED_CONF_VAR,
                "# from ember submit\nember.memory.limit=3g\nember.master=local[1]\n\
                 datafusion.execution.batch_size=77\nember.batch.size=512",
            ),
        ]);
        let explicit = pairs(&[("ember.batch.size", "4096")]);
        let config =
            EmberConfig::load(env, Some(&file), &explicit, ConfigOrigin::CommandLine).unwrap();
        assert_eq!(config.memory_limit(), MemoryLimit::Bytes(3 << 30));
        assert_eq!(*config.master(), "local[1]".parse().unwrap());
        assert_eq!(config.shuffle_partitions(), Some(3));
        assert_eq!(config.batch_size(), 4096);
        assert_eq!(
            config
                .datafusion_options()
                .get("datafusion.execution.batch_size"),
            Some(&"77".to_string())
        );
        let bad = pairs(&[(SUBMITTED_CONF_VAR, "ember.batch.sise=1")]);
        let error = EmberConfig::load(bad, None, &[], ConfigOrigin::CommandLine).unwrap_err();
        assert!(error.to_string().contains("EMBER_CONF:1"), "{error}");
    }

    #[test]
    fn unknown_ember_key_names_source_and_nearest_key() {
        let cli = pairs(&[("ember.batch.sise", "10")]);
        let err = EmberConfig::load(vec![], None, &cli, ConfigOrigin::CommandLine).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown configuration key 'ember.batch.sise' (from --conf); did you mean 'ember.batch.size'?"
        );
    }

    #[test]
    fn unknown_environment_variable_is_an_error() {
        let env = pairs(&[("EMBER_MASTR", "local")]);
        let err = EmberConfig::load(env, None, &[], ConfigOrigin::CommandLine).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("EMBER_MASTR") && text.contains("EMBER_MASTER"),
            "{text}"
        );
    }

    #[test]
    fn datafusion_keys_pass_through_and_are_validated() {
        let mut config = EmberConfig::default();
        config
            .set(
                "datafusion.execution.parquet.pushdown_filters",
                "true",
                ConfigOrigin::Api,
            )
            .unwrap();
        assert_eq!(
            config.datafusion_options()["datafusion.execution.parquet.pushdown_filters"],
            "true"
        );
        let bad_value = config
            .set("datafusion.execution.batch_size", "many", ConfigOrigin::Api)
            .unwrap_err();
        assert!(
            matches!(bad_value, ConfigError::InvalidValue { .. }),
            "{bad_value}"
        );
        let bad_key = config
            .set("datafusion.execution.batch_sise", "1", ConfigOrigin::Api)
            .unwrap_err()
            .to_string();
        assert!(
            bad_key.contains("datafusion.execution.batch_size"),
            "{bad_key}"
        );
    }

    #[test]
    fn invalid_values_name_key_and_reason() {
        let mut config = EmberConfig::default();
        let err = config
            .set("ember.memory.limit", "lots", ConfigOrigin::CommandLine)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("'ember.memory.limit'") && err.contains("expected a size"),
            "{err}"
        );
        let err = config
            .set("ember.batch.size", "0", ConfigOrigin::CommandLine)
            .unwrap_err()
            .to_string();
        assert!(err.contains("at least 1"), "{err}");
        let err = config
            .set(SHUFFLE_PARTITIONS, "99999999", ConfigOrigin::CommandLine)
            .unwrap_err()
            .to_string();
        assert!(err.contains("at most 10000 partitions"), "{err}");
    }

    #[test]
    fn the_default_memory_budget_is_a_share_of_the_machine() {
        let config = EmberConfig::default();
        assert_eq!(config.memory_limit(), MemoryLimit::Share(70));
        let machine = machine_memory().unwrap();
        assert_eq!(config.memory_budget().bytes, Some(machine * 7 / 10));
        let mut unlimited = EmberConfig::default();
        unlimited
            .set(MEMORY_LIMIT, "unlimited", ConfigOrigin::CommandLine)
            .unwrap();
        assert_eq!(unlimited.memory_budget().bytes, None);
    }

    #[test]
    fn properties_file_syntax_error_names_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.conf");
        std::fs::write(&file, "ember.batch.size 10\nember.master\n").unwrap();
        let err = EmberConfig::default()
            .apply_properties_file(&file)
            .unwrap_err()
            .to_string();
        assert!(
            err.ends_with("bad.conf:2: expected 'key value' or 'key=value', found 'ember.master'"),
            "{err}"
        );
    }

    #[test]
    fn the_cluster_secret_authenticates_but_never_travels_with_a_job() {
        let secret = "7f3a9c0e5b2d4f6a8c1e3b5d7f9a0c2e";
        let mut config = EmberConfig::default();
        config
            .set(CLUSTER_SECRET, secret, ConfigOrigin::CommandLine)
            .unwrap();
        assert_eq!(
            config.cluster_auth().unwrap(),
            Some(ClusterAuth::Secret(secret.to_string()))
        );
        assert!(!format!("{:?}", config.cluster_auth().unwrap()).contains(secret));
        // Its session sends store secrets (the transport is TLS), but not the cluster secret.
        assert!(config.sends_secrets());
        let options = config.session_options(StoreOptions::default());
        let entries = datafusion::config::ExtensionOptions::entries(&options);
        assert!(entries
            .iter()
            .all(|entry| entry.value.as_deref() != Some(secret)));
        // Certificates and a secret are two ways of doing one thing.
        config
            .set(TLS_CERT, "node.crt", ConfigOrigin::CommandLine)
            .unwrap();
        config
            .set(TLS_KEY, "node.key", ConfigOrigin::CommandLine)
            .unwrap();
        config
            .set(TLS_CA, "ca.crt", ConfigOrigin::CommandLine)
            .unwrap();
        assert!(matches!(
            config.cluster_auth(),
            Err(ConfigError::ConflictingClusterAuth)
        ));
    }

    #[test]
    fn the_cluster_secret_can_come_from_a_file_whose_errors_name_it() {
        let secret = "7f3a9c0e5b2d4f6a8c1e3b5d7f9a0c2e";
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cluster.secret");
        std::fs::write(&file, format!("{secret}\n")).unwrap();
        let mut config = EmberConfig::default();
        let path = file.to_str().unwrap();
        config
            .set(CLUSTER_SECRET_FILE, path, ConfigOrigin::CommandLine)
            .unwrap();
        assert_eq!(
            config.cluster_auth().unwrap(),
            Some(ClusterAuth::Secret(secret.to_string()))
        );
        let options = config.session_options(StoreOptions::default());
        let entries = datafusion::config::ExtensionOptions::entries(&options);
        assert!(entries
            .iter()
            .all(|entry| !entry.value.as_deref().unwrap_or("").contains(secret)));

        std::fs::write(&file, "short\n").unwrap();
        let short = EmberConfig::default()
            .set(CLUSTER_SECRET_FILE, path, ConfigOrigin::CommandLine)
            .unwrap_err()
            .to_string();
        assert!(
            short.contains(path) && short.contains("holds 5 bytes"),
            "{short}"
        );
        std::fs::write(&file, "x".repeat(5000)).unwrap();
        let long = EmberConfig::default()
            .set(CLUSTER_SECRET_FILE, path, ConfigOrigin::CommandLine)
            .unwrap_err()
            .to_string();
        assert!(long.contains("more than 4096 bytes"), "{long}");
        let missing = dir.path().join("missing.secret");
        let missing = missing.to_str().unwrap();
        let unreadable = EmberConfig::default()
            .set(CLUSTER_SECRET_FILE, missing, ConfigOrigin::CommandLine)
            .unwrap_err()
            .to_string();
        assert!(
            unreadable.contains(missing) && unreadable.contains("cannot read it"),
            "{unreadable}"
        );
    }

    #[test]
    fn byte_sizes() {
        assert_eq!(parse_byte_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_byte_size("512m"), Ok(512 << 20));
        assert_eq!(parse_byte_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_byte_size("1.5g"), Ok(3 << 29));
        assert!(parse_byte_size("4x").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("10 parsecs").is_err());
        assert!(parse_duration("soon").is_err());
        // Beyond a year would overflow clock arithmetic (1e23 seconds panicked before).
        assert_eq!(
            parse_duration("8760h"),
            Ok(Duration::from_secs(8760 * 3600))
        );
        for huge in ["8761h", "100000000000000000000000", "1e400"] {
            assert!(parse_duration(huge).is_err(), "{huge}");
        }
    }
}
