//! [`EmberError`]: everything a session can fail with, each message naming the input at fault.

use datafusion::error::DataFusionError;
use ember_connectors::ConnectorError;
use ember_core::{ConfigError, ConnectError, Master, TlsError};

/// Anything that can go wrong in a session. Each variant's message names the input at fault.
#[derive(Debug, thiserror::Error)]
pub enum EmberError {
    /// A configuration key or value is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The scheduler of an `ember://` master cannot be reached or refused this client.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The scheduler's status could not be read.
    #[error("cannot read the status of the cluster at {master}: {cause}")]
    ClusterStatus {
        /// The master.
        master: Master,
        /// What went wrong.
        cause: String,
    },
    /// The TLS files (`ember.tls.*`) cannot be used.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// A dataset cannot be opened.
    #[error(transparent)]
    Connector(#[from] ConnectorError),
    /// Planning or execution failed.
    #[error("{}", .0.message())]
    DataFusion(#[from] DataFusionError),
    /// Fitting, applying, saving or loading a model failed.
    #[error(transparent)]
    Ml(#[from] ember_mllib::MlError),
    /// A model statement or ML function is wrong, or names a model that does not exist.
    #[error("{0}")]
    ModelSql(String),
    /// A statement's expressions nest deeper than planning can follow (see
    /// [`crate::parse::MAX_EXPRESSION_DEPTH`]).
    #[error(
        "the statement's expressions nest deeper than {limit} levels (a chain of n ORs or n \
         terms of + nests n levels); write a long list of alternatives as IN (...), or split \
         the statement"
    )]
    TooDeep {
        /// The deepest nesting allowed.
        limit: usize,
    },
}

/// Ember's `Result`.
pub type Result<T, E = EmberError> = std::result::Result<T, E>;
