//! Apply the dynamic filters of hash joins (and TopK / aggregates) right above Parquet scans when
//! the scan does not evaluate them itself.
//!
//! Why this exists: DataFusion pushes a hash join's *dynamic filter* (the build side's keys) into
//! the probe side's Parquet scan. With `datafusion.execution.parquet.pushdown_filters = false`
//! the scan uses it only to prune row groups by statistics, so a selective join (TPC-H q18: 624
//! order keys against 60M lineitem rows at SF 10) still joins every row. Turning pushdown on
//! fixes that but also makes the scan evaluate every static predicate row by row during
//! decoding, which measured 1.5-2.5x slower on most TPC-H queries (q06: 0.86 s -> 1.35 s at
//! SF 10). This rule takes the dynamic filters out of the scan's predicate and evaluates them in
//! a `FilterExec` directly above the scan: rows a join cannot match are dropped before they reach
//! any join, while static predicates keep their cheaper decode-then-filter path.
//!
//! Evaluating a join filter costs about as much as the join's own probe, so it pays only when it
//! removes nearly every row (q18 and q17 keep well under 1%); kept for every filter, q03, q05, q08
//! and q10 at SF 10 were 25-50% slower. Each filter is therefore wrapped in a
//! [`SelectiveDynamicFilter`] that stops evaluating it once more than [`MAX_PASS_FRACTION`] of at
//! least [`MIN_ROWS_OBSERVED`] rows have passed after its producer finished.
//!
//! It is correct wherever DataFusion placed the filter: a dynamic filter only removes rows that
//! cannot contribute to the result, so evaluating it after decoding instead of during decoding,
//! or not at all, changes nothing but cost. Until its producer has finished (e.g. a join's build
//! side), a dynamic filter evaluates to `true`.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::ColumnarValue;
use futures::FutureExt;

use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::config::ConfigOptions;
use datafusion::datasource::physical_plan::{FileSource, ParquetSource};
use datafusion::error::Result;
use datafusion::physical_expr::expressions::DynamicFilterPhysicalExpr;
use datafusion::physical_expr::utils::{conjunction, reassign_expr_columns, split_conjunction};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::ExecutionPlan;

use super::file_scan_config;

/// Physical optimizer rule; see the module documentation. Runs after DataFusion's own rules.
#[derive(Debug, Default)]
pub struct FilterDynamicallyAboveScans;

impl PhysicalOptimizerRule for FilterDynamicallyAboveScans {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if config.execution.parquet.pushdown_filters {
            // The scans evaluate dynamic filters themselves.
            return Ok(plan);
        }
        plan.transform_up(|node| {
            Ok(match dynamic_filter_over_scan_output(&node)? {
                Some(filter) => Transformed::yes(Arc::new(FilterExec::try_new(filter, node)?) as _),
                None => Transformed::no(node),
            })
        })
        .data()
    }

    fn name(&self) -> &str {
        "filter_dynamically_above_scans"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// When `node` is a Parquet scan that holds dynamic filters it will not evaluate row by row, their
/// conjunction rewritten onto the scan's output columns. Filters that use a column the scan does
/// not output are left to statistics pruning.
fn dynamic_filter_over_scan_output(
    node: &Arc<dyn ExecutionPlan>,
) -> Result<Option<Arc<dyn PhysicalExpr>>> {
    let Some(config) = file_scan_config(node.as_ref()) else {
        return Ok(None);
    };
    let Some(parquet) = config.file_source().downcast_ref::<ParquetSource>() else {
        return Ok(None);
    };
    let Some(predicate) = parquet.filter() else {
        return Ok(None);
    };
    let output_schema = node.schema();
    let dynamic: Vec<_> = split_conjunction(&predicate)
        .into_iter()
        .filter(|expr| expr.downcast_ref::<DynamicFilterPhysicalExpr>().is_some())
        .filter_map(|expr| reassign_expr_columns(Arc::clone(expr), &output_schema).ok())
        .map(|filter| Arc::new(SelectiveDynamicFilter::new(filter)) as Arc<dyn PhysicalExpr>)
        .collect();
    Ok((!dynamic.is_empty()).then(|| conjunction(dynamic)))
}

/// Rows a completed filter must have seen before it may be judged unselective.
pub const MIN_ROWS_OBSERVED: u64 = 64 * 1024;
/// A completed filter that lets more than this fraction of rows through is no longer evaluated.
/// Measured on TPC-H SF 10 (q03, q05, q08, q10, q17, q18, q21 together): 0.75 -> 23.1 s,
/// 0.3 -> 21.0 s, 0.1 -> 20.5 s, 0.02 -> 19.3 s, 0.005 -> 19.6 s.
pub const MAX_PASS_FRACTION: f64 = 0.02;

/// A dynamic filter that turns itself off when it proves unselective. Every partition of the
/// plan shares one instance, so the verdict is reached once for the whole scan.
#[derive(Debug)]
pub struct SelectiveDynamicFilter {
    filter: Arc<dyn PhysicalExpr>,
    verdict: Arc<Verdict>,
}

/// Rows seen and passed by a completed filter, and whether it is switched off.
#[derive(Debug, Default)]
struct Verdict {
    rows_seen: AtomicU64,
    rows_passed: AtomicU64,
    switched_off: AtomicBool,
}

impl SelectiveDynamicFilter {
    /// Wraps `filter`, a [`DynamicFilterPhysicalExpr`] (possibly with remapped columns).
    pub fn new(filter: Arc<dyn PhysicalExpr>) -> Self {
        Self {
            filter,
            verdict: Arc::default(),
        }
    }

    /// Whether the filter's producer has finished, so its pass rate means something.
    fn is_complete(&self) -> bool {
        self.filter
            .downcast_ref::<DynamicFilterPhysicalExpr>()
            .is_some_and(|dynamic| dynamic.wait_complete().now_or_never().is_some())
    }

    fn record(&self, rows: u64, passed: u64) {
        let verdict = &self.verdict;
        let seen = verdict.rows_seen.fetch_add(rows, Ordering::Relaxed) + rows;
        let passed = verdict.rows_passed.fetch_add(passed, Ordering::Relaxed) + passed;
        if seen >= MIN_ROWS_OBSERVED && passed as f64 > MAX_PASS_FRACTION * seen as f64 {
            verdict.switched_off.store(true, Ordering::Relaxed);
        }
    }
}

impl PhysicalExpr for SelectiveDynamicFilter {
    fn data_type(&self, _input_schema: &Schema) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn nullable(&self, input_schema: &Schema) -> Result<bool> {
        self.filter.nullable(input_schema)
    }

    fn evaluate(&self, batch: &RecordBatch) -> Result<ColumnarValue> {
        if self.verdict.switched_off.load(Ordering::Relaxed) {
            return Ok(ColumnarValue::Scalar(ScalarValue::Boolean(Some(true))));
        }
        let result = self.filter.evaluate(batch)?;
        if self.is_complete() {
            let rows = batch.num_rows() as u64;
            let passed = match &result {
                ColumnarValue::Array(mask) => mask.as_boolean().true_count() as u64,
                ColumnarValue::Scalar(ScalarValue::Boolean(Some(true))) => rows,
                ColumnarValue::Scalar(_) => 0,
            };
            self.record(rows, passed);
        }
        Ok(result)
    }

    fn children(&self) -> Vec<&Arc<dyn PhysicalExpr>> {
        vec![&self.filter]
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn PhysicalExpr>>,
    ) -> Result<Arc<dyn PhysicalExpr>> {
        let filter = children
            .into_iter()
            .next()
            .unwrap_or_else(|| Arc::clone(&self.filter));
        Ok(Arc::new(Self {
            filter,
            verdict: Arc::clone(&self.verdict),
        }))
    }

    fn fmt_sql(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.filter.fmt_sql(f)
    }
}

impl fmt::Display for SelectiveDynamicFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "selective({})", self.filter)
    }
}

impl PartialEq for SelectiveDynamicFilter {
    fn eq(&self, other: &Self) -> bool {
        self.filter.as_ref() == other.filter.as_ref()
    }
}

impl Eq for SelectiveDynamicFilter {}

impl Hash for SelectiveDynamicFilter {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.filter.hash(state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Int64Array;
    use datafusion::arrow::datatypes::Field;
    use datafusion::logical_expr::Operator;
    use datafusion::physical_expr::expressions::{binary, col, lit};

    fn batch(values: impl Iterator<Item = i64>) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, false)]));
        let column = Arc::new(Int64Array::from_iter_values(values));
        RecordBatch::try_new(schema, vec![column]).unwrap()
    }

    /// A dynamic filter `k < bound`, complete as a join's would be once its build side is done.
    fn completed_filter(bound: i64, complete: bool) -> SelectiveDynamicFilter {
        let schema = batch(0..1).schema();
        let k = col("k", &schema).unwrap();
        let dynamic = DynamicFilterPhysicalExpr::new(vec![Arc::clone(&k)], lit(true));
        dynamic
            .update(binary(k, Operator::Lt, lit(bound), &schema).unwrap())
            .unwrap();
        if complete {
            dynamic.mark_complete();
        }
        SelectiveDynamicFilter::new(Arc::new(dynamic))
    }

    fn passed(filter: &SelectiveDynamicFilter, batch: &RecordBatch) -> usize {
        match filter.evaluate(batch).unwrap() {
            ColumnarValue::Array(mask) => mask.as_boolean().true_count(),
            ColumnarValue::Scalar(ScalarValue::Boolean(Some(true))) => batch.num_rows(),
            ColumnarValue::Scalar(_) => 0,
        }
    }

    #[test]
    fn selective_filter_keeps_filtering() {
        let filter = completed_filter(10, true);
        let rows = batch(0..8192);
        for _ in 0..100 {
            assert_eq!(passed(&filter, &rows), 10);
        }
    }

    #[test]
    fn unselective_filter_switches_itself_off_but_never_drops_a_matching_row() {
        let filter = completed_filter(8000, true);
        let rows = batch(0..8192);
        let batches_to_verdict = MIN_ROWS_OBSERVED.div_ceil(8192) as usize;
        for _ in 0..batches_to_verdict {
            assert_eq!(passed(&filter, &rows), 8000);
        }
        // Switched off: everything passes, a superset of the matching rows.
        assert_eq!(passed(&filter, &rows), 8192);
    }

    #[test]
    fn unfinished_filter_is_never_judged() {
        let filter = completed_filter(8000, false);
        let rows = batch(0..8192);
        for _ in 0..100 {
            assert_eq!(passed(&filter, &rows), 8000);
        }
    }
}
