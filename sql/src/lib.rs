//! # ember-sql: the SQL layer
//!
//! Owns what a query engine session is made of, independent of where it runs:
//!
//! - [`config`]: [`EmberConfig`], the one registry of `ember.*` keys (type, default, doc) and the
//!   layered loading of `--conf` pairs, properties files and `EMBER_*` variables;
//! - [`state`]: [`session_state`], which turns a config into a DataFusion `SessionState` with
//!   Ember's defaults, memory pool and spilling, and the Spark-compatible functions of
//!   `datafusion-spark` registered beside DataFusion's built-ins.
//!
//! This layer knows nothing of master URLs, clusters or the CLI: the planner decides the
//! parallelism and passes it in.

pub mod config;
pub mod dynamic_filters;
pub mod filter_order;
pub mod join_sides;
pub mod semi_joins;
pub mod state;

pub use config::{ConfigError, ConfigOrigin, EmberConfig};
pub use state::{session_state, Placement};
