//! # ember-core: what every Ember process is made of
//!
//! The bottom of Ember's own layers (above `ember-connectors` and `ember-mllib`, below the client
//! `ember-session` and the daemons of `ember-cluster`). It owns what a client, a scheduler and an
//! executor must agree on:
//!
//! - [`config`]: [`EmberConfig`], the one registry of `ember.*` keys (type, default, doc) and the
//!   layered loading of `--conf` pairs, properties files and `EMBER_*` variables;
//! - [`master`]: [`Master`], where a session's work runs (`local[N]` or `ember://host:port`);
//! - [`memory`]: the memory budget of a process, from `ember.memory.limit` and the machine;
//! - [`tls`]: mutual TLS settings for Ballista's hooks, from `ember.tls.*` or derived from the
//!   shared `ember.cluster.secret` ([`cluster_secret`]); [`connect`]: reaching a scheduler over
//!   them, with errors that say what to fix;
//! - [`state`]: [`session_state`], which turns a config into a DataFusion `SessionState` with
//!   Ember's defaults, memory pool and spilling, the Spark-compatible functions of
//!   `datafusion-spark` and Ember's ML functions registered beside DataFusion's built-ins, and
//!   Ember's [`optimizer`] rules.
//!
//! This layer knows nothing of sessions, scripts or the CLI, and starts no daemon.

pub mod cluster_secret;
pub mod config;
pub mod connect;
pub mod master;
pub mod memory;
pub mod optimizer;
pub mod plan_codec;
pub mod state;
pub mod tls;

pub use config::{ConfigError, ConfigOrigin, EmberConfig};
pub use connect::{check_handshake, check_reachable, ConnectError};
pub use master::{available_cores, InvalidMaster, Master};
pub use memory::{MemoryBudget, MemoryLimit};
pub use state::{session_state, Placement};
pub use tls::{ClusterAuth, Tls, TlsError};
