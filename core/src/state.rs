//! Construction of the DataFusion `SessionConfig`, runtime and `SessionState` every Ember session
//! runs on, embedded or on a cluster's scheduler.

use std::collections::{HashMap, HashSet};
use std::num::NonZeroUsize;
use std::sync::Arc;

use datafusion::error::Result;
use datafusion::execution::cache::cache_manager::CacheManagerConfig;
use datafusion::execution::memory_pool::{FairSpillPool, MemoryPool, TrackConsumersPool};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::execution::session_state::SessionState;
use datafusion::execution::SessionStateBuilder;
use datafusion::physical_optimizer::optimizer::PhysicalOptimizer;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::prelude::SessionConfig;
use datafusion_spark::planner::SparkFunctionPlanner;

use ember_connectors::StoreRegistry;

use crate::config::{EmberConfig, EmberOptions, RedactShownSecrets};
use crate::optimizer::{
    BuildOnFewerRows, CheapConjunctsFirst, ContainScanPanics, DecimalArithmetic,
    FilterDynamicallyAboveScans, LimitsBySorting, NarrowDecimalArithmetic, RowGroupBalancedScans,
    SemiJoinsFirst, SortMergeForLargeBuilds,
};

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

/// The largest build side, in bytes and rows, that a hash join collects under a memory budget of
/// `budget` bytes: [`COLLECT_BUILD_SIDE_MAX_BYTES`] and [`COLLECT_BUILD_SIDE_MAX_ROWS`], or when
/// less, an eighth of the budget (rows scaled alike). A collected build side is held whole by a
/// consumer that cannot spill, and its hash table about doubles it; above the limit the join
/// is partitioned, each partition building a share.
pub fn collect_build_side_limits(budget: Option<u64>) -> (usize, usize) {
    let max_bytes = COLLECT_BUILD_SIDE_MAX_BYTES as u64;
    let bytes = budget.map_or(max_bytes, |budget| (budget / 8).min(max_bytes));
    let rows = COLLECT_BUILD_SIDE_MAX_ROWS as u64 * bytes / max_bytes;
    (bytes as usize, rows as usize)
}

/// The most rows a Parquet row group written under a memory budget of `budget` bytes holds:
/// one per [`BUDGET_BYTES_PER_ROW_GROUP_ROW`] of the budget, from 64 Ki to DataFusion's default
/// of 1 Mi rows (reached from 512 MiB up).
///
/// Why: the Parquet writer holds a whole row group's encoded columns in memory and cannot spill.
/// Measured on TPC-H SF 1 `COPY (SELECT * FROM orders ORDER BY o_comment)` under 50 MiB (debug
/// build): with 1 Mi-row groups the writer held 37 MiB and failed next to the sort's final
/// merge; with 100 Ki rows it runs.
pub fn parquet_row_group_rows(budget: Option<u64>) -> usize {
    const MOST: u64 = 1 << 20;
    budget.map_or(MOST, |bytes| {
        (bytes / BUDGET_BYTES_PER_ROW_GROUP_ROW).clamp(64 << 10, MOST)
    }) as usize
}

/// How much of the memory budget each row of a Parquet row group being written stands for.
pub const BUDGET_BYTES_PER_ROW_GROUP_ROW: u64 = 512;

/// Where a session's plans execute. Some of Ember's defaults only pay off inside one process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Embedded: every operator runs in this process (`local[N]`).
    OneProcess,
    /// On a cluster (`ember://`): the scheduler splits plans into stages that run on executors,
    /// so plans cross the wire and a collected hash-join build side is broadcast to every task.
    Cluster,
}

/// `base` with the settings of `config` for `parallelism` cores applied:
///
/// - target partitions: `ember.sql.shuffle.partitions`, else `parallelism`;
/// - batch size: `ember.batch.size`;
/// - in one process, hash joins collect build sides up to [`collect_build_side_limits`] of the
///   memory budget instead of repartitioning both inputs (on a cluster that
///   would broadcast them to every task, so `base`'s thresholds stay);
/// - on a cluster, hash joins rather than sort-merge joins (see [`prefer_hash_joins`]);
/// - the `ember.*` settings ([`EmberOptions`]: what `SHOW ALL` lists), among them the
///   object-store settings, as a config extension that travels with every job to a cluster's
///   scheduler and executors; secrets go with them only when the session sends them
///   ([`EmberConfig::sends_secrets`], which also resolves the environment's S3 credentials
///   here), and are listed redacted otherwise;
/// - every `datafusion.*` entry of `config`, applied last so they win.
///
/// `base` is `SessionConfig::new()` in one process and Ballista's upgraded config on a cluster,
/// whose defaults Ember's settings override.
pub fn session_config(
    base: SessionConfig,
    config: &EmberConfig,
    parallelism: usize,
    placement: Placement,
) -> Result<SessionConfig> {
    let target_partitions = config.shuffle_partitions().unwrap_or(parallelism).max(1);
    let stores = config.store_options().clone();
    let stores = if config.sends_secrets() {
        stores.with_aws_environment(&|name| std::env::var(name).ok())
    } else {
        stores
    };
    let mut session_config = base
        .with_option_extension(config.session_options(stores))
        .with_target_partitions(target_partitions)
        .with_batch_size(config.batch_size())
        .with_information_schema(true);
    let optimizer = &mut session_config.options_mut().optimizer;
    match placement {
        Placement::OneProcess => {
            let budget = config.memory_budget().bytes;
            let (bytes, rows) = collect_build_side_limits(budget);
            optimizer.hash_join_single_partition_threshold = bytes;
            optimizer.hash_join_single_partition_threshold_rows = rows;
            session_config
                .options_mut()
                .execution
                .parquet
                .max_row_group_size = parquet_row_group_rows(budget);
        }
        Placement::Cluster => prefer_hash_joins(optimizer),
    }
    for (key, value) in config.datafusion_options() {
        session_config.options_mut().set(key, value)?;
    }
    Ok(session_config)
}

/// Plans equi-joins as hash joins on a cluster, as in one process.
///
/// Ballista defaults to sort-merge joins because DataFusion's hash join cannot spill, so a task
/// must hold its share of the build side in memory. Sorting both inputs of every join cost 60%
/// more time on TPC-H SF 1 (one 2-core executor, release: 25.4 s with sort-merge joins, 16.0 s
/// with hash joins, same answers), and one process plans hash joins too, so a query behaves the
/// same on both. A job whose build side exceeds an executor's memory can set
/// `datafusion.optimizer.prefer_hash_join=false`.
fn prefer_hash_joins(optimizer: &mut datafusion::config::OptimizerOptions) {
    optimizer.prefer_hash_join = true;
}

/// The runtime for `config`: a [`memory_pool`] of the process's budget
/// ([`EmberConfig::memory_budget`]), spill files in `ember.local.dir`, on [`runtime_builder`]
/// for `session_config`.
pub fn runtime_env(
    config: &EmberConfig,
    session_config: &SessionConfig,
) -> Result<Arc<RuntimeEnv>> {
    let budget = config.memory_budget().bytes;
    let mut runtime = runtime_builder(session_config, budget);
    if let Some(bytes) = budget {
        runtime = runtime.with_memory_pool(memory_pool(bytes));
    }
    if let Some(dir) = config.local_dir() {
        std::fs::create_dir_all(dir)?;
        runtime = runtime.with_temp_file_path(dir);
    }
    Ok(Arc::new(runtime.build()?))
}

/// The memory pool of `bytes` that a process's queries and fits share (a local session's, an
/// executor's tasks').
///
/// The pool is DataFusion's [`FairSpillPool`], not the
/// [`GreedyMemoryPool`](datafusion::execution::memory_pool::GreedyMemoryPool) of
/// `RuntimeEnvBuilder::with_memory_limit`: under a greedy pool the first sort or aggregation
/// to grow takes the whole budget and the consumers that cannot spill (a sort's merge
/// reservation, a hash join's build side) then fail; the fair pool caps each spilling consumer
/// at its share of what the unspillable ones leave. Wrapped in [`TrackConsumersPool`] so that an
/// allocation that fails names the largest consumers.
pub fn memory_pool(bytes: u64) -> Arc<dyn MemoryPool> {
    let pool = FairSpillPool::new(usize::try_from(bytes).unwrap_or(usize::MAX));
    let largest_consumers_named = NonZeroUsize::new(5).expect("5 is not zero");
    Arc::new(TrackConsumersPool::new(pool, largest_consumers_named))
}

/// The runtime every Ember process runs a session's plans with, before memory settings: the
/// object stores of `session_config` (its [`EmberOptions`] extension), no list-files cache, and
/// at most [`spill_merge_fan_in`] of `budget` (the memory pool the plans share, if any) spill
/// files merged at once.
///
/// Why no cache: on a miss, DataFusion 55's list-files cache lists the *whole* table recursively
/// (to cache it) even when equality filters on the leading Hive columns fix a partition prefix;
/// without it, such a query lists only that prefix — on a 1,000-partition table, one small
/// listing instead of all 1,000 files (`tests/pruning.rs` asserts the prefixes listed). The cache
/// also kept listings for the whole session with no expiry, so a statement read stale files
/// after a `COPY ... mode 'overwrite'` of the same dataset.
pub fn runtime_builder(session_config: &SessionConfig, budget: Option<u64>) -> RuntimeEnvBuilder {
    RuntimeEnvBuilder::new()
        .with_object_store_registry(store_registry(session_config))
        .with_cache_manager(CacheManagerConfig::default().with_list_files_cache_limit(0))
        .with_max_spill_merge_fan_in(spill_merge_fan_in(budget))
}

/// The most spill files a sort merges in one pass under a memory pool of `budget` bytes: one
/// per [`MERGE_BYTES_PER_SPILL_FILE`] of the budget, from 2 to 8 (DataFusion's default: all).
///
/// Why: DataFusion 55's multi-level merge seats as many spill files as the memory pool lets it
/// reserve read buffers for (twice the file's largest batch, 2-5 MB at 8192 rows), and the merge
/// cannot spill, so one sort's final merge takes the memory its siblings (other sorts' merges,
/// the merge above them, a Parquet writer) need next. Capped, a merge takes what its files need
/// and merges more in further passes. Measured (debug build, 2 threads): TPC-H SF 1 q09 with
/// sort-merge joins under 128 MiB fails with no cap and with 16, runs with 8 (16.7 s) and with
/// 4 (18.0 s); `COPY (SELECT * FROM orders ORDER BY o_comment)` at SF 1 under 50 MiB fails with
/// 8 (the merge held 42 of the 50 MiB and the Parquet writer could get none), runs with 2.
pub fn spill_merge_fan_in(budget: Option<u64>) -> usize {
    const MOST: u64 = 8;
    budget.map_or(MOST, |bytes| {
        (bytes / MERGE_BYTES_PER_SPILL_FILE).clamp(2, MOST)
    }) as usize
}

/// How much of the memory budget each spill file merged in one pass stands for: 8 files from
/// 256 MiB up, 2 under 96 MiB.
pub const MERGE_BYTES_PER_SPILL_FILE: u64 = 32 << 20;

/// The object stores of a session configured by `session_config`, built on first use from its
/// [`EmberOptions`] extension (none registered: local files only).
fn store_registry(session_config: &SessionConfig) -> Arc<StoreRegistry> {
    let options = session_config
        .options()
        .extensions
        .get::<EmberOptions>()
        .map(|options| options.stores().clone())
        .unwrap_or_default();
    Arc::new(StoreRegistry::new(options))
}

/// Adds what every Ember session plans with to `builder`: DataFusion's built-in functions and
/// formats, the Spark-compatible functions of `datafusion-spark` that DataFusion lacks
/// ([`with_spark_functions`]), [`RedactShownSecrets`] (`SHOW` lists secrets as `<redacted>`),
/// and Ember's optimizer rules for `placement`:
///
/// - [`SemiJoinsFirst`] (logical), which moves semi joins on `HAVING` subqueries below the inner
///   joins they filter;
/// - [`NarrowDecimalArithmetic`] (logical), which computes decimal `+`, `-` and `*` in 64 bits
///   where the values allow;
/// - [`BuildOnFewerRows`], which builds hash tables on the side with far fewer estimated rows;
/// - [`CheapConjunctsFirst`], which evaluates a filter's cheap comparisons first;
/// - [`RowGroupBalancedScans`], which cuts Parquet scans into partitions of equal rows (it reads
///   the footers planning cached in the builder's runtime, which it sets to the default one when
///   `builder` has none);
/// - in one process only, [`FilterDynamicallyAboveScans`], which applies join dynamic filters
///   right above Parquet scans (its expression has no wire format for executors yet);
/// - [`ContainScanPanics`], which turns a file reader's panic into an error and names the file
///   in decoding errors (on a cluster, its node needs [`crate::plan_codec::EmberPhysicalCodec`]).
pub fn with_ember_features(
    mut builder: SessionStateBuilder,
    placement: Placement,
) -> SessionStateBuilder {
    let runtime = Arc::clone(
        builder
            .runtime_env()
            .get_or_insert_with(|| Arc::new(RuntimeEnv::default())),
    );
    let rules = physical_optimizer_rules(placement, &runtime, None, false);
    with_spark_functions(builder.with_default_features())
        .with_analyzer_rule(Arc::new(RedactShownSecrets))
        .with_optimizer_rule(Arc::new(SemiJoinsFirst))
        .with_optimizer_rule(Arc::new(NarrowDecimalArithmetic))
        .with_physical_optimizer_rules(rules)
}

/// Adds `datafusion-spark`'s expression planner and the Spark-compatible functions whose names
/// `builder` does not define yet.
///
/// Why not `with_spark_features()`, which lets the Spark versions replace DataFusion's
/// same-named functions (`avg`, `date_part`, `round`, `concat`, `substring` and 13 more): on a
/// cluster, plans carry functions by name only, and some Spark versions do not survive that —
/// Spark's `date_part` must be rewritten to DataFusion's before execution, and the rewritten
/// plan's `date_part` resolved to the Spark one again on executors (TPC-H q07 failed); Spark's
/// `avg` failed q17 there. One meaning per name in every process matters more than Spark
/// semantics for those 18 names.
fn with_spark_functions(mut builder: SessionStateBuilder) -> SessionStateBuilder {
    builder
        .expr_planners()
        .get_or_insert_with(Vec::new)
        .insert(0, Arc::new(SparkFunctionPlanner));
    add_missing(
        builder.scalar_functions(),
        datafusion_spark::all_default_scalar_functions(),
        |f| f.name(),
    );
    add_missing(
        builder.aggregate_functions(),
        datafusion_spark::all_default_aggregate_functions(),
        |f| f.name(),
    );
    add_missing(
        builder.window_functions(),
        datafusion_spark::all_default_window_functions(),
        |f| f.name(),
    );
    let tables = builder.table_functions().get_or_insert_with(HashMap::new);
    for function in datafusion_spark::all_default_table_functions() {
        tables
            .entry(function.name().to_string())
            .or_insert(function);
    }
    builder
}

/// Adds the functions that Ember puts in plans itself and users never call by name, for a
/// process that resolves plans it receives by name: a scheduler or an executor.
///
/// - The ML functions of `ember-mllib` (fitting steps, model scoring, tree-fit tasks). They take
///   their model or step as bytes in their first argument; estimators build those calls from the
///   functions themselves, so user SQL cannot hand them bytes of its own (`SELECT
///   ml_trees_predict(X'...', 1.0)` is an unknown function). Their decoders check every count
///   all the same, since a hostile client can put any bytes in a plan.
/// - [`DecimalArithmetic`], which [`NarrowDecimalArithmetic`] puts in place of decimal operators.
///
/// A session that plans users' SQL never registers them.
pub fn with_plan_functions(mut builder: SessionStateBuilder) -> SessionStateBuilder {
    builder
        .aggregate_functions()
        .get_or_insert_with(Vec::new)
        .extend(ember_mllib::functions::aggregate_functions());
    let scalar = builder.scalar_functions().get_or_insert_with(Vec::new);
    scalar.extend(ember_mllib::functions::scalar_functions());
    scalar.extend(DecimalArithmetic::all());
    builder
}

/// Appends to `registered` each of `candidates` whose name is not registered yet.
fn add_missing<F: ?Sized>(
    registered: &mut Option<Vec<Arc<F>>>,
    candidates: Vec<Arc<F>>,
    name: impl Fn(&F) -> &str,
) {
    let registered = registered.get_or_insert_with(Vec::new);
    let known: HashSet<String> = registered.iter().map(|f| name(f).to_string()).collect();
    registered.extend(
        candidates
            .into_iter()
            .filter(|candidate| !known.contains(name(candidate))),
    );
}

/// The `SessionState` of an embedded session: [`session_config`], [`runtime_env`] and
/// [`with_ember_features`] for [`Placement::OneProcess`], and under a memory budget
/// [`SortMergeForLargeBuilds`] right after [`BuildOnFewerRows`] (only one process knows the
/// budget its joins run under; a cluster client does not know its executors').
pub fn session_state(config: &EmberConfig, parallelism: usize) -> Result<SessionState> {
    let session_config = session_config(
        SessionConfig::new(),
        config,
        parallelism,
        Placement::OneProcess,
    )?;
    let runtime = runtime_env(config, &session_config)?;
    let rules = physical_optimizer_rules(
        Placement::OneProcess,
        &runtime,
        config.memory_budget().bytes,
        false,
    );
    let builder = SessionStateBuilder::new()
        .with_config(session_config)
        .with_runtime_env(runtime);
    Ok(with_ember_features(builder, Placement::OneProcess)
        .with_physical_optimizer_rules(rules)
        .build())
}

/// `state` planning for the least memory rather than the most speed: how a statement that ran
/// out of the memory budget runs again. `budget` is the memory budget of a one-process session
/// (`None` on a cluster, whose client does not know its executors' budgets).
///
/// - equi-joins as sort-merge joins, which spill, instead of hash joins, whose build side must
///   fit in memory: in one process all but those with small build sides
///   ([`SortMergeForLargeBuilds`] after running out of memory), on a cluster all (sessions with
///   one partition keep hash joins: DataFusion plans no sort-merge join there);
/// - one sort per `ORDER BY` over all partitions instead of a sort per partition and a merge
///   above them: every sort that spills ends in a merge that cannot spill and reserves read
///   buffers for its spill files, so with a sort per partition those merges and the merge above
///   them took the whole budget. Measured on TPC-H SF 1 `COPY (SELECT * FROM orders ORDER BY
///   o_comment)` under 100 MiB, 2 partitions (debug build): a sort per partition fails in the
///   final merge; one sort runs (13.4 s, against 10.2 s unlimited);
/// - `ORDER BY ... LIMIT` as a sort and a limit ([`LimitsBySorting`]) instead of top-k, which
///   cannot spill.
pub fn spillable_plans(state: SessionState, budget: Option<u64>) -> SessionState {
    let mut config = state.config().clone();
    let options = config.options_mut();
    options.optimizer.repartition_sorts = false;
    let mut rules = match budget {
        Some(budget) => physical_optimizer_rules(
            Placement::OneProcess,
            state.runtime_env(),
            Some(budget),
            true,
        ),
        None => {
            options.optimizer.prefer_hash_join = false;
            state.physical_optimizers().to_vec()
        }
    };
    rules.push(Arc::new(LimitsBySorting));
    SessionStateBuilder::new_from_existing(state)
        .with_config(config)
        .with_physical_optimizer_rules(rules)
        .build()
}

/// DataFusion's physical optimizer rules with Ember's additions: [`BuildOnFewerRows`] right after
/// `join_selection` (it corrects that rule's choice of build side), then, given the `budget`
/// the plans run under (one process only), [`SortMergeForLargeBuilds`], told whether the
/// statement `ran_out_of_memory` before; at the end [`RowGroupBalancedScans`] (with the footers
/// cached in `runtime`), [`CheapConjunctsFirst`], in one process
/// [`FilterDynamicallyAboveScans`] (which needs the dynamic filters already pushed to scans),
/// and last [`ContainScanPanics`].
fn physical_optimizer_rules(
    placement: Placement,
    runtime: &RuntimeEnv,
    budget: Option<u64>,
    ran_out_of_memory: bool,
) -> Vec<Arc<dyn PhysicalOptimizerRule + Send + Sync>> {
    let mut rules = Vec::new();
    for rule in PhysicalOptimizer::new().rules {
        let is_join_selection = rule.name() == "join_selection";
        rules.push(rule);
        if is_join_selection {
            rules.push(Arc::new(BuildOnFewerRows) as _);
            if let Some(budget) = budget {
                rules.push(Arc::new(SortMergeForLargeBuilds {
                    budget,
                    ran_out_of_memory,
                }));
            }
        }
    }
    rules.push(Arc::new(RowGroupBalancedScans::new(
        runtime.cache_manager.get_file_metadata_cache(),
    )));
    rules.push(Arc::new(CheapConjunctsFirst));
    if placement == Placement::OneProcess {
        rules.push(Arc::new(FilterDynamicallyAboveScans));
    }
    // Last: it wraps the scans the rules above look for. Executors decode its node with
    // `plan_codec::EmberPhysicalCodec`.
    rules.push(Arc::new(ContainScanPanics));
    rules
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spill_merges_take_fewer_files_under_smaller_budgets() {
        assert_eq!(spill_merge_fan_in(None), 8);
        assert_eq!(spill_merge_fan_in(Some(16 << 30)), 8);
        assert_eq!(spill_merge_fan_in(Some(128 << 20)), 4);
        assert_eq!(spill_merge_fan_in(Some(50 << 20)), 2);
        assert_eq!(spill_merge_fan_in(Some(0)), 2);
    }

    #[test]
    fn parquet_row_groups_shrink_under_small_budgets() {
        assert_eq!(parquet_row_group_rows(None), 1 << 20);
        assert_eq!(parquet_row_group_rows(Some(512 << 20)), 1 << 20);
        assert_eq!(parquet_row_group_rows(Some(128 << 20)), 256 << 10);
        assert_eq!(parquet_row_group_rows(Some(8 << 20)), 64 << 10);
    }

    #[test]
    fn collected_build_sides_follow_the_budget() {
        let most = (COLLECT_BUILD_SIDE_MAX_BYTES, COLLECT_BUILD_SIDE_MAX_ROWS);
        assert_eq!(collect_build_side_limits(None), most);
        assert_eq!(collect_build_side_limits(Some(64 << 30)), most);
        assert_eq!(
            collect_build_side_limits(Some(512 << 20)),
            (64 << 20, 12_500_000)
        );
    }
}
