//! Construction of the DataFusion `SessionState` every Ember session runs on.

use std::sync::Arc;

use datafusion::error::Result;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionState;
use datafusion::execution::SessionStateBuilder;
use datafusion::prelude::SessionConfig;
use datafusion_spark::SessionStateBuilderSpark;

use crate::config::EmberConfig;
use crate::dynamic_filters::FilterDynamicallyAboveScans;

/// Builds a `SessionState` for `config` with `parallelism` cores.
///
/// - target partitions: `ember.sql.shuffle.partitions`, else `parallelism`;
/// - batch size: `ember.batch.size`;
/// - memory: a spilling pool limited to `ember.memory.limit`, spill files in `ember.local.dir`;
/// - functions: DataFusion's built-ins, then the Spark-compatible ones from `datafusion-spark`;
/// - every `datafusion.*` entry of `config`, applied last so they win;
/// - [`FilterDynamicallyAboveScans`], which applies join dynamic filters right above Parquet scans.
pub fn session_state(config: &EmberConfig, parallelism: usize) -> Result<SessionState> {
    let target_partitions = config.shuffle_partitions().unwrap_or(parallelism).max(1);
    let mut session_config = SessionConfig::new()
        .with_target_partitions(target_partitions)
        .with_batch_size(config.batch_size())
        .with_information_schema(true);
    for (key, value) in config.datafusion_options() {
        session_config.options_mut().set(key, value)?;
    }

    let mut runtime = RuntimeEnvBuilder::new();
    if let Some(limit) = config.memory_limit() {
        runtime = runtime.with_memory_limit(usize::try_from(limit).unwrap_or(usize::MAX), 1.0);
    }
    if let Some(dir) = config.local_dir() {
        std::fs::create_dir_all(dir)?;
        runtime = runtime.with_disk_manager_builder(
            DiskManagerBuilder::default()
                .with_mode(DiskManagerMode::Directories(vec![dir.to_path_buf()])),
        );
    }

    Ok(SessionStateBuilder::new()
        .with_config(session_config)
        .with_runtime_env(Arc::new(runtime.build()?))
        .with_default_features()
        .with_spark_features()
        .with_physical_optimizer_rule(Arc::new(FilterDynamicallyAboveScans))
        .build())
}
