//! What configuration errors say: where an entry came from ([`ConfigOrigin`]) and what is wrong
//! with it ([`ConfigError`]), with the nearest valid key for a typo.

use std::fmt;
use std::path::PathBuf;

use datafusion::config::ConfigOptions;

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
    /// A command-line flag that sets a key, such as `--master`.
    Flag(&'static str),
}

impl fmt::Display for ConfigOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigOrigin::CommandLine => write!(f, "--conf"),
            ConfigOrigin::Api => write!(f, "the session builder"),
            ConfigOrigin::File { path, line } => write!(f, "{}:{line}", path.display()),
            ConfigOrigin::Env(var) => write!(f, "environment variable {var}"),
            ConfigOrigin::Sql => write!(f, "SET"),
            ConfigOrigin::Flag(flag) => write!(f, "{flag}"),
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
    /// Both ways of authenticating a cluster are set.
    #[error(
        "set either ember.tls.* (certificates) or ember.cluster.secret (a shared secret), not both"
    )]
    ConflictingClusterAuth,
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

pub(super) fn datafusion_key_error(
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
pub(super) fn nearest(given: &str, candidates: impl Iterator<Item = String>) -> Option<String> {
    let given = given.to_ascii_lowercase();
    candidates
        .map(|c| (strsim::levenshtein(&given, &c.to_ascii_lowercase()), c))
        .min_by_key(|(distance, _)| *distance)
        .filter(|(distance, candidate)| *distance <= candidate.len() / 2)
        .map(|(_, candidate)| candidate)
}
