//! # ember-session: the client
//!
//! What a program, `ember sql` or `ember submit` talks to. Above `ember-core` (configuration,
//! masters, TLS, session state) and `ember-mllib`; the cluster daemons never depend on it.
//!
//! - [`Session`] ([`session`]): the entry point. Built from an [`ember_core::EmberConfig`] and a
//!   [`Master`]: `local[N]` runs embedded on a DataFusion context with N partitions.
//!   It reads and registers datasets through `ember-connectors` and returns DataFusion
//!   `DataFrame`s, not wrappers. `ember://host:port` plans here and runs on an `ember scheduler`
//!   and its executors ([`cluster`]), from the same configuration. [`EmberError`] ([`error`]):
//!   what it fails with.
//! - [`cluster_status`]: a cluster's executors and jobs, from its scheduler's REST API.
//! - [`scan_stats`]: files, row groups and bytes a plan's scans read and skipped.
//! - [`scratch`]: tables a cluster session materializes (`CREATE TABLE ... AS`,
//!   [`Session::cache`]) as Parquet in `ember.scratch.dir`.
//! - [`models`]: ML from SQL — `CREATE MODEL`, `SHOW MODELS`, `DESCRIBE MODEL`, `DROP MODEL`,
//!   `ml_predict`, `ml_evaluate`, `ml_predict_value` — over saved models in `ember.ml.model.dir`.
//! - [`training_cache`]: a fit's rows computed once ([`Session::cache`] in one process), in memory
//!   reserved from the pool or spilled to Arrow IPC files beyond the budget.
//! - [`write`]: atomic `COPY ... TO` and [`Session::write`], with save modes.
//! - [`script`]: SQL scripts split into statements with their line numbers, for `ember sql -f`
//!   and submitted jobs.
//!
//! This layer decides where work runs; it does not print, parse command lines or know the CLI.

pub mod cluster;
pub mod cluster_status;
pub mod error;
pub mod models;
pub mod parse;
pub mod scan_stats;
pub mod scratch;
pub mod script;
pub mod session;
pub mod training_cache;
pub mod write;

pub use cluster_status::{ClusterStatus, JobInfo, JobProgress, SchedulerApi};
pub use ember_core::{available_cores, InvalidMaster, Master};
pub use error::{EmberError, Result};
pub use scan_stats::ScanStats;
pub use script::{split_statements, ScriptStatement, ScriptSyntaxError};
pub use session::{ran_out_of_memory, Session, SessionBuilder};
