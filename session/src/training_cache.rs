//! The rows of a fit, computed once and read by each of its passes, within the memory budget.
//!
//! Why not `DataFrame::cache`: it collects every row into a `MemTable` that no memory pool knows
//! of, so a training set larger than the machine gets the process killed. Here the rows are
//! reserved from the session's pool as they arrive, up to half the budget (the rest is the fit's);
//! when the pool refuses or that half is full, what was held and every later row go to Arrow IPC
//! stream files in the pool's spill directory (`ember.local.dir`), one per partition, which each
//! pass reads back. The files are removed when the cached table is dropped.
//!
//! Which rows land in which partition, and in what order, depends only on the input's
//! partitions, never on which input partition happened to be faster: a fit's bins, histogram
//! sums and worker ranks follow the partitions, so this is what makes two fits of the same data
//! give the same model, in memory or spilled. The input is planned without round-robin
//! repartitioning and run without file scans' work stealing (both move rows between partitions
//! by timing); its partitions are read in lockstep rounds, and batch `round` of input partition
//! `i` goes to cache partition `(i + round * inputs) % partitions`.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{Session as CatalogSession, TableProvider};
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{ArrowSource, FileGroup, FileScanConfigBuilder};
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::MemTable;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryLimit, MemoryReservation};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::execution::{SendableRecordBatchStream, SpillFile, SpillWriter, TaskContext};
use datafusion::logical_expr::{Expr, TableType};
use datafusion::object_store::path::Path;
use datafusion::physical_plan::common::spawn_buffered;
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties};
use datafusion::prelude::{DataFrame, SessionContext};
use futures::future::join_all;
use futures::StreamExt;

/// A fit's rows as cached by [`cache_within_budget`].
pub struct CachedRows {
    /// The rows, read from memory or from the spill files.
    pub frame: DataFrame,
    /// Bytes written to spill files; 0 when every row stayed in memory.
    pub spilled_bytes: u64,
}

/// Computes `rows` once into `partitions` partitions held in memory reserved from `context`'s
/// memory pool, or, once the pool refuses, in Arrow IPC spill files; the same rows land in the
/// same partitions in the same order on every run (see the module's doc).
pub async fn cache_within_budget(
    context: &SessionContext,
    rows: DataFrame,
    partitions: usize,
) -> Result<CachedRows> {
    let (plan, task) = plan_in_fixed_partitions(rows).await?;
    let mut cache = CacheWriter::new(context, plan.schema(), partitions.max(1));
    let mut inputs = (0..plan.output_partitioning().partition_count())
        .map(|input| Ok(Some(spawn_buffered(plan.execute(input, task.clone())?, 2))))
        .collect::<Result<Vec<Option<SendableRecordBatchStream>>>>()?;
    let input_count = inputs.len();
    let mut round = 0;
    while inputs.iter().any(Option::is_some) {
        // Every input partition runs on its own task; a round waits for each one's next batch.
        let next = join_all(inputs.iter_mut().map(|input| async move {
            match input {
                Some(stream) => stream.next().await,
                None => None,
            }
        }))
        .await;
        for (input, batch) in next.into_iter().enumerate() {
            match batch {
                None => inputs[input] = None,
                Some(batch) => {
                    let batch = batch?;
                    if batch.num_rows() > 0 {
                        cache.push((input + round * input_count) % cache.partitions(), batch)?;
                    }
                }
            }
        }
        round += 1;
    }
    let (table, spilled_bytes) = cache.finish()?;
    Ok(CachedRows {
        frame: context.read_table(Arc::new(table))?,
        spilled_bytes,
    })
}

/// The physical plan of `rows` whose output partitions hold the same rows on every run, and the
/// task context to run it in: without round-robin repartitioning (which deals batches in arrival
/// order) and without file scans' work stealing (a partition that finishes early reads files of
/// its siblings').
async fn plan_in_fixed_partitions(
    rows: DataFrame,
) -> Result<(Arc<dyn ExecutionPlan>, Arc<TaskContext>)> {
    let (state, logical) = rows.into_parts();
    let mut config = state.config().clone();
    config
        .options_mut()
        .optimizer
        .enable_round_robin_repartition = false;
    config
        .options_mut()
        .execution
        .enable_file_stream_work_stealing = false;
    let state = SessionStateBuilder::new_from_existing(state)
        .with_config(config)
        .build();
    let plan = state.create_physical_plan(&logical).await?;
    Ok((plan, Arc::new(TaskContext::from(&state))))
}

/// The cache holds at most 1/this of the memory budget, whatever the pool would grant: a
/// finished cache cannot give memory back when the fit's own operators and workers ask for it
/// later (as Spark's `spark.memory.storageFraction` keeps half of its unified memory for
/// execution).
const MEMORY_SHARE_DIVISOR: usize = 2;

/// The cache being filled: batches held in memory while the pool grants them, then in spill
/// files.
struct CacheWriter<'a> {
    context: &'a SessionContext,
    schema: SchemaRef,
    reservation: MemoryReservation,
    /// The most bytes held in memory: half the budget (see [`MEMORY_SHARE_DIVISOR`]).
    memory_cap: usize,
    held: Vec<Vec<RecordBatch>>,
    spill: Option<SpillFiles>,
}

impl<'a> CacheWriter<'a> {
    fn new(context: &'a SessionContext, schema: SchemaRef, partitions: usize) -> Self {
        // Spillable: the pool caps it at its fair share, leaving the fit's own operators theirs.
        let pool = &context.runtime_env().memory_pool;
        let reservation = MemoryConsumer::new("TrainingCache")
            .with_can_spill(true)
            .register(pool);
        let memory_cap = match pool.memory_limit() {
            MemoryLimit::Finite(limit) => limit / MEMORY_SHARE_DIVISOR,
            MemoryLimit::Infinite | MemoryLimit::Unknown => usize::MAX,
        };
        Self {
            context,
            schema,
            reservation,
            memory_cap,
            held: vec![Vec::new(); partitions],
            spill: None,
        }
    }

    fn partitions(&self) -> usize {
        self.held.len()
    }

    /// Appends `batch` to `partition`, moving everything to spill files when the pool refuses it
    /// or it would take the cache past `memory_cap`.
    fn push(&mut self, partition: usize, batch: RecordBatch) -> Result<()> {
        let bytes = batch.get_array_memory_size();
        if self.spill.is_none()
            && (self.reservation.size().saturating_add(bytes) > self.memory_cap
                || self.reservation.try_grow(bytes).is_err())
        {
            let mut files = SpillFiles::create(self.context, &self.schema, self.held.len())?;
            for (index, batches) in self.held.iter_mut().enumerate() {
                for batch in batches.drain(..) {
                    files.write(index, &batch)?;
                }
            }
            self.reservation.free();
            ember_core::memory::release_freed_memory();
            self.spill = Some(files);
        }
        match &mut self.spill {
            Some(files) => files.write(partition, &batch),
            None => {
                self.held[partition].push(batch);
                Ok(())
            }
        }
    }

    /// The table of the cached rows, and the bytes spilled.
    fn finish(self) -> Result<(CachedTable, u64)> {
        match self.spill {
            None => Ok((
                CachedTable {
                    schema: self.schema.clone(),
                    rows: Rows::Memory {
                        table: MemTable::try_new(self.schema, self.held)?,
                        _reservation: self.reservation,
                    },
                },
                0,
            )),
            Some(files) => files.finish(self.schema),
        }
    }
}

/// One Arrow IPC stream file per partition, being written. The stream format because DataFusion
/// reads each stream file whole, in one partition; it splits IPC *files* into byte ranges across
/// partitions, which would regroup the rows.
struct SpillFiles {
    files: Vec<Arc<dyn SpillFile>>,
    writers: Vec<StreamWriter<Box<dyn SpillWriter>>>,
}

impl SpillFiles {
    fn create(context: &SessionContext, schema: &SchemaRef, partitions: usize) -> Result<Self> {
        let disk = &context.runtime_env().disk_manager;
        let mut files = Vec::with_capacity(partitions);
        let mut writers = Vec::with_capacity(partitions);
        for _ in 0..partitions {
            let file = disk.create_tmp_file("caching a model's training rows")?;
            writers.push(StreamWriter::try_new(file.open_writer()?, schema)?);
            files.push(file);
        }
        Ok(Self { files, writers })
    }

    fn write(&mut self, partition: usize, batch: &RecordBatch) -> Result<()> {
        Ok(self.writers[partition].write(batch)?)
    }

    /// Closes the files; returns a table that reads them (and holds them), and their total size.
    fn finish(self, schema: SchemaRef) -> Result<(CachedTable, u64)> {
        let mut partitions = Vec::with_capacity(self.files.len());
        let mut bytes = 0;
        for (mut writer, file) in self.writers.into_iter().zip(&self.files) {
            writer.finish()?;
            writer.into_inner()?.finish()?;
            let path = file.path().ok_or_else(|| {
                DataFusionError::Execution("the training cache needs local spill files".into())
            })?;
            let size = std::fs::metadata(path)?.len();
            bytes += size;
            let mut partition = PartitionedFile::new("", size);
            partition.object_meta.location = Path::from_absolute_path(path)
                .map_err(|e| DataFusionError::External(Box::new(e)))?;
            partitions.push(partition);
        }
        let table = CachedTable {
            schema,
            rows: Rows::Files {
                partitions,
                _files: self.files,
            },
        };
        Ok((table, bytes))
    }
}

/// Where a cached table's rows are, with what keeps them accounted for or on disk.
enum Rows {
    /// In memory, under the reservation of their bytes.
    Memory {
        table: MemTable,
        _reservation: MemoryReservation,
    },
    /// In spill files, one per partition (removed when the last reference is dropped).
    Files {
        partitions: Vec<PartitionedFile>,
        _files: Vec<Arc<dyn SpillFile>>,
    },
}

/// A table over cached rows that holds their reservation or files as long as it lives.
struct CachedTable {
    schema: SchemaRef,
    rows: Rows,
}

impl std::fmt::Debug for CachedTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedTable").finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl TableProvider for CachedTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        state: &dyn CatalogSession,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match &self.rows {
            Rows::Memory { table, .. } => table.scan(state, projection, filters, limit).await,
            Rows::Files { partitions, .. } => {
                let source = ArrowSource::new_stream_file_source(self.schema.clone());
                let groups = partitions
                    .iter()
                    .map(|file| FileGroup::new(vec![file.clone()]))
                    .collect();
                let config = FileScanConfigBuilder::new(
                    ObjectStoreUrl::local_filesystem(),
                    Arc::new(source),
                )
                .with_file_groups(groups)
                // Each partition reads its own file: no stealing of siblings' files.
                .with_preserve_order(true)
                .with_projection_indices(projection.cloned())?
                .with_limit(limit)
                .build();
                Ok(DataSourceExec::from_data_source(config))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::execution::memory_pool::FairSpillPool;
    use datafusion::execution::runtime_env::RuntimeEnvBuilder;
    use datafusion::physical_plan::ExecutionPlanProperties;
    use datafusion::prelude::SessionConfig;

    use super::*;

    fn context(pool_bytes: usize) -> SessionContext {
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(FairSpillPool::new(pool_bytes)))
            .build_arc()
            .unwrap();
        SessionContext::new_with_config_rt(SessionConfig::new().with_target_partitions(3), runtime)
    }

    async fn summary(frame: DataFrame) -> Vec<RecordBatch> {
        frame
            .aggregate(
                vec![],
                vec![
                    datafusion::functions_aggregate::count::count(datafusion::prelude::col("v")),
                    datafusion::functions_aggregate::sum::sum(datafusion::prelude::col("v")),
                ],
            )
            .unwrap()
            .collect()
            .await
            .unwrap()
    }

    async fn cached(pool_bytes: usize) -> (CachedRows, usize) {
        let context = context(pool_bytes);
        let rows = context
            .sql("SELECT v, v * 2 AS w FROM generate_series(1, 300000) AS t(v)")
            .await
            .unwrap();
        let cached = cache_within_budget(&context, rows, 3).await.unwrap();
        let partitions = cached
            .frame
            .clone()
            .create_physical_plan()
            .await
            .unwrap()
            .output_partitioning()
            .partition_count();
        (cached, partitions)
    }

    /// The `v` values of each partition of `frame`, in order.
    async fn values_by_partition(frame: DataFrame) -> Vec<Vec<i64>> {
        frame
            .collect_partitioned()
            .await
            .unwrap()
            .iter()
            .map(|batches| {
                batches
                    .iter()
                    .flat_map(|batch| {
                        datafusion::arrow::array::AsArray::as_primitive::<
                            datafusion::arrow::datatypes::Int64Type,
                        >(batch.column(0))
                        .values()
                        .to_vec()
                    })
                    .collect()
            })
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn partitions_are_dealt_by_input_partition_and_round_in_memory_and_spilled() {
        // Four input partitions of one-row batches, v = 10 * input + round.
        let schema = Arc::new(datafusion::arrow::datatypes::Schema::new(vec![
            datafusion::arrow::datatypes::Field::new(
                "v",
                datafusion::arrow::datatypes::DataType::Int64,
                false,
            ),
        ]));
        let batch = |v: i64| {
            RecordBatch::try_new(
                schema.clone(),
                vec![Arc::new(datafusion::arrow::array::Int64Array::from(vec![
                    v,
                ]))],
            )
            .unwrap()
        };
        let inputs = vec![
            vec![batch(0), batch(1)],
            vec![batch(10), batch(11)],
            vec![batch(20)],
            vec![batch(30), batch(31), batch(32)],
        ];
        // Round 0 deals inputs 0..4 to partitions 0, 1, 2, 0; round 1 inputs 0, 1, 3 to
        // (i + 4) % 3 = 1, 2, 1; round 2 input 3 to 2.
        let expected = vec![vec![0, 30], vec![10, 1, 31], vec![20, 11, 32]];
        for pool_bytes in [64 << 20, 1] {
            let context = context(pool_bytes);
            let table = MemTable::try_new(schema.clone(), inputs.clone()).unwrap();
            let rows = context.read_table(Arc::new(table)).unwrap();
            let cached = cache_within_budget(&context, rows, 3).await.unwrap();
            assert_eq!(cached.spilled_bytes > 0, pool_bytes == 1);
            assert_eq!(
                values_by_partition(cached.frame).await,
                expected,
                "pool {pool_bytes}"
            );
        }
    }

    #[tokio::test]
    async fn rows_stay_in_memory_within_the_budget_and_spill_beyond_it() {
        let (in_memory, partitions) = cached(64 << 20).await;
        assert_eq!(in_memory.spilled_bytes, 0);
        assert_eq!(partitions, 3);
        let (spilled, spilled_partitions) = cached(1 << 20).await;
        assert!(spilled.spilled_bytes > 1 << 20, "{}", spilled.spilled_bytes);
        assert_eq!(spilled_partitions, 3);
        let expected = summary(in_memory.frame).await;
        // Read twice, as a fit's passes do.
        assert_eq!(summary(spilled.frame.clone()).await, expected);
        assert_eq!(summary(spilled.frame).await, expected);
    }
}
