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

/// Builds a `SessionState` for `config` with `parallelism` cores.
///
/// - target partitions: `ember.sql.shuffle.partitions`, else `parallelism`;
/// - batch size: `ember.batch.size`;
/// - memory: a spilling pool limited to `ember.memory.limit`, spill files in `ember.local.dir`;
/// - functions: DataFusion's built-ins, then the Spark-compatible ones from `datafusion-spark`;
/// - Ember's engine defaults ([`apply_engine_defaults`]), then every `datafusion.*` entry of
///   `config`, applied last so they win.
pub fn session_state(config: &EmberConfig, parallelism: usize) -> Result<SessionState> {
    let target_partitions = config.shuffle_partitions().unwrap_or(parallelism).max(1);
    let mut session_config = SessionConfig::new()
        .with_target_partitions(target_partitions)
        .with_batch_size(config.batch_size())
        .with_information_schema(true);
    apply_engine_defaults(&mut session_config);
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
        .build())
}

/// Settings where Ember's default differs from DataFusion's, each measured on TPC-H with
/// `benches/tpch.sh` (numbers in the README's benchmark section).
fn apply_engine_defaults(config: &mut SessionConfig) {
    // Late materialization: Parquet scans evaluate pushed-down predicates while decoding, which
    // is also how the dynamic filters of hash joins reach the scan and skip rows there. At SF 10
    // this turns q18 from 19.4 s into 4.1 s (a 60M-row join otherwise runs before the selective
    // IN-subquery filter) and the 22-query total from 60.9 s into 50.5 s; at SF 1, where no
    // query is that lopsided, the total moves from 4.2 s to 4.6 s. Bounding the worst case on big
    // data wins; `--conf datafusion.execution.parquet.pushdown_filters=false` turns it off.
    config.options_mut().execution.parquet.pushdown_filters = true;
}
