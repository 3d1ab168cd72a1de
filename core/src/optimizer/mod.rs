//! Ember's optimizer rules: small additions to DataFusion's optimizer, each for a case its own
//! rules plan badly, each with the measurement that justified it in its module docs.
//!
//! - [`SemiJoinsFirst`] (logical): a semi join on a `HAVING` subquery moves below the inner joins
//!   it sits on.
//! - [`NarrowDecimalArithmetic`] (logical): `Decimal128` `+`, `-` and `*` run in 64-bit integers
//!   in batches whose values allow it ([`DecimalArithmetic`]).
//! - [`BuildOnFewerRows`] (physical): a collected hash join builds on the side with fewer rows
//!   when DataFusion's byte estimate chose the other.
//! - [`SortMergeForLargeBuilds`] (physical): in one process under a memory budget, a hash join
//!   whose build side is estimated at over half the budget becomes a sort-merge join.
//! - [`CheapConjunctsFirst`] (physical): a filter evaluates its cheap comparisons first.
//! - [`RowGroupBalancedScans`] (physical): Parquet scans are cut at row-group boundaries into
//!   partitions of nearly equal rows, not at equal byte offsets.
//! - [`FilterDynamicallyAboveScans`] (physical): join dynamic filters are evaluated right above
//!   Parquet scans while they stay selective.
//! - [`ContainScanPanics`] (physical): a file scan's reader that panics on a corrupt file fails
//!   the query (on a cluster, the task) with an error naming the file, as do its decoding errors.
//! - [`LimitsBySorting`] (physical): `ORDER BY ... LIMIT` runs as a sort that spills and a limit,
//!   in the plans a statement runs again with after it ran out of memory.
//!
//! [`crate::state`] installs them; nothing else should need to name them.

mod balanced_scans;
mod contained_scans;
mod dynamic_filters;
mod filter_order;
mod join_sides;
mod large_builds;
mod limits_by_sorting;
mod narrow_decimals;
mod semi_joins;

pub use balanced_scans::RowGroupBalancedScans;
pub use contained_scans::{ContainScanPanics, ContainedScanExec};
pub use dynamic_filters::FilterDynamicallyAboveScans;
pub use filter_order::CheapConjunctsFirst;
pub use join_sides::BuildOnFewerRows;
pub use large_builds::SortMergeForLargeBuilds;
pub use limits_by_sorting::LimitsBySorting;
pub use narrow_decimals::{DecimalArithmetic, NarrowDecimalArithmetic};
pub use semi_joins::SemiJoinsFirst;

use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::physical_plan::ExecutionPlan;

/// The configuration of `plan` when it is a file scan (a `DataSourceExec` reading files).
pub(crate) fn file_scan_config(plan: &dyn ExecutionPlan) -> Option<&FileScanConfig> {
    plan.downcast_ref::<DataSourceExec>()?
        .data_source()
        .downcast_ref::<FileScanConfig>()
}
