//! # ember-planner: sessions and jobs
//!
//! - [`Session`] ([`session`]): the entry point. Built from an [`ember_sql::EmberConfig`] and a
//!   [`Master`] ([`master`]): `local[N]` runs embedded on a DataFusion context with N partitions.
//!   It reads and registers datasets through `ember-connectors` and returns DataFusion
//!   `DataFrame`s, not wrappers. `ember://host:port` plans here and runs on an `ember scheduler`
//!   and its executors ([`cluster`]), from the same configuration.
//! - [`cluster_status`]: a cluster's executors and jobs, from its scheduler.
//! - [`scan_stats`]: files, row groups and bytes a plan's scans read and skipped.
//! - [`scratch`]: tables a cluster session materializes (`CREATE TABLE ... AS`,
//!   [`Session::cache`]) as Parquet in `ember.scratch.dir`.
//! - [`models`]: ML from SQL — `CREATE MODEL`, `SHOW MODELS`, `DESCRIBE MODEL`, `DROP MODEL`,
//!   `ml_predict`, `ml_evaluate`, `ml_predict_value` — over saved models in `ember.ml.model.dir`.
//! - [`write`]: atomic `COPY ... TO` and [`Session::write`], with save modes.
//! - [`tls`]: mutual TLS settings for Ballista's hooks, from `ember.tls.*`.
//! - [`script`]: SQL scripts split into statements with their line numbers, for `ember sql -f`
//!   and submitted jobs.
//!
//! This layer decides where work runs; it does not print, parse command lines or know the CLI.

pub mod cluster;
pub mod cluster_status;
pub mod master;
pub mod models;
pub mod scan_stats;
pub mod scratch;
pub mod script;
pub mod session;
pub mod tls;
pub mod write;

pub use cluster_status::{
    cancel_job, cluster_status, job_progress, list_jobs, ClusterStatus, JobInfo, JobProgress,
};
pub use master::{available_cores, InvalidMaster, Master};
pub use scan_stats::ScanStats;
pub use script::{split_statements, ScriptStatement, ScriptSyntaxError};
pub use session::{EmberError, Result, Session, SessionBuilder};
