//! Run `ORDER BY ... LIMIT` as a full sort, which spills, followed by a limit, instead of
//! DataFusion's top-k heap, which cannot.
//!
//! Why this exists: a `SortExec` with a fetch runs as `TopK`, which keeps `fetch` rows (offset
//! included) in memory and cannot spill, so `ORDER BY o_comment LIMIT 10 OFFSET 1000000` over
//! TPC-H SF 10 `orders` failed under a 1 GiB budget. A full sort takes longer for small limits
//! but spills to `ember.local.dir`. The rule is installed only in the plans that a statement
//! runs again with after it ran out of memory ([`crate::state::spillable_plans`]), so top-k
//! keeps its speed whenever it fits.

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::config::ConfigOptions;
use datafusion::error::Result;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::limit::{GlobalLimitExec, LocalLimitExec};
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::ExecutionPlan;

/// Physical optimizer rule; see the module documentation. Runs after DataFusion's rules, which
/// would otherwise push the limit back into the sort.
#[derive(Debug, Default)]
pub struct LimitsBySorting;

impl PhysicalOptimizerRule for LimitsBySorting {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            let Some(sort) = node.downcast_ref::<SortExec>() else {
                return Ok(Transformed::no(node));
            };
            let Some(fetch) = sort.fetch() else {
                return Ok(Transformed::no(node));
            };
            let full_sort = Arc::new(
                SortExec::new(sort.expr().clone(), Arc::clone(sort.input()))
                    .with_preserve_partitioning(sort.preserve_partitioning()),
            );
            // Each partition keeps its first `fetch` rows when the sort preserves partitioning
            // (a merge above applies the statement's limit); a single sorted output is the
            // statement's rows.
            let limited: Arc<dyn ExecutionPlan> = if sort.preserve_partitioning() {
                Arc::new(LocalLimitExec::new(full_sort, fetch))
            } else {
                Arc::new(GlobalLimitExec::new(full_sort, 0, Some(fetch)))
            };
            Ok(Transformed::yes(limited))
        })
        .data()
    }

    fn name(&self) -> &str {
        "limits_by_sorting"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::physical_expr::expressions::col;
    use datafusion::physical_expr::{LexOrdering, PhysicalSortExpr};
    use datafusion::physical_plan::displayable;
    use datafusion::physical_plan::empty::EmptyExec;

    fn top_k(preserve_partitioning: bool) -> Arc<dyn ExecutionPlan> {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
        let input = Arc::new(EmptyExec::new(Arc::clone(&schema)));
        let ordering = LexOrdering::new(vec![PhysicalSortExpr::new_default(
            col("x", &schema).unwrap(),
        )])
        .unwrap();
        Arc::new(
            SortExec::new(ordering, input)
                .with_preserve_partitioning(preserve_partitioning)
                .with_fetch(Some(1_000_010)),
        )
    }

    fn rewritten(plan: Arc<dyn ExecutionPlan>) -> String {
        let plan = LimitsBySorting
            .optimize(plan, &ConfigOptions::default())
            .unwrap();
        let text = displayable(plan.as_ref()).indent(false).to_string();
        text
    }

    #[test]
    fn a_single_top_k_becomes_a_sort_and_a_global_limit() {
        assert_eq!(
            rewritten(top_k(false)),
            "GlobalLimitExec: skip=0, fetch=1000010\n  \
             SortExec: expr=[x@0 ASC], preserve_partitioning=[false]\n    \
             EmptyExec\n"
        );
    }

    #[test]
    fn a_top_k_per_partition_becomes_a_sort_and_a_local_limit_per_partition() {
        assert_eq!(
            rewritten(top_k(true)),
            "LocalLimitExec: fetch=1000010\n  \
             SortExec: expr=[x@0 ASC], preserve_partitioning=[true]\n    \
             EmptyExec\n"
        );
    }
}
