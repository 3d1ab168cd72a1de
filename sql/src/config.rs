//! `EmberConfig`: every `ember.*` key declared once, loaded from layered sources.
//!
//! Sources, lowest precedence first: `EMBER_*` environment variables, a properties file
//! (`conf/ember-defaults.conf` by default), then explicit pairs (`--conf key=value` on the command
//! line or `Session::builder().config(..)`). A later layer overrides an earlier one.
//!
//! `ember.*` keys must be declared in [`KEYS`]; an unknown one is an error that names its source and
//! the nearest valid key. `datafusion.*` keys pass through to DataFusion's `ConfigOptions`, which
//! validates them when they are set.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use datafusion::config::ConfigOptions;
pub use ember_connectors::parse_duration;
use ember_connectors::store_options::*;
use ember_connectors::StoreOptions;

/// What kind of value a key holds; decides how its text is validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// Free text, interpreted by the layer that uses it (e.g. master URLs in the planner).
    Text,
    /// A positive integer.
    Count,
    /// A byte size such as `512m`, `4g`, `2GiB` or `1048576`.
    ByteSize,
    /// A filesystem path.
    Path,
    /// A duration such as `10s`, `500ms` or `2m`.
    Duration,
    /// `true` or `false`.
    Flag,
    /// Text that is a credential: never printed.
    Secret,
}

/// The declaration of one `ember.*` configuration key: its name, type, default and documentation.
#[derive(Debug)]
pub struct ConfigKey {
    /// Full key name, e.g. `ember.batch.size`.
    pub name: &'static str,
    /// Type of the value.
    pub kind: ValueKind,
    /// Default, as text; `None` when the default is computed (documented in `doc`).
    pub default: Option<&'static str>,
    /// One-line description, shown in the README's configuration table.
    pub doc: &'static str,
}

impl ConfigKey {
    /// The environment variable that sets this key: `ember.sql.shuffle.partitions` is
    /// `EMBER_SQL_SHUFFLE_PARTITIONS`.
    pub fn env_var(&self) -> String {
        self.name.to_ascii_uppercase().replace('.', "_")
    }
}

/// Key for the master URL.
pub const MASTER: &str = "ember.master";
/// Key for the number of partitions used by shuffles, joins and aggregations.
pub const SHUFFLE_PARTITIONS: &str = "ember.sql.shuffle.partitions";
/// Key for the memory limit of query execution.
pub const MEMORY_LIMIT: &str = "ember.memory.limit";
/// Key for the directory used for spill files.
pub const LOCAL_DIR: &str = "ember.local.dir";
/// Key for where a cluster session materializes tables (`CREATE TABLE ... AS`).
pub const SCRATCH_DIR: &str = "ember.scratch.dir";
/// Key for where `CREATE MODEL` saves models.
pub const ML_MODEL_DIR: &str = "ember.ml.model.dir";
/// Key for the number of rows per record batch.
pub const BATCH_SIZE: &str = "ember.batch.size";
/// Key for how long a client waits to reach a cluster's scheduler.
pub const CLUSTER_CONNECT_TIMEOUT: &str = "ember.cluster.connect.timeout";
/// Key for how long a scheduler waits for an executor's heartbeat before declaring it lost.
pub const CLUSTER_EXECUTOR_TIMEOUT: &str = "ember.cluster.executor.timeout";
/// Key for how often an executor sends its heartbeat to the scheduler.
pub const CLUSTER_HEARTBEAT_INTERVAL: &str = "ember.cluster.heartbeat.interval";
/// Key for this process's TLS certificate (PEM), for mutual TLS between clients and cluster daemons.
pub const TLS_CERT: &str = "ember.tls.cert";
/// Key for the private key (PEM) of [`TLS_CERT`].
pub const TLS_KEY: &str = "ember.tls.key";
/// Key for the certificate authority (PEM) that every peer's certificate must be signed by.
pub const TLS_CA: &str = "ember.tls.ca";
/// Key for how many times a task may fail before its job fails.
pub const CLUSTER_TASK_MAX_FAILURES: &str = "ember.cluster.task.max.failures";
/// Key for how many times a stage may be rerun, after its inputs were lost, before its job fails.
pub const CLUSTER_STAGE_MAX_FAILURES: &str = "ember.cluster.stage.max.failures";

/// Every `ember.*` key, declared once. Documentation (README, error hints) derives from this list.
pub const KEYS: &[ConfigKey] = &[
    ConfigKey {
        name: MASTER,
        kind: ValueKind::Text,
        default: Some("local[*]"),
        doc: "Where jobs run: local (all cores), local[N], local[*], or ember://host:port",
    },
    ConfigKey {
        name: SHUFFLE_PARTITIONS,
        kind: ValueKind::Count,
        default: None,
        doc: "Partitions for joins, aggregations and repartitioning (default: the master's cores)",
    },
    ConfigKey {
        name: MEMORY_LIMIT,
        kind: ValueKind::ByteSize,
        default: None,
        doc: "Memory limit for query execution, e.g. 4g; operators spill to ember.local.dir beyond it (default: unlimited)",
    },
    ConfigKey {
        name: LOCAL_DIR,
        kind: ValueKind::Path,
        default: None,
        doc: "Directory for spill files (default: the system temporary directory)",
    },
    ConfigKey {
        name: SCRATCH_DIR,
        kind: ValueKind::Path,
        default: None,
        doc: "Cluster mode: directory, shared by the client, scheduler and every executor, where CREATE TABLE ... AS writes its Parquet files (removed when the session ends; default: ember-scratch in the system temporary directory)",
    },
    ConfigKey {
        name: ML_MODEL_DIR,
        kind: ValueKind::Text,
        default: Some("ember-models"),
        doc: "Where CREATE MODEL saves models, one directory each: a local path or an object-store URL such as s3://bucket/models",
    },
    ConfigKey {
        name: BATCH_SIZE,
        kind: ValueKind::Count,
        default: Some("8192"),
        doc: "Rows per record batch",
    },
    ConfigKey {
        name: CLUSTER_CONNECT_TIMEOUT,
        kind: ValueKind::Duration,
        default: Some("10s"),
        doc: "How long a client (--master ember://) or an executor tries to reach the scheduler before failing",
    },
    ConfigKey {
        name: CLUSTER_EXECUTOR_TIMEOUT,
        kind: ValueKind::Duration,
        default: Some("30s"),
        doc: "Scheduler: an executor silent this long is lost; its tasks and shuffle outputs are recomputed on others",
    },
    ConfigKey {
        name: CLUSTER_HEARTBEAT_INTERVAL,
        kind: ValueKind::Duration,
        default: Some("5s"),
        doc: "Executor: how often it reports to the scheduler (keep well under ember.cluster.executor.timeout)",
    },
    ConfigKey {
        name: CLUSTER_TASK_MAX_FAILURES,
        kind: ValueKind::Count,
        default: Some("4"),
        doc: "Scheduler: attempts of a failing task before its job fails",
    },
    ConfigKey {
        name: CLUSTER_STAGE_MAX_FAILURES,
        kind: ValueKind::Count,
        default: Some("4"),
        doc: "Scheduler: attempts of a stage whose inputs were lost (a shuffle fetch failed) before its job fails",
    },
    ConfigKey {
        name: TLS_CERT,
        kind: ValueKind::Path,
        default: None,
        doc: "Cluster mode: this process's certificate (PEM). With ember.tls.key and ember.tls.ca, clients, the scheduler and executors talk mutual TLS and refuse peers whose certificate the CA did not sign",
    },
    ConfigKey {
        name: TLS_KEY,
        kind: ValueKind::Path,
        default: None,
        doc: "Cluster mode: the private key (PEM) of ember.tls.cert",
    },
    ConfigKey {
        name: TLS_CA,
        kind: ValueKind::Path,
        default: None,
        doc: "Cluster mode: the certificate authority (PEM) every peer's certificate must be signed by",
    },
    ConfigKey {
        name: S3_ENDPOINT,
        kind: ValueKind::Text,
        default: None,
        doc: "s3:// locations: endpoint of an S3-compatible store, e.g. http://127.0.0.1:9000 (default: AWS_ENDPOINT_URL, else AWS)",
    },
    ConfigKey {
        name: S3_REGION,
        kind: ValueKind::Text,
        default: None,
        doc: "s3:// locations: region (default: AWS_REGION, AWS_DEFAULT_REGION or the profile's)",
    },
    ConfigKey {
        name: S3_ACCESS_KEY_ID,
        kind: ValueKind::Text,
        default: None,
        doc: "s3:// locations: access key id (default: AWS_ACCESS_KEY_ID, else the profile's). Resolved where the session starts and sent with its jobs to the cluster",
    },
    ConfigKey {
        name: S3_SECRET_ACCESS_KEY,
        kind: ValueKind::Secret,
        default: None,
        doc: "s3:// locations: secret access key (default: AWS_SECRET_ACCESS_KEY, else the profile's)",
    },
    ConfigKey {
        name: S3_SESSION_TOKEN,
        kind: ValueKind::Secret,
        default: None,
        doc: "s3:// locations: session token of temporary credentials (default: AWS_SESSION_TOKEN, else the profile's)",
    },
    ConfigKey {
        name: S3_PATH_STYLE,
        kind: ValueKind::Flag,
        default: Some("true"),
        doc: "s3:// locations: path-style requests (endpoint/bucket/key); false for virtual-hosted style (bucket.endpoint/key)",
    },
    ConfigKey {
        name: S3_PROFILE,
        kind: ValueKind::Text,
        default: None,
        doc: "s3:// locations: the profile of ~/.aws/credentials and ~/.aws/config to take credentials and region from (default: AWS_PROFILE, else default)",
    },
    ConfigKey {
        name: GCS_SERVICE_ACCOUNT_PATH,
        kind: ValueKind::Path,
        default: None,
        doc: "gs:// locations: service-account JSON file (default: GOOGLE_APPLICATION_CREDENTIALS)",
    },
    ConfigKey {
        name: GCS_SERVICE_ACCOUNT_KEY,
        kind: ValueKind::Secret,
        default: None,
        doc: "gs:// locations: service-account key, the JSON itself",
    },
    ConfigKey {
        name: AZURE_ACCOUNT_NAME,
        kind: ValueKind::Text,
        default: None,
        doc: "az:// and abfss:// locations: storage account (default: AZURE_STORAGE_ACCOUNT_NAME)",
    },
    ConfigKey {
        name: AZURE_ACCOUNT_KEY,
        kind: ValueKind::Secret,
        default: None,
        doc: "az:// and abfss:// locations: storage account key (default: AZURE_STORAGE_ACCOUNT_KEY)",
    },
    ConfigKey {
        name: AZURE_ENDPOINT,
        kind: ValueKind::Text,
        default: None,
        doc: "az:// and abfss:// locations: endpoint, e.g. an Azurite emulator's",
    },
    ConfigKey {
        name: STORE_CONNECT_TIMEOUT,
        kind: ValueKind::Duration,
        default: Some("5s"),
        doc: "Object stores: how long opening a connection may take",
    },
    ConfigKey {
        name: STORE_REQUEST_TIMEOUT,
        kind: ValueKind::Duration,
        default: Some("30s"),
        doc: "Object stores: how long one request may take",
    },
    ConfigKey {
        name: STORE_MAX_RETRIES,
        kind: ValueKind::Count,
        default: Some("5"),
        doc: "Object stores: retries of a failed request (with exponential backoff)",
    },
    ConfigKey {
        name: STORE_RETRY_TIMEOUT,
        kind: ValueKind::Duration,
        default: Some("30s"),
        doc: "Object stores: how long a failing request keeps being retried, so an unreachable store fails within about this time",
    },
];

/// The documentation table of every `ember.*` key, in Markdown, generated from [`KEYS`]; the
/// README embeds it and a test keeps the two equal.
pub fn keys_markdown() -> String {
    let mut table = String::from(
        "| key | environment variable | type | default | meaning |\n| --- | --- | --- | --- | --- |\n",
    );
    for key in KEYS {
        table.push_str(&format!(
            "| `{}` | `{}` | {} | {} | {} |\n",
            key.name,
            key.env_var(),
            key.kind.describe(),
            key.default.map_or("—".to_string(), |d| format!("`{d}`")),
            key.doc
        ));
    }
    table
}

/// Where a configuration entry came from; named in every configuration error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigOrigin {
    /// `--conf key=value` on the command line.
    CommandLine,
    /// `Session::builder().config(key, value)` or another programmatic setter.
    Api,
    /// A line of a properties file.
    File {
        /// The properties file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
    },
    /// An `EMBER_*` environment variable.
    Env(String),
    /// A `SET key = value` statement.
    Sql,
}

impl fmt::Display for ConfigOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigOrigin::CommandLine => write!(f, "--conf"),
            ConfigOrigin::Api => write!(f, "the session builder"),
            ConfigOrigin::File { path, line } => write!(f, "{}:{line}", path.display()),
            ConfigOrigin::Env(var) => write!(f, "environment variable {var}"),
            ConfigOrigin::Sql => write!(f, "SET"),
        }
    }
}

/// A configuration problem. Every variant names the key or file at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A key that is neither a declared `ember.*` key nor a known `datafusion.*` or `ballista.*`
    /// key.
    #[error("unknown configuration key '{key}' (from {origin}){}", hint(.suggestion))]
    UnknownKey {
        /// The key as given.
        key: String,
        /// Where it came from.
        origin: ConfigOrigin,
        /// The nearest valid key, if one is close.
        suggestion: Option<String>,
    },
    /// A value that does not parse for its key.
    #[error("invalid value '{value}' for '{key}' (from {origin}): {reason}")]
    InvalidValue {
        /// The key.
        key: String,
        /// The value as given.
        value: String,
        /// Where it came from.
        origin: ConfigOrigin,
        /// Why it is invalid.
        reason: String,
    },
    /// Some but not all of the TLS keys are set.
    #[error("mutual TLS needs ember.tls.cert, ember.tls.key and ember.tls.ca together; missing: {missing}")]
    IncompleteTls {
        /// The keys not set.
        missing: String,
    },
    /// A `SET` of a key that is read once, when the session starts.
    #[error("'{key}' is read once, when the session starts: set it with --conf, EMBER_* or the session builder, not SET")]
    FixedAtStart {
        /// The key.
        key: String,
    },
    /// A properties file that cannot be read.
    #[error("cannot read properties file {path}: {cause}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// A properties-file line that is not `key value` or `key=value`.
    #[error("{}:{line}: expected 'key value' or 'key=value', found '{text}'", .path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The offending line.
        text: String,
    },
}

fn hint(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(key) => format!("; did you mean '{key}'?"),
        None => String::new(),
    }
}

/// The files of mutual TLS (`ember.tls.*`), all PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// This process's certificate.
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
    /// The authority every peer's certificate must be signed by.
    pub ca: PathBuf,
}

/// Ember's typed configuration. Build it with [`EmberConfig::set`] per layer, or [`EmberConfig::load`].
#[derive(Debug, Clone, PartialEq)]
pub struct EmberConfig {
    master: String,
    shuffle_partitions: Option<usize>,
    memory_limit: Option<u64>,
    local_dir: Option<PathBuf>,
    scratch_dir: Option<PathBuf>,
    ml_model_dir: String,
    batch_size: usize,
    cluster_connect_timeout: Duration,
    cluster_executor_timeout: Duration,
    cluster_heartbeat_interval: Duration,
    cluster_task_max_failures: usize,
    cluster_stage_max_failures: usize,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    tls_ca: Option<PathBuf>,
    datafusion: BTreeMap<String, String>,
    ballista: BTreeMap<String, (String, ConfigOrigin)>,
    stores: StoreOptions,
}

impl Default for EmberConfig {
    fn default() -> Self {
        Self {
            master: "local[*]".to_string(),
            shuffle_partitions: None,
            memory_limit: None,
            local_dir: None,
            scratch_dir: None,
            ml_model_dir: "ember-models".to_string(),
            batch_size: 8192,
            cluster_connect_timeout: Duration::from_secs(10),
            cluster_executor_timeout: Duration::from_secs(30),
            cluster_heartbeat_interval: Duration::from_secs(5),
            cluster_task_max_failures: 4,
            cluster_stage_max_failures: 4,
            tls_cert: None,
            tls_key: None,
            tls_ca: None,
            datafusion: BTreeMap::new(),
            ballista: BTreeMap::new(),
            stores: StoreOptions::default(),
        }
    }
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
            match KEYS.iter().find(|key| key.env_var() == var) {
                Some(key) => self.set(key.name, &value, origin)?,
                None => {
                    return Err(ConfigError::UnknownKey {
                        suggestion: nearest(&var, KEYS.iter().map(|k| k.env_var())),
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
        let Some(declared) = KEYS.iter().find(|k| k.name.eq_ignore_ascii_case(key)) else {
            return Err(ConfigError::UnknownKey {
                key: key.to_string(),
                origin,
                suggestion: nearest(key, KEYS.iter().map(|k| k.name.to_string())),
            });
        };
        let invalid = |reason: String| ConfigError::InvalidValue {
            key: declared.name.to_string(),
            value: value.to_string(),
            origin: origin.clone(),
            reason,
        };
        let parsed = parse_value(declared.kind, value).map_err(invalid)?;
        if STORE_KEYS.contains(&declared.name) {
            self.stores
                .set(declared.name, value)
                .expect("every store key is declared in KEYS");
            return Ok(());
        }
        match (declared.name, parsed) {
            (MASTER, Value::Text(master)) => self.master = master,
            (SHUFFLE_PARTITIONS, Value::Count(n)) => self.shuffle_partitions = Some(n),
            (MEMORY_LIMIT, Value::Bytes(bytes)) => self.memory_limit = Some(bytes),
            (LOCAL_DIR, Value::Path(dir)) => self.local_dir = Some(dir),
            (SCRATCH_DIR, Value::Path(dir)) => self.scratch_dir = Some(dir),
            (ML_MODEL_DIR, Value::Text(dir)) => self.ml_model_dir = dir,
            (BATCH_SIZE, Value::Count(n)) => self.batch_size = n,
            (CLUSTER_CONNECT_TIMEOUT, Value::Duration(timeout)) => {
                self.cluster_connect_timeout = timeout
            }
            (CLUSTER_EXECUTOR_TIMEOUT, Value::Duration(timeout)) => {
                self.cluster_executor_timeout = timeout
            }
            (CLUSTER_HEARTBEAT_INTERVAL, Value::Duration(interval)) => {
                self.cluster_heartbeat_interval = interval
            }
            (CLUSTER_TASK_MAX_FAILURES, Value::Count(n)) => self.cluster_task_max_failures = n,
            (CLUSTER_STAGE_MAX_FAILURES, Value::Count(n)) => self.cluster_stage_max_failures = n,
            (TLS_CERT, Value::Path(path)) => self.tls_cert = Some(path),
            (TLS_KEY, Value::Path(path)) => self.tls_key = Some(path),
            (TLS_CA, Value::Path(path)) => self.tls_ca = Some(path),
            (other, _) => unreachable!("key {other}: its declaration in KEYS and set() disagree"),
        }
        Ok(())
    }

    /// The master URL text (`ember.master`); the planner interprets it.
    pub fn master(&self) -> &str {
        &self.master
    }

    /// `ember.sql.shuffle.partitions`, when set.
    pub fn shuffle_partitions(&self) -> Option<usize> {
        self.shuffle_partitions
    }

    /// `ember.memory.limit` in bytes, when set.
    pub fn memory_limit(&self) -> Option<u64> {
        self.memory_limit
    }

    /// `ember.local.dir`, when set.
    pub fn local_dir(&self) -> Option<&Path> {
        self.local_dir.as_deref()
    }

    /// `ember.scratch.dir`, else `ember-scratch` in the system temporary directory.
    pub fn scratch_dir(&self) -> PathBuf {
        self.scratch_dir
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join("ember-scratch"))
    }

    /// `ember.ml.model.dir`.
    pub fn ml_model_dir(&self) -> &str {
        &self.ml_model_dir
    }

    /// `ember.batch.size`.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// The object-store settings (`ember.s3.*`, `ember.gcs.*`, `ember.azure.*`,
    /// `ember.store.*`).
    pub fn store_options(&self) -> &StoreOptions {
        &self.stores
    }

    /// `ember.cluster.connect.timeout`.
    pub fn cluster_connect_timeout(&self) -> Duration {
        self.cluster_connect_timeout
    }

    /// `ember.cluster.executor.timeout`.
    pub fn cluster_executor_timeout(&self) -> Duration {
        self.cluster_executor_timeout
    }

    /// `ember.cluster.heartbeat.interval`.
    pub fn cluster_heartbeat_interval(&self) -> Duration {
        self.cluster_heartbeat_interval
    }

    /// `ember.cluster.task.max.failures`.
    pub fn cluster_task_max_failures(&self) -> usize {
        self.cluster_task_max_failures
    }

    /// `ember.cluster.stage.max.failures`.
    pub fn cluster_stage_max_failures(&self) -> usize {
        self.cluster_stage_max_failures
    }

    /// The TLS files when `ember.tls.cert`, `ember.tls.key` and `ember.tls.ca` are all set, `None`
    /// when none is; setting only some is an error naming the missing ones.
    pub fn tls_files(&self) -> Result<Option<TlsFiles>, ConfigError> {
        match (&self.tls_cert, &self.tls_key, &self.tls_ca) {
            (None, None, None) => Ok(None),
            (Some(cert), Some(key), Some(ca)) => Ok(Some(TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
                ca: ca.clone(),
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

fn datafusion_key_error(
    key: &str,
    value: &str,
    origin: ConfigOrigin,
    error: datafusion::error::DataFusionError,
) -> ConfigError {
    let known = ConfigOptions::new()
        .entries()
        .into_iter()
        .map(|entry| entry.key);
    option_error(key, value, origin, known, &error)
}

/// The error for a pass-through option (`datafusion.*`, `ballista.*`) that its library refused
/// with `error`: an unknown key (with the nearest of `known` keys) or an invalid value.
pub fn option_error(
    key: &str,
    value: &str,
    origin: ConfigOrigin,
    known: impl Iterator<Item = String>,
    error: &datafusion::error::DataFusionError,
) -> ConfigError {
    let known: Vec<String> = known.collect();
    if known.iter().any(|k| k == key) {
        ConfigError::InvalidValue {
            key: key.to_string(),
            value: value.to_string(),
            origin,
            reason: error.strip_backtrace(),
        }
    } else {
        ConfigError::UnknownKey {
            key: key.to_string(),
            origin,
            suggestion: nearest(key, known.into_iter()),
        }
    }
}

/// The candidate closest to `given` by edit distance, if it is plausibly a typo of it.
fn nearest(given: &str, candidates: impl Iterator<Item = String>) -> Option<String> {
    let given = given.to_ascii_lowercase();
    candidates
        .map(|c| (strsim::levenshtein(&given, &c.to_ascii_lowercase()), c))
        .min_by_key(|(distance, _)| *distance)
        .filter(|(distance, candidate)| *distance <= candidate.len() / 2)
        .map(|(_, candidate)| candidate)
}

/// A value parsed according to its key's [`ValueKind`].
enum Value {
    Text(String),
    Count(usize),
    Bytes(u64),
    Path(PathBuf),
    Duration(Duration),
    Flag,
}

fn parse_value(kind: ValueKind, value: &str) -> Result<Value, String> {
    match kind {
        ValueKind::Text | ValueKind::Secret if value.is_empty() => Err("must not be empty".into()),
        ValueKind::Text | ValueKind::Secret => Ok(Value::Text(value.to_string())),
        ValueKind::Flag if ["true", "false"].contains(&value.to_ascii_lowercase().as_str()) => {
            Ok(Value::Flag)
        }
        ValueKind::Flag => Err("expected true or false".into()),
        ValueKind::Count => parse_count(value).map(Value::Count),
        ValueKind::ByteSize => parse_byte_size(value).map(Value::Bytes),
        ValueKind::Path if value.is_empty() => Err("must not be empty".into()),
        ValueKind::Path => Ok(Value::Path(PathBuf::from(value))),
        ValueKind::Duration => parse_duration(value).map(Value::Duration),
    }
}

impl ValueKind {
    /// How the README's configuration table names this kind.
    fn describe(self) -> &'static str {
        match self {
            ValueKind::Text => "text",
            ValueKind::Count => "positive integer",
            ValueKind::ByteSize => "size (512m, 4g)",
            ValueKind::Path => "path",
            ValueKind::Duration => "duration (500ms, 10s, 2m)",
            ValueKind::Flag => "true or false",
            ValueKind::Secret => "text (secret, never printed)",
        }
    }
}

fn parse_count(value: &str) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err("expected a positive integer".into()),
    }
}

/// Parses sizes like `1048576`, `512k`, `512m`, `4g`, `4gb`, `2GiB`, `1t` (binary multiples).
pub fn parse_byte_size(value: &str) -> Result<u64, String> {
    let text = value.trim().to_ascii_lowercase();
    let digits_end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits_end);
    let number: f64 = number
        .parse()
        .map_err(|_| "expected a size such as 512m, 4g or 1073741824".to_string())?;
    let multiplier: u64 = match unit.trim() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        other => return Err(format!("unknown size unit '{other}' (use k, m, g or t)")),
    };
    let bytes = number * multiplier as f64;
    if bytes < 1.0 {
        return Err("must be at least 1 byte".into());
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(config.memory_limit(), Some(2 << 30));
        assert_eq!(config.shuffle_partitions(), Some(3));
        assert_eq!(config.master(), "local[*]");
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
        assert_eq!(config.memory_limit(), Some(3 << 30));
        assert_eq!(config.master(), "local[1]");
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
    }
}
