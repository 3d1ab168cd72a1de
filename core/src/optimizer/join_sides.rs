//! Put the hash table on the side with fewer rows when DataFusion's byte estimate chose the
//! other one.
//!
//! Why this exists: DataFusion's `join_selection` compares the two inputs' estimated *bytes* and
//! builds the hash table on the smaller. Byte estimates of derived inputs can be far off: after
//! TPC-H q21's joins, a 600K-row semi-join result was estimated at 952 MB (column sizes carried
//! over from the whole table), more than the 12M-row `lineitem` side, so the anti join built its
//! hash table over 38M `lineitem` rows on one thread and probed it with 700K. Row estimates of
//! the same inputs were right to a factor of two. This rule runs right after `join_selection` and
//! swaps a collected (`CollectLeft`) hash join back when its build side is estimated to have more
//! than [`BUILD_ROWS_RATIO`] times the probe side's rows. The ratio leaves close calls to the
//! byte estimate, which knows about wide rows; Presto flips join sides at a similar factor (8).
//!
//! Measured at TPC-H SF 10 on 2 cores (`benches/tpch.sh 10`): see the README's benchmark table.

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::common::JoinType;
use datafusion::config::ConfigOptions;
use datafusion::error::Result;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::joins::{HashJoinExec, PartitionMode};
use datafusion::physical_plan::{ExecutionPlan, StatisticsArgs, StatisticsContext};

/// A collected hash join is swapped when its build side has more than this many times the probe
/// side's estimated rows.
pub const BUILD_ROWS_RATIO: usize = 8;

/// Physical optimizer rule; see the module documentation. Must run right after `join_selection`,
/// before distribution is enforced and dynamic filters are wired to their scans.
#[derive(Debug, Default)]
pub struct BuildOnFewerRows;

impl PhysicalOptimizerRule for BuildOnFewerRows {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if !config.optimizer.join_reordering {
            return Ok(plan);
        }
        plan.transform_up(|node| {
            let Some(join) = node.downcast_ref::<HashJoinExec>() else {
                return Ok(Transformed::no(node));
            };
            if should_swap(join)? {
                Ok(Transformed::yes(
                    join.swap_inputs(PartitionMode::CollectLeft)?,
                ))
            } else {
                Ok(Transformed::no(node))
            }
        })
        .data()
    }

    fn name(&self) -> &str {
        "build_on_fewer_rows"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

fn should_swap(join: &HashJoinExec) -> Result<bool> {
    let semi_or_anti = matches!(
        join.join_type(),
        JoinType::LeftSemi | JoinType::RightSemi | JoinType::LeftAnti | JoinType::RightAnti
    );
    if *join.partition_mode() != PartitionMode::CollectLeft || !semi_or_anti || join.null_aware {
        return Ok(false);
    }
    let (Some(build), Some(probe)) = (estimated_rows(join.left())?, estimated_rows(join.right())?)
    else {
        return Ok(false);
    };
    Ok(build > probe.saturating_mul(BUILD_ROWS_RATIO))
}

fn estimated_rows(plan: &Arc<dyn ExecutionPlan>) -> Result<Option<usize>> {
    let statistics = StatisticsContext::new().compute(plan.as_ref(), &StatisticsArgs::new())?;
    Ok(statistics.num_rows.get_value().copied())
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Int64Array, RecordBatch};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::common::NullEquality;
    use datafusion::datasource::memory::MemorySourceConfig;
    use datafusion::physical_expr::expressions::Column;

    use super::*;

    /// A one-column (`k`) in-memory input with exactly `rows` rows.
    fn input(rows: i64) -> Arc<dyn ExecutionPlan> {
        let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, false)]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int64Array::from_iter_values(0..rows))],
        )
        .unwrap();
        MemorySourceConfig::try_new_exec(&[vec![batch]], schema, None).unwrap()
    }

    fn collected_join(
        build_rows: i64,
        probe_rows: i64,
        join_type: JoinType,
    ) -> Arc<dyn ExecutionPlan> {
        let key = |name| Arc::new(Column::new(name, 0)) as _;
        Arc::new(
            HashJoinExec::try_new(
                input(build_rows),
                input(probe_rows),
                vec![(key("k"), key("k"))],
                None,
                &join_type,
                None,
                PartitionMode::CollectLeft,
                NullEquality::NullEqualsNothing,
                false,
            )
            .unwrap(),
        )
    }

    fn optimized_join_type(plan: Arc<dyn ExecutionPlan>) -> JoinType {
        let optimized = BuildOnFewerRows
            .optimize(plan, &ConfigOptions::default())
            .unwrap();
        *optimized
            .downcast_ref::<HashJoinExec>()
            .unwrap()
            .join_type()
    }

    #[test]
    fn anti_join_builds_on_far_fewer_rows() {
        let swapped = collected_join(9_000, 1_000, JoinType::RightAnti);
        assert_eq!(optimized_join_type(swapped), JoinType::LeftAnti);
        let semi = collected_join(9_000, 1_000, JoinType::LeftSemi);
        assert_eq!(optimized_join_type(semi), JoinType::RightSemi);
    }

    #[test]
    fn close_calls_and_other_joins_keep_their_sides() {
        let close = collected_join(8_000, 1_000, JoinType::RightAnti);
        assert_eq!(optimized_join_type(close), JoinType::RightAnti);
        let inner = collected_join(9_000, 1_000, JoinType::Inner);
        let optimized = BuildOnFewerRows
            .optimize(inner, &ConfigOptions::default())
            .unwrap();
        let join = optimized.downcast_ref::<HashJoinExec>().unwrap();
        assert_eq!(estimated_rows(join.left()).unwrap(), Some(9_000));
    }
}
