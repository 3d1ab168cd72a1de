//! The rows of a fit, computed once and read by each of its passes, within the memory budget.
//!
//! Why not `DataFrame::cache`: it collects every row into a `MemTable` that no memory pool knows
//! of, so a training set larger than the machine gets the process killed. Here the rows are
//! reserved from the session's pool as they arrive; when the pool refuses, what was held and
//! every later row go to Arrow IPC files in the pool's spill directory (`ember.local.dir`), which
//! each pass reads back. The files are removed when the cached table is dropped.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::ipc::writer::FileWriter;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{Session as CatalogSession, TableProvider};
use datafusion::datasource::file_format::arrow::ArrowFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::datasource::MemTable;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::execution::{SpillFile, SpillWriter};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{DataFrame, SessionContext};
use futures::StreamExt;

/// A fit's rows as cached by [`cache_within_budget`].
pub struct CachedRows {
    /// The rows, read from memory or from the spill files.
    pub frame: DataFrame,
    /// Bytes written to spill files; 0 when every row stayed in memory.
    pub spilled_bytes: u64,
}

/// Computes `rows` once into `partitions` partitions (batches dealt round-robin) held in memory
/// reserved from `context`'s memory pool, or, once the pool refuses, in Arrow IPC spill files.
pub async fn cache_within_budget(
    context: &SessionContext,
    rows: DataFrame,
    partitions: usize,
) -> Result<CachedRows> {
    let runtime = context.runtime_env();
    let schema: SchemaRef = rows.schema().inner().clone();
    // Spillable: the pool caps it at its fair share, leaving the fit's own operators theirs.
    let reservation = MemoryConsumer::new("TrainingCache")
        .with_can_spill(true)
        .register(&runtime.memory_pool);
    let mut held: Vec<Vec<RecordBatch>> = vec![Vec::new(); partitions.max(1)];
    let mut spill: Option<SpillFiles> = None;
    let mut stream = rows.execute_stream().await?;
    let mut dealt = 0;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let partition = dealt % held.len();
        dealt += 1;
        if spill.is_none() && reservation.try_grow(batch.get_array_memory_size()).is_err() {
            let mut files = SpillFiles::create(context, &schema, held.len())?;
            for (index, batches) in held.iter_mut().enumerate() {
                for batch in batches.drain(..) {
                    files.write(index, &batch)?;
                }
            }
            reservation.free();
            spill = Some(files);
        }
        match &mut spill {
            Some(files) => files.write(partition, &batch)?,
            None => held[partition].push(batch),
        }
    }
    let (table, spilled_bytes): (Arc<dyn TableProvider>, u64) = match spill {
        None => (
            Arc::new(HeldTable {
                rows: Arc::new(MemTable::try_new(schema, held)?),
                _held: Held::Memory {
                    _reservation: reservation,
                },
            }),
            0,
        ),
        Some(files) => {
            let (table, bytes) = files.finish(schema)?;
            (Arc::new(table), bytes)
        }
    };
    Ok(CachedRows {
        frame: context.read_table(table)?,
        spilled_bytes,
    })
}

/// One Arrow IPC file per partition, being written.
struct SpillFiles {
    files: Vec<Arc<dyn SpillFile>>,
    writers: Vec<FileWriter<Box<dyn SpillWriter>>>,
}

impl SpillFiles {
    fn create(context: &SessionContext, schema: &SchemaRef, partitions: usize) -> Result<Self> {
        let disk = &context.runtime_env().disk_manager;
        let mut files = Vec::with_capacity(partitions);
        let mut writers = Vec::with_capacity(partitions);
        for _ in 0..partitions {
            let file = disk.create_tmp_file("caching a model's training rows")?;
            writers.push(FileWriter::try_new(file.open_writer()?, schema)?);
            files.push(file);
        }
        Ok(Self { files, writers })
    }

    fn write(&mut self, partition: usize, batch: &RecordBatch) -> Result<()> {
        Ok(self.writers[partition].write(batch)?)
    }

    /// Closes the files; returns a table that reads them (and holds them), and their total size.
    fn finish(self, schema: SchemaRef) -> Result<(HeldTable, u64)> {
        let mut urls = Vec::with_capacity(self.files.len());
        let mut bytes = 0;
        for (mut writer, file) in self.writers.into_iter().zip(&self.files) {
            writer.finish()?;
            writer.into_inner()?.finish()?;
            let path = file.path().ok_or_else(|| {
                DataFusionError::Execution("the training cache needs local spill files".into())
            })?;
            bytes += std::fs::metadata(path)?.len();
            urls.push(ListingTableUrl::parse(path.to_string_lossy())?);
        }
        // The files have no extension: every listed file is one of them.
        let options = ListingOptions::new(Arc::new(ArrowFormat)).with_file_extension("");
        let config = ListingTableConfig::new_with_multi_paths(urls)
            .with_listing_options(options)
            .with_schema(schema);
        let table = HeldTable {
            rows: Arc::new(ListingTable::try_new(config)?),
            _held: Held::Files { _files: self.files },
        };
        Ok((table, bytes))
    }
}

/// What keeps a cached table's rows accounted for, or on disk, while the table lives.
enum Held {
    /// The reservation of the rows held in memory.
    Memory { _reservation: MemoryReservation },
    /// The spill files (removed when the last reference is dropped).
    Files { _files: Vec<Arc<dyn SpillFile>> },
}

/// A table over cached rows that holds their reservation or files as long as it lives.
struct HeldTable {
    rows: Arc<dyn TableProvider>,
    _held: Held,
}

impl std::fmt::Debug for HeldTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeldTable").finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl TableProvider for HeldTable {
    fn schema(&self) -> SchemaRef {
        self.rows.schema()
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
        self.rows.scan(state, projection, filters, limit).await
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        self.rows.supports_filters_pushdown(filters)
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
