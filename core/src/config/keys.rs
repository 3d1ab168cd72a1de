//! Every `ember.*` key, declared once: its name, kind, default and documentation line. From the
//! one declaration of each key come its name constant, its typed field and default, its
//! accessor on [`EmberConfig`], its parsing, and its row in the README's table
//! ([`keys_markdown`]). The object-store keys are declared the same way where they are used, in
//! `ember_connectors::store_options`, and follow Ember's own keys in [`all_keys`].
//!
//! Adding a key is one entry in [`declare_keys!`]'s invocation below (plus its use).

use ember_connectors::store_options::STORE_KEYS;

use super::kind::{self, Kind, ValueKind};
use super::EmberConfig;

/// The declaration of one `ember.*` configuration key.
#[derive(Debug, Clone, Copy)]
pub struct ConfigKey {
    /// Full key name, e.g. `ember.batch.size`.
    pub name: &'static str,
    /// Type of the value.
    pub kind: ValueKind,
    /// Default, as text; `None` when there is none or it is computed (said in `doc`).
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

/// Generates, from one entry per key: the name constant, the [`OWN_KEYS`] table entry, the
/// typed field of [`Settings`] with its default, the arm that parses it, and its accessor on
/// [`EmberConfig`]. `default none` makes the field an `Option` and the accessor return one.
macro_rules! declare_keys {
    (@default_text none) => { None };
    (@default_text $default:literal) => { Some($default) };
    (@field_type $kind:ident, none) => { Option<<kind::$kind as Kind>::Value> };
    (@field_type $kind:ident, $default:literal) => { <kind::$kind as Kind>::Value };
    (@default_value $kind:ident, none) => { None };
    (@default_value $kind:ident, $default:literal) => {
        <kind::$kind as Kind>::parse($default)
            .expect(concat!("declared defaults parse (see the keys test): ", $default))
    };
    (@parse $kind:ident, none, $text:expr) => { <kind::$kind as Kind>::parse($text).map(Some) };
    (@parse $kind:ident, $default:literal, $text:expr) => { <kind::$kind as Kind>::parse($text) };
    (@view_type $kind:ident, none) => { Option<<kind::$kind as Kind>::View<'_>> };
    (@view_type $kind:ident, $default:literal) => { <kind::$kind as Kind>::View<'_> };
    (@view $kind:ident, none, $value:expr) => { $value.as_ref().map(<kind::$kind as Kind>::view) };
    (@view $kind:ident, $default:literal, $value:expr) => { <kind::$kind as Kind>::view(&$value) };
    ($($konst:ident = $name:literal, $field:ident: $kind:ident, default $default:tt, $doc:literal;)*) => {
        $(
            #[doc = concat!("`", $name, "`: ", $doc)]
            pub const $konst: &str = $name;
        )*

        /// Ember's own keys, in documentation order (the object-store keys follow them in
        /// [`all_keys`]).
        pub const OWN_KEYS: &[ConfigKey] = &[$(ConfigKey {
            name: $name,
            kind: <kind::$kind as Kind>::KIND,
            default: declare_keys!(@default_text $default),
            doc: $doc,
        }),*];

        /// The typed values of Ember's own keys.
        #[derive(Debug, Clone, PartialEq)]
        pub(super) struct Settings {
            $($field: declare_keys!(@field_type $kind, $default),)*
        }

        impl Default for Settings {
            fn default() -> Self {
                Self {
                    $($field: declare_keys!(@default_value $kind, $default),)*
                }
            }
        }

        impl Settings {
            /// Parses `text` into the key `name` (as declared): `None` when `name` is not one
            /// of Ember's own keys, else whether the text parsed (the reason when not).
            pub(super) fn set(&mut self, name: &str, text: &str) -> Option<Result<(), String>> {
                match name {
                    $($name => Some(
                        declare_keys!(@parse $kind, $default, text).map(|value| self.$field = value)
                    ),)*
                    _ => None,
                }
            }
        }

        impl EmberConfig {
            $(
                #[doc = concat!("`", $name, "`: ", $doc)]
                pub fn $field(&self) -> declare_keys!(@view_type $kind, $default) {
                    declare_keys!(@view $kind, $default, self.settings.$field)
                }
            )*
        }
    };
}

declare_keys! {
    MASTER = "ember.master", master: Master, default "local[*]",
        "Where jobs run: local (all cores), local[N], local[*], or ember://host:port";
    SHUFFLE_PARTITIONS = "ember.sql.shuffle.partitions", shuffle_partitions: Partitions, default none,
        "Partitions for joins, aggregations and repartitioning (default: the master's cores)";
    MEMORY_LIMIT = "ember.memory.limit", memory_limit: MemoryLimit, default "70%",
        "Memory for query execution and model fits, in each process (a local session, each executor): a size (4g), a share of the machine's memory or container limit (70%), or unlimited; beyond it operators spill to ember.local.dir";
    LOCAL_DIR = "ember.local.dir", local_dir: Path, default none,
        "Directory for spill files (default: the system temporary directory)";
    SCRATCH_DIR = "ember.scratch.dir", scratch_dir: Path, default none,
        "Cluster mode: directory, shared by the client, scheduler and every executor, where CREATE TABLE ... AS writes its Parquet files (removed when the session ends; default: ember-scratch in the system temporary directory)";
    ML_MODEL_DIR = "ember.ml.model.dir", ml_model_dir: Text, default "ember-models",
        "Where CREATE MODEL saves models, one directory each: a local path or an object-store URL such as s3://bucket/models";
    BATCH_SIZE = "ember.batch.size", batch_size: Count, default "8192",
        "Rows per record batch";
    CLUSTER_SEND_CREDENTIALS = "ember.cluster.send.credentials", cluster_send_credentials: Flag, default "false",
        "Cluster mode without TLS: send the client's object-store secrets (configured ember.s3.*, ember.gcs.*, ember.azure.* secrets, and the AWS_* variables and profile of its environment) to the scheduler and executors with each job, in the clear. With ember.tls.* or ember.cluster.secret set (the transport is then TLS) they are always sent. Otherwise jobs carry <redacted> and executors use their own credentials (environment, profile or instance role)";
    CLUSTER_CONNECT_TIMEOUT = "ember.cluster.connect.timeout", cluster_connect_timeout: Duration, default "10s",
        "How long a client (--master ember://) or an executor tries to reach the scheduler before failing";
    CLUSTER_EXECUTOR_TIMEOUT = "ember.cluster.executor.timeout", cluster_executor_timeout: Duration, default "30s",
        "Scheduler: an executor silent this long is lost; its tasks and shuffle outputs are recomputed on others";
    CLUSTER_HEARTBEAT_INTERVAL = "ember.cluster.heartbeat.interval", cluster_heartbeat_interval: Duration, default "5s",
        "Executor: how often it reports to the scheduler (keep well under ember.cluster.executor.timeout)";
    CLUSTER_TASK_MAX_FAILURES = "ember.cluster.task.max.failures", cluster_task_max_failures: Count, default "4",
        "Scheduler: attempts of a failing task before its job fails";
    CLUSTER_STAGE_MAX_FAILURES = "ember.cluster.stage.max.failures", cluster_stage_max_failures: Count, default "4",
        "Scheduler: attempts of a stage whose inputs were lost (a shuffle fetch failed) before its job fails";
    DRIVER_HOST = "ember.driver.host", driver_host: Text, default none,
        "Cluster mode: the address executors reach this client at, for the training tasks of tree fits (default: the address this machine reaches the scheduler from)";
    DRIVER_PORT = "ember.driver.port", driver_port: Port, default "0",
        "Cluster mode: the port this client listens on for the training tasks of tree fits (default 0: any free port; set one to open it in a firewall)";
    ML_TASKS_START_TIMEOUT = "ember.ml.tasks.start.timeout", ml_tasks_start_timeout: Duration, default "120s",
        "Cluster mode: how long a tree fit waits for every partition's training task to start (they run all at once), or for a lost one's replacement, before it fails";
    TLS_CERT = "ember.tls.cert", tls_cert: Path, default none,
        "Cluster mode: this process's certificate (PEM). With ember.tls.key and ember.tls.ca, clients, the scheduler and executors talk mutual TLS and refuse peers whose certificate the CA did not sign";
    TLS_KEY = "ember.tls.key", tls_key: Path, default none,
        "Cluster mode: the private key (PEM) of ember.tls.cert";
    TLS_CA = "ember.tls.ca", tls_ca: Path, default none,
        "Cluster mode: the certificate authority (PEM) every peer's certificate must be signed by";
    CLUSTER_SECRET = "ember.cluster.secret", cluster_secret: Secret, default none,
        "Cluster mode without certificates: a secret (at least 16 bytes; `openssl rand -hex 32`) shared by the client, the scheduler and every executor, from which each derives the cluster's mutual TLS. Peers without it are refused; it never leaves the process. Set it in ember.cluster.secret.file, EMBER_CLUSTER_SECRET or the properties file rather than on a command line, which other local users can read. Exclusive with ember.tls.*";
    CLUSTER_SECRET_FILE = "ember.cluster.secret.file", cluster_secret_file: Path, default none,
        "A file holding ember.cluster.secret (read when the key is set; one trailing newline is ignored), as Spark's spark.authenticate.secret.file: a mounted secret, never on a command line. Keep it readable by its user only";
}

/// Every `ember.*` key: Ember's own ([`OWN_KEYS`]), then the object-store keys of
/// `ember_connectors::store_options`.
pub fn all_keys() -> impl Iterator<Item = ConfigKey> {
    let store_keys = STORE_KEYS.iter().map(|key| ConfigKey {
        name: key.name,
        kind: key.kind.into(),
        default: key.default,
        doc: key.doc,
    });
    OWN_KEYS.iter().copied().chain(store_keys)
}

/// The declaration of `key` (case-insensitive), when it is an `ember.*` key.
pub fn declared_key(key: &str) -> Option<ConfigKey> {
    all_keys().find(|declared| declared.name.eq_ignore_ascii_case(key))
}

/// The documentation table of every `ember.*` key, in Markdown, generated from the
/// declarations; the README embeds it and a test keeps the two equal.
pub fn keys_markdown() -> String {
    let mut table = String::from(
        "| key | environment variable | type | default | meaning |\n| --- | --- | --- | --- | --- |\n",
    );
    for key in all_keys() {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_declared_default_parses_as_its_kind() {
        for key in all_keys() {
            if let Some(default) = key.default {
                assert_eq!(key.kind.check(default), Ok(()), "{}", key.name);
            }
        }
        // Building the typed defaults parses them again, into their fields.
        assert_eq!(Settings::default().batch_size, 8192);
    }

    #[test]
    fn names_are_unique_and_lower_case() {
        let names: Vec<&str> = all_keys().map(|key| key.name).collect();
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len());
        assert!(names
            .iter()
            .all(|name| name.starts_with("ember.") && *name == name.to_ascii_lowercase()));
    }
}
