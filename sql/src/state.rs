//! Construction of the DataFusion `SessionState` every Ember session runs on.

use std::sync::Arc;

use datafusion::error::Result;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionState;
use datafusion::execution::SessionStateBuilder;
use datafusion::physical_optimizer::optimizer::PhysicalOptimizer;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::prelude::SessionConfig;
use datafusion_spark::SessionStateBuilderSpark;

use crate::config::EmberConfig;
use crate::dynamic_filters::FilterDynamicallyAboveScans;
use crate::filter_order::CheapConjunctsFirst;
use crate::join_sides::BuildOnFewerRows;

/// Largest estimated build side, in bytes, that a hash join collects into one shared hash table
/// (DataFusion's default is 1 MiB).
///
/// Why so large: in one process a partitioned hash join pays a hash repartition of *both* inputs
/// (for TPC-H that is often the 60M-row `lineitem` side) to build its table on several threads;
/// collecting the build side builds on one thread but streams the probe side untouched. Measured
/// on 2 cores at TPC-H SF 10 (`benches/tpch.sh 10`): 42.5 s with DataFusion's defaults, 34.1 s at
/// 128 MiB / 20M rows, 31.5 s at 1 GiB / 200M rows, no further change above. Memory is the same
/// either way: a partitioned join holds every build partition too. `datafusion.optimizer.*`
/// settings in the configuration override both limits.
pub const COLLECT_BUILD_SIDE_MAX_BYTES: usize = 1 << 30;

/// Largest estimated build side, in rows, that a hash join collects (DataFusion's default is
/// 128K); see [`COLLECT_BUILD_SIDE_MAX_BYTES`].
pub const COLLECT_BUILD_SIDE_MAX_ROWS: usize = 200_000_000;

/// Builds a `SessionState` for `config` with `parallelism` cores.
///
/// - target partitions: `ember.sql.shuffle.partitions`, else `parallelism`;
/// - batch size: `ember.batch.size`;
/// - hash joins broadcast (collect) build sides up to [`COLLECT_BUILD_SIDE_MAX_BYTES`] /
///   [`COLLECT_BUILD_SIDE_MAX_ROWS`] instead of repartitioning both inputs;
/// - memory: a spilling pool limited to `ember.memory.limit`, spill files in `ember.local.dir`;
/// - functions: DataFusion's built-ins, then the Spark-compatible ones from `datafusion-spark`;
/// - every `datafusion.*` entry of `config`, applied last so they win;
/// - [`BuildOnFewerRows`], which builds hash tables on the side with far fewer estimated rows;
/// - [`CheapConjunctsFirst`], which evaluates a filter's cheap comparisons first;
/// - [`FilterDynamicallyAboveScans`], which applies join dynamic filters right above Parquet scans.
pub fn session_state(config: &EmberConfig, parallelism: usize) -> Result<SessionState> {
    let target_partitions = config.shuffle_partitions().unwrap_or(parallelism).max(1);
    let mut session_config = SessionConfig::new()
        .with_target_partitions(target_partitions)
        .with_batch_size(config.batch_size())
        .with_information_schema(true);
    let optimizer = &mut session_config.options_mut().optimizer;
    optimizer.hash_join_single_partition_threshold = COLLECT_BUILD_SIDE_MAX_BYTES;
    optimizer.hash_join_single_partition_threshold_rows = COLLECT_BUILD_SIDE_MAX_ROWS;
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
        .with_physical_optimizer_rules(physical_optimizer_rules())
        .build())
}

/// DataFusion's physical optimizer rules with Ember's additions: [`BuildOnFewerRows`] right after
/// `join_selection` (it corrects that rule's choice of build side), then at the end
/// [`CheapConjunctsFirst`] and [`FilterDynamicallyAboveScans`] (which needs the dynamic filters
/// already pushed to scans).
fn physical_optimizer_rules() -> Vec<Arc<dyn PhysicalOptimizerRule + Send + Sync>> {
    let mut rules = Vec::new();
    for rule in PhysicalOptimizer::new().rules {
        let is_join_selection = rule.name() == "join_selection";
        rules.push(rule);
        if is_join_selection {
            rules.push(Arc::new(BuildOnFewerRows) as _);
        }
    }
    rules.push(Arc::new(CheapConjunctsFirst));
    rules.push(Arc::new(FilterDynamicallyAboveScans));
    rules
}
