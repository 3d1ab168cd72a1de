//! # Ember
//!
//! A distributed dataframe and classical-ML engine in the style of Apache Spark, built on
//! DataFusion. This crate is the facade: it re-exports what programs need.
//!
//! ```no_run
//! # async fn demo() -> ember::Result<()> {
//! use ember::Session;
//!
//! let session = Session::builder().master("local[2]").build()?;
//! let orders = session.read_parquet("data/orders.parquet").await?;
//! session.context().register_table("orders", orders.into_view())?;
//! session
//!     .sql("SELECT o_orderpriority, count(*) FROM orders GROUP BY 1 ORDER BY 1")
//!     .await?
//!     .show()
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! - [`Session`] and [`SessionBuilder`]: where work runs (`local[N]`), configuration, reading and
//!   registering datasets; queries return DataFusion [`DataFrame`](datafusion::dataframe::DataFrame)s.
//! - [`EmberConfig`] and [`config`]: the `ember.*` keys, their defaults and sources.
//! - [`FileFormatKind`]: the formats datasets are read in.
//! - [`ml`]: machine learning whose fits are distributed aggregates (`ember-mllib`):
//!   [`ml::Estimator`], [`ml::Model`], [`ml::StandardScaler`], [`ml::summarize`].
//! - [`script`]: SQL scripts split into statements with line numbers.
//! - [`datafusion`]: the DataFusion version Ember is built on, re-exported so programs use the same.

pub use datafusion;
pub use ember_connectors::{ConnectorError, FileFormatKind, WriteMode};
pub use ember_core::{config, memory, ConfigError, ConfigOrigin, EmberConfig};
pub use ember_mllib as ml;
pub use ember_session::{
    available_cores, ran_out_of_memory, scan_stats, script, ClusterStatus, EmberError,
    InvalidMaster, JobInfo, JobProgress, Master, Result, ScanStats, SchedulerApi, Session,
    SessionBuilder,
};
