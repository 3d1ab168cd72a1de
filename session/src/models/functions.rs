//! The SQL functions over saved models. Loading a model reads an object store, which is async,
//! while DataFusion plans table functions and return types synchronously; so the session loads
//! the models (and, for the table functions, prepares their results) before planning each
//! statement ([`Prepared`]), and these functions look them up. Each statement plans with its own
//! copy of the functions, bound to its own [`Prepared`] ([`statement_state`]), so statements
//! planned at once on one shared session never see each other's models.
//!
//! - `ml_predict('model', 'table or query')`: the rows with the model's output columns.
//! - `ml_evaluate('model', 'table or query')`: one row of metrics.
//! - `ml_predict_value('model', feature, ...)`: the prediction as a scalar expression; replaced
//!   by the model's own function (which carries the model) before the plan runs, so it works in
//!   any query and on executors that know nothing of the model catalog.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl};
use datafusion::common::{plan_datafusion_err, plan_err, ScalarValue};
use datafusion::datasource::{TableProvider, ViewTable};
use datafusion::error::Result;
use datafusion::execution::session_state::SessionState;
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::{
    ColumnarValue, Expr, LogicalPlan, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, Volatility,
};
use ember_mllib::FittedModel;

/// Models and table-function results prepared for the statement being planned.
#[derive(Debug, Default)]
pub struct Prepared {
    /// Loaded models by name.
    pub models: HashMap<String, Arc<FittedModel>>,
    /// `ml_predict` plans by (model, table).
    pub predictions: HashMap<(String, String), LogicalPlan>,
    /// `ml_evaluate` one-row plans by (model, table).
    pub evaluations: HashMap<(String, String), LogicalPlan>,
}

/// A table function and the name it is registered under.
pub type NamedTableFunction = (&'static str, Arc<dyn TableFunctionImpl>);

/// The table functions (`ml_predict`, `ml_evaluate`) and the scalar function
/// (`ml_predict_value`) over `prepared`.
pub fn model_functions(prepared: &Arc<Prepared>) -> (Vec<NamedTableFunction>, ScalarUDF) {
    let tables = ["ml_predict", "ml_evaluate"]
        .into_iter()
        .map(|name| {
            let function = ModelTableFunction {
                name,
                prepared: prepared.clone(),
            };
            (name, Arc::new(function) as Arc<dyn TableFunctionImpl>)
        })
        .collect();
    (tables, ScalarUDF::from(PredictValue::new(prepared.clone())))
}

/// `base` (a copy of a session's state) with the model functions bound to one statement's
/// `prepared` models and results.
pub fn statement_state(mut base: SessionState, prepared: &Arc<Prepared>) -> Result<SessionState> {
    let (tables, scalar) = model_functions(prepared);
    for (name, function) in tables {
        base.register_udtf(name, function);
    }
    base.register_udf(Arc::new(scalar))?;
    Ok(base)
}

/// `ml_predict` or `ml_evaluate`.
#[derive(Debug)]
pub struct ModelTableFunction {
    /// The function's name.
    pub name: &'static str,
    /// Where its results were prepared.
    pub prepared: Arc<Prepared>,
}

impl TableFunctionImpl for ModelTableFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let texts: Vec<Option<&String>> = args
            .exprs()
            .iter()
            .map(|expr| match expr {
                Expr::Literal(ScalarValue::Utf8(Some(text)), _) => Some(text),
                _ => None,
            })
            .collect();
        let [Some(model), Some(table)] = texts[..] else {
            return plan_err!(
                "{} takes two string literals: a model name and a table name or query, e.g. \
                 {}('my_model', 'my_table')",
                self.name,
                self.name
            );
        };
        let plans = if self.name == "ml_predict" {
            &self.prepared.predictions
        } else {
            &self.prepared.evaluations
        };
        let plan = plans
            .get(&(model.clone(), table.clone()))
            .ok_or_else(|| plan_datafusion_err!("{}: model '{model}' was not loaded", self.name))?;
        Ok(Arc::new(ViewTable::new(plan.clone(), None)))
    }
}

/// `ml_predict_value('model', features...)`: typed from the loaded model, replaced before
/// execution (see the module docs).
#[derive(Debug)]
pub struct PredictValue {
    signature: Signature,
    prepared: Arc<Prepared>,
}

/// The function's name.
pub const PREDICT_VALUE: &str = "ml_predict_value";

impl PredictValue {
    /// The function over `prepared`'s models.
    pub fn new(prepared: Arc<Prepared>) -> Self {
        Self {
            signature: Signature::variadic_any(Volatility::Immutable),
            prepared,
        }
    }
}

impl PartialEq for PredictValue {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for PredictValue {}

impl std::hash::Hash for PredictValue {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        PREDICT_VALUE.hash(state);
    }
}

impl ScalarUDFImpl for PredictValue {
    fn name(&self) -> &str {
        PREDICT_VALUE
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        plan_err!("{PREDICT_VALUE}: the return type depends on the model")
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let Some(Some(ScalarValue::Utf8(Some(model)))) = args.scalar_arguments.first() else {
            return plan_err!(
                "{PREDICT_VALUE} takes a model name (a string literal) and the model's features"
            );
        };
        let model = self.prepared.models.get(model).ok_or_else(|| {
            plan_datafusion_err!("{PREDICT_VALUE}: model '{model}' was not loaded")
        })?;
        let data_type = model.prediction_type();
        Ok(Arc::new(Field::new(PREDICT_VALUE, data_type, true)))
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        plan_err!("{PREDICT_VALUE} runs only in statements of an Ember session, which replace it by the model")
    }
}
