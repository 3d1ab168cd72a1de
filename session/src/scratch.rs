//! Materialized tables for cluster sessions: `CREATE TABLE ... AS` and [`Session::cache`].
//!
//! In one process DataFusion keeps such tables in memory. A cluster cannot: an in-memory table
//! lives in the client, and its plans cannot be sent to the scheduler. So a cluster session writes
//! the rows as Parquet, from the executors in parallel, under its own directory in
//! `ember.scratch.dir`, and registers a Parquet table over them. The directory is removed when the
//! session ends.
//!
//! The directory must be shared by the client, the scheduler (which lists the files when it plans)
//! and every executor. That is checked on every table: the rows read back must be the rows
//! written, or the statement fails naming the directory, rather than later queries silently
//! seeing some of the rows.
//!
//! [`Session::cache`]: crate::Session::cache

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use datafusion::arrow::array::{Array, UInt64Array};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::TableReference;
use datafusion::dataframe::{DataFrame, DataFrameWriteOptions};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{CreateMemoryTable, LogicalPlan, LogicalPlanBuilder};
use datafusion::prelude::SessionContext;

use crate::error::{EmberError, Result};

/// One cluster session's directory of materialized tables, removed when dropped.
#[derive(Debug)]
pub struct Scratch {
    dir: PathBuf,
    tables_written: AtomicUsize,
}

impl Scratch {
    /// The scratch directory of the session `session_id` under `root` (made absolute, since
    /// executors may run elsewhere); created on first use.
    pub fn new(root: &Path, session_id: &str) -> Result<Scratch> {
        let root = std::path::absolute(root).map_err(|cause| scratch_error(root, cause))?;
        Ok(Scratch {
            dir: root.join(format!("session-{session_id}")),
            tables_written: AtomicUsize::new(0),
        })
    }

    /// Runs `CREATE [OR REPLACE] TABLE name AS query` on the cluster: the query's rows become
    /// Parquet files in this session's directory, registered as table `name`. Returns the empty
    /// result of a DDL statement, as DataFusion does.
    pub async fn create_table(
        &self,
        context: &SessionContext,
        create: &CreateMemoryTable,
    ) -> Result<DataFrame> {
        let name = create.name.clone();
        if !create.constraints.is_empty() {
            return Err(DataFusionError::NotImplemented(format!(
                "CREATE TABLE {name} AS ... with constraints on a cluster"
            ))
            .into());
        }
        let exists = context.table_exist(name.clone())?;
        if exists && create.if_not_exists {
            return Ok(empty_result(context)?);
        }
        if exists && !create.or_replace {
            return Err(
                DataFusionError::Execution(format!("Table '{name}' already exists")).into(),
            );
        }
        let rows = DataFrame::new(context.state(), create.input.as_ref().clone());
        let table = self.materialize(context, &name, rows).await?;
        context.deregister_table(name.clone())?;
        context.register_table(name, table)?;
        Ok(empty_result(context)?)
    }

    /// Writes the rows of `rows` to a new directory here (from the executors, in parallel) and
    /// returns a Parquet table over them, checked to read back every row written. `name` labels the
    /// directory and errors.
    pub async fn materialize(
        &self,
        context: &SessionContext,
        name: &TableReference,
        rows: DataFrame,
    ) -> Result<Arc<ListingTable>> {
        let number = self.tables_written.fetch_add(1, Ordering::Relaxed);
        let dir = self.dir.join(format!("{}-{number}", file_stem(name)));
        std::fs::create_dir_all(&dir).map_err(|cause| scratch_error(&dir, cause))?;
        let schema = rows.schema().inner().clone();
        let written = rows
            .write_parquet(&dir_url(&dir), DataFrameWriteOptions::new(), None)
            .await?;
        let written = rows_written(&written)?;

        let location = ListingTableUrl::parse(dir_url(&dir))?;
        let options =
            ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
        let config = ListingTableConfig::new(location)
            .with_listing_options(options)
            .with_schema(schema);
        let table = Arc::new(ListingTable::try_new(config)?);
        let read_back = context.read_table(table.clone())?.count().await?;
        if read_back as u64 != written {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(DataFusionError::Execution(format!(
                "table {name}: the executors wrote {written} rows under {}, but the cluster reads \
                 back {read_back}: ember.scratch.dir must be a directory shared by this client, \
                 the scheduler and every executor",
                dir.display()
            ))
            .into());
        }
        Ok(table)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        match std::fs::remove_dir_all(&self.dir) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => tracing::warn!(
                "could not remove the session's scratch directory {}: {error}",
                self.dir.display()
            ),
            _ => {}
        }
    }
}

/// The result of a DDL statement: no rows, no columns.
fn empty_result(context: &SessionContext) -> datafusion::error::Result<DataFrame> {
    let plan: LogicalPlan = LogicalPlanBuilder::empty(false).build()?;
    Ok(DataFrame::new(context.state(), plan))
}

/// `dir` as a URL with a trailing slash, which DataFusion reads and writes as a directory.
fn dir_url(dir: &Path) -> String {
    format!("{}/", dir.display())
}

/// A file-name-safe form of a table name.
fn file_stem(name: &TableReference) -> String {
    name.to_string()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// The row count in the result of a write (one `count` column).
fn rows_written(result: &[RecordBatch]) -> datafusion::error::Result<u64> {
    let mut total = 0;
    for batch in result {
        let counts = batch
            .column(0)
            .as_any()
            .downcast_ref::<UInt64Array>()
            .ok_or_else(|| {
                DataFusionError::Internal("a write did not report its row count".to_string())
            })?;
        total += counts.iter().flatten().sum::<u64>();
    }
    Ok(total)
}

fn scratch_error(dir: &Path, cause: std::io::Error) -> EmberError {
    DataFusionError::Execution(format!(
        "cannot use the scratch directory {} (ember.scratch.dir): {cause}",
        dir.display()
    ))
    .into()
}
