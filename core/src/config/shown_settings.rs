//! [`RedactShownSecrets`]: `SHOW ALL`, `SHOW ember.<key>` and any query of
//! `information_schema.df_settings` list every secret as [`REDACTED`].
//!
//! Why a plan rewrite rather than redacting in [`super::EmberOptions`]: DataFusion lists a
//! session's settings from the same entries Ballista sends with every job, so a session that
//! sends its secrets (under TLS, or with `ember.cluster.send.credentials`) must list them in
//! its entries, and `SHOW` would print them. The rewrite masks them where they are shown only.

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TransformedResult};
use datafusion::common::{Column, Result, TableReference};
use datafusion::config::ConfigOptions;
use datafusion::logical_expr::{lit, when, Expr, LogicalPlan, Projection};
use datafusion::optimizer::AnalyzerRule;

use super::keys::all_keys;
use super::kind::ValueKind;
use super::session_options::REDACTED;

/// Masks the values of secret keys in every scan of `information_schema.df_settings` (see the
/// module documentation).
#[derive(Debug, Default)]
pub struct RedactShownSecrets;

impl AnalyzerRule for RedactShownSecrets {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|node| match &node {
            LogicalPlan::TableScan(scan) if is_settings_table(&scan.table_name) => {
                with_secrets_masked(node).map(Transformed::yes)
            }
            _ => Ok(Transformed::no(node)),
        })
        .data()
    }

    fn name(&self) -> &str {
        "ember_redact_shown_secrets"
    }
}

/// Whether `table` is DataFusion's list of settings.
fn is_settings_table(table: &TableReference) -> bool {
    table.table() == "df_settings" && table.schema() == Some("information_schema")
}

/// `scan` of the settings under a projection that keeps its columns and shows [`REDACTED`] as
/// the `value` of every set secret key.
fn with_secrets_masked(scan: LogicalPlan) -> Result<LogicalPlan> {
    let secret_keys: Vec<Expr> = all_keys()
        .filter(|key| key.kind == ValueKind::Secret)
        .map(|key| lit(key.name))
        .collect();
    let schema = Arc::clone(scan.schema());
    let columns = schema
        .iter()
        .map(|(qualifier, field)| {
            let column = Expr::Column(Column::new(qualifier.cloned(), field.name()));
            if field.name() != "value" {
                return Ok(column);
            }
            let name = Expr::Column(Column::new(qualifier.cloned(), "name"));
            let secret_set = name
                .in_list(secret_keys.clone(), false)
                .and(column.clone().is_not_null());
            Ok(when(secret_set, lit(REDACTED))
                .otherwise(column)?
                .alias_qualified(qualifier.cloned(), field.name()))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(LogicalPlan::Projection(Projection::try_new(
        columns,
        Arc::new(scan),
    )?))
}
