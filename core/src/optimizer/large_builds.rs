//! Plan a sort-merge join, which spills, where statistics say a hash join's build side would not
//! fit in the memory budget.
//!
//! Why this exists: DataFusion's hash join holds its whole build side in memory and cannot
//! spill. This rule decides twice:
//!
//! - Before a first run: a partitioned hash join whose build side is estimated at more than
//!   [`BUILD_SHARE_OF_BUDGET`] of the budget becomes a sort-merge join (sorts and repartitions
//!   are added by the rules that run after it), because a failed first run can cost as long as
//!   the statement itself. Joins whose build side has no byte estimate keep their hash join.
//!   Under the default budget (70% of memory) this only changes joins with build sides of
//!   several GiB; TPC-H SF 10 keeps all its hash joins.
//! - When a statement ran out of memory and runs again ([`crate::state::spillable_plans`]):
//!   every hash join becomes a sort-merge join except those whose build side is estimated
//!   small ([`SMALL_BUILD_SHARE_OF_BUDGET`]).

use std::sync::Arc;

use datafusion::arrow::compute::SortOptions;
use datafusion::arrow::datatypes::Schema;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::common::{JoinSide, JoinType, Statistics};
use datafusion::config::ConfigOptions;
use datafusion::error::Result;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::joins::utils::JoinFilter;
use datafusion::physical_plan::joins::{HashJoinExec, PartitionMode, SortMergeJoinExec};
use datafusion::physical_plan::projection::{ProjectionExec, ProjectionExpr};
use datafusion::physical_plan::{ExecutionPlan, StatisticsArgs, StatisticsContext};

/// A partitioned hash join becomes a sort-merge join when its build side is estimated at more
/// than this share of the budget (1/2): its hash table takes about the build side's bytes again
/// in hashes and links, and shares the budget with the probe side's operators.
pub const BUILD_SHARE_OF_BUDGET: u64 = 2;

/// After a statement ran out of memory, a hash join keeps its hash table only when its build
/// side is estimated at no more than this share of the budget (1/256): small dimension tables.
/// Why not sort-merge joins everywhere, as DataFusion plans them with `prefer_hash_join =
/// false`: TPC-H q21 at SF 30 under 4 GiB then sorted 180M `lineitem` rows to join the 25-row
/// `nation` (96 s; 52 s keeping the small joins). Why so small a share, when a first run
/// collects up to 1/8: this is the last try, and estimates are guesses. At 1/32, q21's
/// `orders` with `o_orderstatus = 'F'` (estimated 72 MB, a filter's default selectivity) stayed a
/// hash join and held 712 MB, and the rerun failed one run in two.
pub const SMALL_BUILD_SHARE_OF_BUDGET: u64 = 256;

/// Physical optimizer rule for a one-process session with a memory budget of `budget` bytes;
/// see the module documentation. Runs right after `join_selection`, which chose the partition
/// mode and build side.
#[derive(Debug)]
pub struct SortMergeForLargeBuilds {
    /// The memory budget, in bytes.
    pub budget: u64,
    /// Whether the statement already ran out of memory once: then every hash join (semi and
    /// anti joins and collected build sides too) becomes a sort-merge join unless its build side
    /// is estimated within [`SMALL_BUILD_SHARE_OF_BUDGET`] of the budget. Otherwise only
    /// partitioned inner and outer joins whose build side is estimated above
    /// [`BUILD_SHARE_OF_BUDGET`] do (see [`sort_merge`] for why not semi and anti joins).
    pub ran_out_of_memory: bool,
}

impl SortMergeForLargeBuilds {
    /// Whether `join` becomes a sort-merge join.
    fn sorts_and_merges(&self, join: &HashJoinExec) -> Result<bool> {
        if join.null_aware {
            // NOT IN semantics: only the hash join has them.
            return Ok(false);
        }
        Ok(if self.ran_out_of_memory {
            estimated_bytes_or_row_widths(join.left())?
                .is_none_or(|bytes| bytes > self.budget / SMALL_BUILD_SHARE_OF_BUDGET)
        } else {
            *join.partition_mode() == PartitionMode::Partitioned
                && is_inner_or_outer(join.join_type())
                && estimated_bytes(join.left())?
                    .is_some_and(|bytes| bytes > self.budget / BUILD_SHARE_OF_BUDGET)
        })
    }
}

impl PhysicalOptimizerRule for SortMergeForLargeBuilds {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        // DataFusion plans sort-merge joins only where joins are repartitioned.
        if config.execution.target_partitions < 2 || !config.optimizer.repartition_joins {
            return Ok(plan);
        }
        plan.transform_up(|node| {
            let Some(join) = node.downcast_ref::<HashJoinExec>() else {
                return Ok(Transformed::no(node));
            };
            if !self.sorts_and_merges(join)? {
                return Ok(Transformed::no(node));
            }
            Ok(Transformed::yes(sort_merge(join)?))
        })
        .data()
    }

    fn name(&self) -> &str {
        "sort_merge_for_large_builds"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

fn is_inner_or_outer(join_type: &JoinType) -> bool {
    matches!(
        join_type,
        JoinType::Inner | JoinType::Left | JoinType::Right | JoinType::Full
    )
}

/// The sort-merge join doing what `join` does, with `join`'s embedded projection on top; its
/// filter renumbered by [`left_columns_first`].
///
/// A first run converts inner and outer joins only: semi and anti joins keep their hash join
/// (and the retry). With filters renumbered, semi and anti joins converted here answered right
/// (TPC-H q21 at SF 1 under 170m and 176m, all 22 under 176m and 512m), but at SF 10 under 512m
/// converting them before a first run only slowed q17 (its decorrelated subquery, a semi join
/// whose build side statistics overestimate, 1.5 s to 4.7 s) and sped nothing up.
fn sort_merge(join: &HashJoinExec) -> Result<Arc<dyn ExecutionPlan>> {
    let merged: Arc<dyn ExecutionPlan> = Arc::new(SortMergeJoinExec::try_new(
        Arc::clone(join.left()),
        Arc::clone(join.right()),
        join.on().to_vec(),
        join.filter().map(left_columns_first).transpose()?,
        *join.join_type(),
        vec![SortOptions::default(); join.on().len()],
        join.null_equality(),
    )?);
    let Some(projection) = &join.projection else {
        return Ok(merged);
    };
    let schema = merged.schema();
    let columns = projection.iter().map(|&index| {
        let name = schema.field(index).name().clone();
        ProjectionExpr {
            expr: Arc::new(Column::new(&name, index)),
            alias: name,
        }
    });
    Ok(Arc::new(ProjectionExec::try_new(columns, merged)?))
}

/// `filter` with its columns listed left side first, its expression and schema renumbered to
/// match. Why: DataFusion 55's sort-merge join hands a filter all its left columns, then all its
/// right ones, whatever order the filter lists them in; `join_selection` leaves a swapped hash
/// join's filter listing right columns first, which as is would be evaluated on the wrong
/// columns: wrong rows, no error (apache/datafusion#25489). The planner's own sort-merge joins
/// always list left first.
fn left_columns_first(filter: &JoinFilter) -> Result<JoinFilter> {
    let columns = filter.column_indices();
    let mut order: Vec<usize> = (0..columns.len()).collect();
    order.sort_by_key(|&old| columns[old].side != JoinSide::Left);
    let mut position = vec![0; order.len()];
    for (new, &old) in order.iter().enumerate() {
        position[old] = new;
    }
    let expression = Arc::clone(filter.expression())
        .transform(|expr| {
            Ok(match expr.downcast_ref::<Column>() {
                Some(column) => Transformed::yes(Arc::new(Column::new(
                    column.name(),
                    position[column.index()],
                )) as _),
                None => Transformed::no(expr),
            })
        })
        .data()?;
    let schema = filter.schema();
    let fields: Vec<_> = order.iter().map(|&old| schema.field(old).clone()).collect();
    Ok(JoinFilter::new(
        expression,
        order.iter().map(|&old| columns[old].clone()).collect(),
        Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone())),
    ))
}

fn estimated_bytes(plan: &Arc<dyn ExecutionPlan>) -> Result<Option<u64>> {
    Ok(bytes_of(&*statistics(plan)?))
}

fn statistics(plan: &Arc<dyn ExecutionPlan>) -> Result<Arc<Statistics>> {
    StatisticsContext::new().compute(plan.as_ref(), &StatisticsArgs::new())
}

fn bytes_of(statistics: &Statistics) -> Option<u64> {
    statistics
        .total_byte_size
        .get_value()
        .map(|&bytes| bytes as u64)
}

/// Bytes assumed for a value of a type without a fixed width (strings, lists) when estimating a
/// build side from its rows.
pub const VARIABLE_WIDTH_BYTES: u64 = 32;

/// `plan`'s estimated bytes, or when DataFusion has none (it has none for plans with string
/// columns above a filter or a join), its estimated rows times the width of its schema's row,
/// counting [`VARIABLE_WIDTH_BYTES`] for each value without a fixed width. Without it, a
/// retry could not tell TPC-H's 25-row `nation` from q10's join of `orders` and `customer`
/// (580K rows, 343 MB at SF 10), whose estimates both lack bytes.
fn estimated_bytes_or_row_widths(plan: &Arc<dyn ExecutionPlan>) -> Result<Option<u64>> {
    let statistics = statistics(plan)?;
    if let Some(bytes) = bytes_of(&statistics) {
        return Ok(Some(bytes));
    }
    let row_width: u64 = plan
        .schema()
        .fields()
        .iter()
        .map(|field| {
            field
                .data_type()
                .primitive_width()
                .map_or(VARIABLE_WIDTH_BYTES, |width| width as u64)
        })
        .sum();
    Ok(statistics
        .num_rows
        .get_value()
        .map(|&rows| rows as u64 * row_width))
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Int64Array, RecordBatch};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::common::NullEquality;
    use datafusion::datasource::memory::MemorySourceConfig;
    use datafusion::logical_expr::Operator;
    use datafusion::physical_expr::expressions::BinaryExpr;
    use datafusion::physical_plan::displayable;
    use datafusion::physical_plan::joins::utils::ColumnIndex;

    use super::*;

    /// A partitioned inner hash join of two 100,000-row one-column inputs (800 KB each) with
    /// `filter`, keeping only the probe side's column.
    fn partitioned_join(filter: Option<JoinFilter>) -> Arc<dyn ExecutionPlan> {
        hash_join(JoinType::Inner, PartitionMode::Partitioned, filter)
    }

    /// A `mode` hash join of `join_type` of two 100,000-row one-column inputs (800 KB each) with
    /// `filter`; an inner join keeps only the probe side's column.
    fn hash_join(
        join_type: JoinType,
        mode: PartitionMode,
        filter: Option<JoinFilter>,
    ) -> Arc<dyn ExecutionPlan> {
        let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, false)]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int64Array::from_iter_values(0..100_000))],
        )
        .unwrap();
        let input = || {
            MemorySourceConfig::try_new_exec(&[vec![batch.clone()]], schema.clone(), None).unwrap()
        };
        let key = || Arc::new(Column::new("k", 0)) as _;
        let projection = (join_type == JoinType::Inner).then(|| vec![1]);
        Arc::new(
            HashJoinExec::try_new(
                input(),
                input(),
                vec![(key(), key())],
                filter,
                &join_type,
                projection,
                mode,
                NullEquality::NullEqualsNothing,
                false,
            )
            .unwrap(),
        )
    }

    /// `join` after the rule, for a budget of `budget` bytes, in a first run or (when
    /// `ran_out_of_memory`) in the run after running out of memory.
    fn optimized_in(
        join: Arc<dyn ExecutionPlan>,
        budget: u64,
        ran_out_of_memory: bool,
    ) -> Arc<dyn ExecutionPlan> {
        let mut config = ConfigOptions::default();
        config.execution.target_partitions = 2;
        SortMergeForLargeBuilds {
            budget,
            ran_out_of_memory,
        }
        .optimize(join, &config)
        .unwrap()
    }

    /// `join` after the rule in a first run, for a budget of `budget` bytes.
    fn optimized(join: Arc<dyn ExecutionPlan>, budget: u64) -> Arc<dyn ExecutionPlan> {
        optimized_in(join, budget, false)
    }

    fn text(plan: Arc<dyn ExecutionPlan>) -> String {
        displayable(plan.as_ref()).indent(false).to_string()
    }

    fn planned(budget: u64) -> String {
        text(optimized(partitioned_join(None), budget))
    }

    #[test]
    fn a_build_side_over_half_the_budget_becomes_a_sort_merge_join() {
        let text = planned(1 << 20);
        assert!(text.starts_with("ProjectionExec: expr=[k@1 as k]\n  SortMergeJoinExec: join_type=Inner, on=[(k@0, k@0)]"), "{text}");
    }

    #[test]
    fn a_build_side_within_the_budget_keeps_its_hash_join() {
        let text = planned(64 << 20);
        assert!(text.starts_with("HashJoinExec: mode=Partitioned"), "{text}");
    }

    #[test]
    fn a_first_run_keeps_semi_joins_and_collected_build_sides_as_hash_joins() {
        let semi = hash_join(JoinType::LeftSemi, PartitionMode::Partitioned, None);
        assert!(text(optimized(semi, 1 << 20)).starts_with("HashJoinExec: mode=Partitioned"));
        let collected = hash_join(JoinType::Inner, PartitionMode::CollectLeft, None);
        let plan = text(optimized(collected, 1 << 20));
        assert!(plan.starts_with("HashJoinExec: mode=CollectLeft"), "{plan}");
    }

    #[test]
    fn after_running_out_of_memory_only_build_sides_within_a_256th_of_the_budget_stay_hash_joins() {
        // 800 KB build sides: over a 256th of 128 MiB, within a 256th of 256 MiB.
        for join_type in [JoinType::Inner, JoinType::LeftSemi, JoinType::RightAnti] {
            for mode in [PartitionMode::Partitioned, PartitionMode::CollectLeft] {
                let plan = text(optimized_in(
                    hash_join(join_type, mode, None),
                    128 << 20,
                    true,
                ));
                assert!(
                    plan.contains(&format!("SortMergeJoinExec: join_type={join_type}")),
                    "{plan}"
                );
                let plan = text(optimized_in(
                    hash_join(join_type, mode, None),
                    256 << 20,
                    true,
                ));
                assert!(plan.starts_with("HashJoinExec"), "{plan}");
            }
        }
    }

    /// The filter `a < b` of the join's key columns, `a` from `first` and `b` from the other side.
    fn key_filter(first: JoinSide) -> JoinFilter {
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int64, false),
            Field::new("b", DataType::Int64, false),
        ]));
        let expression = Arc::new(BinaryExpr::new(
            Arc::new(Column::new("a", 0)),
            Operator::Lt,
            Arc::new(Column::new("b", 1)),
        ));
        let column_indices = vec![
            ColumnIndex {
                index: 0,
                side: first,
            },
            ColumnIndex {
                index: 0,
                side: first.negate(),
            },
        ];
        JoinFilter::new(expression, column_indices, schema)
    }

    #[test]
    fn a_filter_listing_a_right_column_first_is_renumbered_left_first() {
        for first in [JoinSide::Left, JoinSide::Right] {
            let plan = optimized(partitioned_join(Some(key_filter(first))), 1 << 20);
            let merged = plan.children()[0]
                .downcast_ref::<SortMergeJoinExec>()
                .expect("a sort-merge join under the projection");
            let filter = merged.filter.as_ref().unwrap();
            let sides: Vec<JoinSide> = filter.column_indices().iter().map(|c| c.side).collect();
            assert_eq!(sides, [JoinSide::Left, JoinSide::Right]);
            // `a` (from `first`) < `b` (from the other side), wherever each column now is.
            let expected = match first {
                JoinSide::Left => "a@0 < b@1",
                _ => "a@1 < b@0",
            };
            assert_eq!(filter.expression().to_string(), expected);
            let names: Vec<&str> = filter
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect();
            let expected_names = match first {
                JoinSide::Left => ["a", "b"],
                _ => ["b", "a"],
            };
            assert_eq!(names, expected_names);
        }
    }
}
