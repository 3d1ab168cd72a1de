//! ML from SQL: a catalog of saved models under `ember.ml.model.dir` (one directory per model,
//! in `ember-mllib`'s saved-model format), the statements `CREATE [OR REPLACE] MODEL`, `SHOW
//! MODELS`, `DESCRIBE MODEL`, `DROP MODEL` ([`statement`]), and the functions `ml_predict`,
//! `ml_evaluate` and `ml_predict_value` ([`functions`]).
//!
//! Training runs through the session like any query: the `AS` query's rows are cached
//! (`Session::cache`, so iterative fits do not recompute it), then the estimator's aggregates
//! run where the session runs — in one process or on the cluster.

pub mod functions;
pub mod statement;

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::dataframe::DataFrame;
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{lit, Expr, LogicalPlan, LogicalPlanBuilder};
use datafusion::prelude::{col, SessionContext};
use ember_mllib::persist::{delete_model, list_models, model_exists, read_metadata, read_saved};
use ember_mllib::{fit_from_options, FittedModel};

use crate::error::{EmberError, Result};
use crate::session::Session;
use functions::{model_functions, Prepared, PREDICT_VALUE};
use statement::{find_ml_calls, ModelStatement};

/// The model catalog of a session.
#[derive(Debug, Clone)]
pub struct ModelCatalog {
    dir: String,
}

impl ModelCatalog {
    /// The catalog in `dir`. Its functions are registered in `context` over no models, so that
    /// a call the statement scan did not prepare fails naming the model; each statement that
    /// calls them plans with its own copy ([`ModelCatalog::prepare`]).
    pub fn new(dir: &str, context: &SessionContext) -> Self {
        let (tables, scalar) = model_functions(&Arc::default());
        for (name, function) in tables {
            context.register_udtf(name, function);
        }
        context.register_udf(scalar);
        Self {
            dir: dir.trim_end_matches('/').to_string(),
        }
    }

    /// Where the model `name` is saved; names are letters, digits and underscores.
    fn location(&self, name: &str) -> Result<String> {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(EmberError::ModelSql(format!(
                "invalid model name '{name}': use letters, digits and underscores"
            )));
        }
        Ok(format!("{}/{name}", self.dir))
    }

    /// Loads the model `name`, failing clearly when there is none.
    async fn load(&self, context: &SessionContext, name: &str) -> Result<FittedModel> {
        let location = self.location(name)?;
        if !model_exists(context, &location).await? {
            return Err(EmberError::ModelSql(format!(
                "model '{name}' does not exist in {} (ember.ml.model.dir); SHOW MODELS lists \
                 the models there",
                self.dir
            )));
        }
        Ok(FittedModel::load(context, &location).await?)
    }

    /// Loads the models `sql` names in ML function calls and prepares the table functions'
    /// results, so that DataFusion can plan `sql`: `None` when `sql` calls none.
    pub(crate) async fn prepare(
        &self,
        session: &Session,
        sql: &str,
    ) -> Result<Option<Arc<Prepared>>> {
        let calls = find_ml_calls(sql)?;
        if calls.models().next().is_none() {
            return Ok(None);
        }
        let context = session.context();
        let mut loaded = std::collections::HashMap::new();
        for name in calls.models() {
            if !loaded.contains_key(name) {
                loaded.insert(name.clone(), Arc::new(self.load(context, name).await?));
            }
        }
        let mut predictions = std::collections::HashMap::new();
        for (model, table) in &calls.predict {
            let rows = input_rows(context, table).await?;
            let scored = loaded[model].predict(rows)?;
            predictions.insert(
                (model.clone(), table.clone()),
                scored.into_unoptimized_plan(),
            );
        }
        let mut evaluations = std::collections::HashMap::new();
        for (model, table) in &calls.evaluate {
            let rows = input_rows(context, table).await?;
            let metrics = loaded[model].evaluate(&rows).await?;
            let values: Vec<Expr> = metrics
                .0
                .iter()
                .map(|(name, value)| lit(*value).alias(*name))
                .collect();
            let plan = LogicalPlanBuilder::empty(true).project(values)?.build()?;
            evaluations.insert((model.clone(), table.clone()), plan);
        }
        Ok(Some(Arc::new(Prepared {
            models: loaded,
            predictions,
            evaluations,
        })))
    }
}

impl Prepared {
    /// Replaces each `ml_predict_value('model', features...)` in `plan` by the model's own
    /// prediction expression, keeping output names.
    pub(crate) fn rewrite(&self, plan: LogicalPlan) -> Result<LogicalPlan> {
        let prepared = self;
        let rewritten = plan.transform_up_with_subqueries(|node| {
            let names = NamePreserver::new(&node);
            node.map_expressions(|expr| {
                let name = names.save(&expr);
                let replaced = expr.transform_up(|expr| match expr {
                    Expr::ScalarFunction(call) if call.name() == PREDICT_VALUE => {
                        let mut args = call.args.into_iter();
                        let model = match args.next() {
                            Some(Expr::Literal(
                                datafusion::common::ScalarValue::Utf8(Some(m)),
                                _,
                            )) => m,
                            _ => {
                                return datafusion::common::plan_err!(
                                    "{PREDICT_VALUE} takes a model name first"
                                )
                            }
                        };
                        let model = prepared.models.get(&model).ok_or_else(|| {
                            datafusion::common::plan_datafusion_err!(
                                "model '{model}' was not loaded"
                            )
                        })?;
                        let prediction = model.prediction(args.collect()).map_err(|error| {
                            datafusion::error::DataFusionError::Plan(error.to_string())
                        })?;
                        Ok(Transformed::yes(prediction))
                    }
                    other => Ok(Transformed::no(other)),
                })?;
                Ok(replaced.update_data(|expr| name.restore(expr)))
            })
        })?;
        Ok(rewritten.data)
    }
}

/// The rows of `table`: a registered table's name, or a query (`SELECT ...`, `WITH ...`).
async fn input_rows(context: &SessionContext, table: &str) -> Result<DataFrame> {
    let first = table.split_whitespace().next().unwrap_or("");
    if ["select", "with", "values"].contains(&first.to_ascii_lowercase().as_str()) {
        crate::parse::sql(context, table).await
    } else {
        Ok(context.table(table).await?)
    }
}

impl Session {
    /// Runs a model statement (see [`statement`]).
    pub(crate) async fn run_model_statement(&self, statement: ModelStatement) -> Result<DataFrame> {
        let models = self.models();
        let context = self.context();
        match statement {
            ModelStatement::Create {
                name,
                or_replace,
                model_type,
                options,
                query,
            } => {
                let location = models.location(&name)?;
                if !or_replace && model_exists(context, &location).await? {
                    return Err(EmberError::ModelSql(format!(
                        "model '{name}' already exists in {}; use CREATE OR REPLACE MODEL to \
                         replace it",
                        models.dir
                    )));
                }
                let rows = self
                    .cache(crate::parse::sql(context, &query).await?)
                    .await?;
                let model = fit_from_options(&model_type, &options, &rows).await?;
                model.save(context, &location, true).await?;
                self.describe_model(&name).await
            }
            ModelStatement::Show => {
                let names = list_models(context, &models.dir).await?;
                let mut rows = Vec::new();
                for name in names {
                    // One unreadable entry is reported, not a reason to list none.
                    match read_metadata(context, &models.location(&name)?).await {
                        Ok(metadata) => rows.push(vec![
                            name,
                            metadata.model_type,
                            metadata.features.join(", "),
                        ]),
                        Err(error) => tracing::warn!("SHOW MODELS skips '{name}': {error}"),
                    }
                }
                text_frame(context, &["model", "model_type", "features"], rows)
            }
            ModelStatement::Describe { name } => self.describe_model(&name).await,
            ModelStatement::Drop { name, if_exists } => {
                let location = models.location(&name)?;
                if model_exists(context, &location).await? {
                    delete_model(context, &location).await?;
                } else if !if_exists {
                    models.load(context, &name).await?;
                }
                text_frame(context, &["dropped"], vec![vec![name]])
            }
        }
    }

    /// `DESCRIBE MODEL name`: one row per property of the saved model.
    async fn describe_model(&self, name: &str) -> Result<DataFrame> {
        let models = self.models();
        models.load(self.context(), name).await?;
        let location = models.location(name)?;
        let saved = read_saved(self.context(), &location).await?;
        let metadata = saved.metadata;
        let mut rows = vec![
            vec!["model".to_string(), name.to_string()],
            vec!["model_type".to_string(), metadata.model_type],
            vec!["features".to_string(), metadata.features.join(", ")],
            vec!["location".to_string(), location],
            vec!["ember_version".to_string(), metadata.ember_version],
        ];
        if let Some(params) = metadata.params.as_object() {
            for (key, value) in params {
                let value = match value {
                    serde_json::Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                rows.push(vec![key.clone(), value]);
            }
        }
        text_frame(self.context(), &["property", "value"], rows)
    }
}

/// A frame of text `rows` with `columns`, planned from literals (so it also runs on a cluster).
fn text_frame(
    context: &SessionContext,
    columns: &[&str],
    rows: Vec<Vec<String>>,
) -> Result<DataFrame> {
    let plan = if rows.is_empty() {
        let empty: Vec<Expr> = columns
            .iter()
            .map(|name| lit(datafusion::common::ScalarValue::Utf8(None)).alias(*name))
            .collect();
        LogicalPlanBuilder::empty(false).project(empty)?.build()?
    } else {
        let values: Vec<Vec<Expr>> = rows
            .into_iter()
            .map(|row| row.into_iter().map(lit).collect())
            .collect();
        let named: Vec<Expr> = columns
            .iter()
            .enumerate()
            .map(|(index, name)| col(format!("column{}", index + 1)).alias(*name))
            .collect();
        LogicalPlanBuilder::values(values)?
            .project(named)?
            .build()?
    };
    Ok(DataFrame::new(context.state(), plan))
}
