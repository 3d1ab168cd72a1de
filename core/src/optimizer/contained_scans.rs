//! [`ContainScanPanics`]: a file scan whose reader panics on a corrupt file ends its query (on a
//! cluster, its task) with an error naming the file, and a decoder's error names it too.
//!
//! Why: the parquet crate (59) panics on some corrupt pages while a scan decodes them (a
//! dictionary-encoded page without a dictionary: `expect("Decoder for dict should have been
//! set")`, found by `tests/fuzz.rs`), and DataFusion re-raises a panic of a task in the caller
//! of `collect()`, so a program using `Session` would panic; and the decoder's errors ("Data
//! corruption detected") do not say which file they came from. A Ballista executor catches a
//! panicking task and fails it, but with the panic's message alone; the guard travels to
//! executors in their plans (`crate::plan_codec`) so that the error names the file there too.
//!
//! The guard is a node above each file scan ([`ContainedScanExec`]) that polls the scan's stream
//! under `catch_unwind` and prefixes the scan's Parquet and Arrow errors with the files its
//! partition reads. It costs nothing until a panic (an unwinding landing pad per poll).

use std::any::Any;
use std::fmt;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode, TreeNodeRecursion};
use datafusion::common::Statistics;
use datafusion::config::ConfigOptions;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::execution_plan::CardinalityEffect;
use datafusion::physical_plan::statistics::{ChildStats, StatisticsArgs};
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use ember_connectors::panic_message;

use super::file_scan_config;
use futures::{Stream, StreamExt};

/// Physical optimizer rule: puts a [`ContainedScanExec`] above every file scan. Runs last.
#[derive(Debug, Default)]
pub struct ContainScanPanics;

impl PhysicalOptimizerRule for ContainScanPanics {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            Ok(match file_scan_config(node.as_ref()).is_some() {
                true => Transformed::yes(Arc::new(ContainedScanExec::new(node)) as _),
                false => Transformed::no(node),
            })
        })
        .data()
    }

    fn name(&self) -> &str {
        "ember_contain_scan_panics"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// A file scan whose panics become errors and whose decoding errors name its files (see the
/// module documentation).
#[derive(Debug)]
pub struct ContainedScanExec {
    scan: Arc<dyn ExecutionPlan>,
}

impl ContainedScanExec {
    /// The guard of `scan` (a file scan: a `DataSourceExec` of a `FileScanConfig`, whose files
    /// the errors name).
    pub fn new(scan: Arc<dyn ExecutionPlan>) -> Self {
        ContainedScanExec { scan }
    }
}

/// A file scan and one of its partitions: what an error names (built only when one happens).
#[derive(Debug, Clone)]
struct ScanPartition {
    scan: Arc<dyn ExecutionPlan>,
    partition: usize,
}

/// At most this many of a partition's files are named in a message.
const NAMED_FILES: usize = 5;

impl ScanPartition {
    /// The files the partition reads, for messages: the file, or the first few of several.
    fn files(&self) -> String {
        let files: Vec<String> = file_scan_config(self.scan.as_ref())
            .and_then(|config| {
                // The store's URL and the path in it: `file:///data/x.parquet`,
                // `s3://bucket/x.parquet`.
                let store = config.object_store_url.as_str();
                let group = config.file_groups.get(self.partition)?;
                Some(
                    (group.files().iter())
                        .map(|file| format!("{store}{}", file.object_meta.location))
                        .collect(),
                )
            })
            .unwrap_or_default();
        match files.as_slice() {
            [one] => one.clone(),
            few if few.len() <= NAMED_FILES => format!("one of {}", few.join(", ")),
            many => format!(
                "one of {} and {} more",
                many[..NAMED_FILES].join(", "),
                many.len() - NAMED_FILES
            ),
        }
    }

    /// `error` naming the files when it is a decoder's (Parquet or Arrow) error; others
    /// (memory, cancellation, object store errors, which name their object) pass unchanged.
    fn named(&self, error: DataFusionError) -> DataFusionError {
        match error {
            DataFusionError::ParquetError(_) | DataFusionError::ArrowError(..) => {
                DataFusionError::External(format!("reading {}: {error}", self.files()).into())
            }
            other => other,
        }
    }

    fn reader_panicked(&self, panic: &(dyn Any + Send)) -> DataFusionError {
        DataFusionError::External(
            format!(
                "reading {}: corrupt file (its reader panicked: {})",
                self.files(),
                panic_message(panic)
            )
            .into(),
        )
    }
}

impl DisplayAs for ContainedScanExec {
    fn fmt_as(&self, _format: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "ContainedScanExec")
    }
}

impl ExecutionPlan for ContainedScanExec {
    fn name(&self) -> &str {
        "ContainedScanExec"
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.scan.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.scan]
    }

    fn child_stats_requests(&self, partition: Option<usize>) -> Vec<ChildStats> {
        vec![ChildStats::At(partition)]
    }

    /// The scan's: what runs after this rule sees through the guard. A cluster's stage planner
    /// does: it broadcasts a join's build side only when its statistics show it small, and
    /// when they were unknown it turned a `CollectLeft` join under a single-partition
    /// aggregate into a partitioned one, which then aggregated each partition apart (TPC-H q14
    /// answered 4 rows).
    fn statistics_from_inputs(
        &self,
        input_stats: &[Arc<Statistics>],
        _args: &StatisticsArgs,
    ) -> Result<Arc<Statistics>> {
        match input_stats {
            [scan] => Ok(Arc::clone(scan)),
            _ => Ok(Arc::new(Statistics::new_unknown(&self.schema()))),
        }
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn cardinality_effect(&self) -> CardinalityEffect {
        CardinalityEffect::Equal
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match (children.pop(), children.is_empty()) {
            (Some(scan), true) => Ok(Arc::new(ContainedScanExec::new(scan))),
            _ => Err(DataFusionError::Internal(
                "ContainedScanExec has exactly one child".into(),
            )),
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let source = ScanPartition {
            scan: Arc::clone(&self.scan),
            partition,
        };
        let opened =
            std::panic::catch_unwind(AssertUnwindSafe(|| self.scan.execute(partition, context)))
                .map_err(|panic| source.reader_panicked(panic.as_ref()))?;
        Ok(Box::pin(ContainedStream {
            schema: self.scan.schema(),
            inner: Some(opened.map_err(|error| source.named(error))?),
            source,
        }))
    }
}

/// The stream of a [`ContainedScanExec`]: ends after the error of a panic.
struct ContainedStream {
    schema: SchemaRef,
    /// `None` once a poll panicked: the inner stream may be in any state.
    inner: Option<SendableRecordBatchStream>,
    source: ScanPartition,
}

impl Stream for ContainedStream {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Ready(None);
        };
        match std::panic::catch_unwind(AssertUnwindSafe(|| inner.poll_next_unpin(cx))) {
            Ok(Poll::Ready(Some(Err(error)))) => Poll::Ready(Some(Err(self.source.named(error)))),
            Ok(polled) => polled,
            Err(panic) => {
                self.inner = None;
                Poll::Ready(Some(Err(self.source.reader_panicked(panic.as_ref()))))
            }
        }
    }
}

impl RecordBatchStream for ContainedStream {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }
}
