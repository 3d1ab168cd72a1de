//! Writing datasets: `COPY (query) TO 'location' ... OPTIONS (mode '...')` and
//! [`crate::Session::write`], both through [`write_atomically`].
//!
//! DataFusion's `COPY` writes straight into its target, so a failed or killed job leaves part of
//! a dataset there, and it always appends. Here the job writes into a hidden staging location
//! and [`StagedWrite`] publishes it when the job has succeeded, with Spark's save modes
//! (`error`, the default, `overwrite`, `append`). Everything else — formats, `PARTITIONED BY`
//! (Hive-style directories), compression and other format options — is DataFusion's `COPY`.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{RecordBatch, UInt64Array};
use datafusion::common::file_options::file_type::FileType;
use datafusion::common::ScalarValue;
use datafusion::config::ConfigNonZeroUsize;
use datafusion::dataframe::DataFrame;
use datafusion::datasource::listing::ListingTableUrl;
use datafusion::logical_expr::dml::CopyTo;
use datafusion::logical_expr::{lit, LogicalPlan, LogicalPlanBuilder};
use datafusion::prelude::SessionContext;
use ember_connectors::{ConnectorError, StagedWrite, WriteMode};

use crate::error::Result;

/// The `COPY` option that picks the [`WriteMode`] (DataFusion files unprefixed options under
/// `format.`).
const MODE_OPTION: &str = "format.mode";

/// The `COPY` option that caps the rows of each output file (Spark's `maxRecordsPerFile`): a file
/// is closed, and a new one started, at the first batch boundary at or past it. DataFusion has this only as a session setting
/// (`datafusion.execution.soft_max_rows_per_output_file`, default 50M); this sets it for one write.
const MAX_RECORDS_OPTION: &str = "format.max_records_per_file";

/// What a write stores, where, and how.
#[derive(Clone)]
pub struct WriteRequest {
    /// The rows to write.
    pub input: Arc<LogicalPlan>,
    /// Where: a directory (ends with `/`, or has no file extension, or is partitioned) or a file.
    pub target: String,
    /// Columns whose values become `column=value/` directories.
    pub partition_by: Vec<String>,
    /// The file format.
    pub file_type: Arc<dyn FileType>,
    /// Format options as in `COPY ... OPTIONS (...)`, e.g. `format.compression`; `mode` among
    /// them picks the [`WriteMode`].
    pub options: HashMap<String, String>,
}

impl From<&CopyTo> for WriteRequest {
    fn from(copy: &CopyTo) -> Self {
        Self {
            input: Arc::clone(&copy.input),
            target: copy.output_url.clone(),
            partition_by: copy.partition_by.clone(),
            file_type: Arc::clone(&copy.file_type),
            options: copy.options.clone(),
        }
    }
}

/// Runs `request` in `context` so that its target changes only if the whole job succeeds.
/// Returns the number of rows written.
pub async fn write_atomically(context: &SessionContext, mut request: WriteRequest) -> Result<u64> {
    let mode = match request.options.remove(MODE_OPTION) {
        Some(text) => text.parse().map_err(|cause| ConnectorError::Write {
            target: request.target.clone(),
            cause,
        })?,
        None => WriteMode::default(),
    };
    let max_records =
        match request.options.remove(MAX_RECORDS_OPTION) {
            Some(text) => Some(text.trim().parse::<ConfigNonZeroUsize>().map_err(|_| {
                ConnectorError::Write {
                    target: request.target.clone(),
                    cause: format!("max_records_per_file must be a positive integer, not '{text}'"),
                }
            })?),
            None => None,
        };
    let single_file = request.partition_by.is_empty() && names_a_file(&request.target);
    let staged = StagedWrite::begin(&context.state(), &request.target, mode, single_file).await?;
    let plan = LogicalPlan::Copy(CopyTo::new(
        request.input,
        staged.staging_url().to_string(),
        request.partition_by,
        request.file_type,
        request.options,
    ));
    let mut state = context.state();
    if let Some(rows) = max_records {
        state
            .config_mut()
            .options_mut()
            .execution
            .soft_max_rows_per_output_file = rows;
    }
    let written = DataFrame::new(state, plan).collect().await;
    match written {
        Ok(batches) => {
            staged.commit().await?;
            Ok(rows_written(&batches))
        }
        Err(error) => {
            staged.abort().await;
            Err(error.into())
        }
    }
}

/// The `count` column DataFusion's `COPY` returns.
fn rows_written(batches: &[RecordBatch]) -> u64 {
    batches
        .first()
        .and_then(|batch| batch.column(0).as_any().downcast_ref::<UInt64Array>())
        .map_or(0, |counts| counts.value(0))
}

/// The one-row `count` frame `COPY` returns, planned from a literal: a frame over collected
/// batches (a memory table) could not be serialized for a cluster to run.
pub fn count_frame(context: &SessionContext, rows: u64) -> datafusion::error::Result<DataFrame> {
    let plan = LogicalPlanBuilder::empty(true)
        .project([lit(ScalarValue::UInt64(Some(rows))).alias("count")])?
        .build()?;
    Ok(DataFrame::new(context.state(), plan))
}

/// Whether DataFusion writes `target` as one file: no trailing `/` and a file extension (its
/// `FileOutputMode::Automatic`).
fn names_a_file(target: &str) -> bool {
    ListingTableUrl::parse(target)
        .is_ok_and(|url| !url.is_collection() && url.file_extension().is_some())
}
