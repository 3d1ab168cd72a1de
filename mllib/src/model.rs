//! Any fitted model, its type chosen at run time: what SQL works with (`CREATE MODEL`,
//! `ml_predict`, `ml_evaluate`, `ml_predict_value`) and what pipelines are made of.
//!
//! [`AnyModel`] is the object-safe face of every model: its type name, the columns it reads and
//! appends, what it saves, and, where the model has them, metrics and a one-expression
//! prediction. [`FittedModel`] holds one and saves or loads it, whatever its type.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::DataType;
use datafusion::dataframe::DataFrame;
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::{cast, ident, Expr};

use crate::error::{MlError, Result};
use crate::estimator::Model;
use crate::evaluation::Metrics;
use crate::params::check_absent;
use crate::persist::{read_saved, save_model, ModelParts, PersistentModel, SavedModel};
use crate::pipeline::PipelineModel;
use crate::registry::ModelType;

/// What every [`PersistentModel`] saves, reachable through a trait object.
pub trait SavedParts {
    /// The `model_type` name.
    fn model_type(&self) -> &'static str;

    /// What to save (see [`PersistentModel::to_saved`]).
    fn parts(&self) -> ModelParts;
}

impl<T: PersistentModel> SavedParts for T {
    fn model_type(&self) -> &'static str {
        self.saved_type()
    }

    fn parts(&self) -> ModelParts {
        self.to_saved()
    }
}

/// A fitted model of any type (see the module docs).
#[async_trait]
pub trait AnyModel: Model + SavedParts + Debug {
    /// The columns the model reads, in order.
    fn input_columns(&self) -> &[String];

    /// The columns `transform` appends, in order.
    fn output_columns(&self) -> Vec<String>;

    /// The model's metrics on `data`. Models without metrics (transformers) fail, naming their
    /// type.
    async fn evaluate(&self, data: &DataFrame) -> Result<Metrics> {
        let _ = data;
        Err(MlError::InvalidParam {
            param: "model_type",
            reason: format!("a {} has no metrics to evaluate", self.model_type()),
        })
    }

    /// The model's prediction for `features` (expressions of any type, one per input column) as
    /// one expression. By default a transformer's only output column; transformers with several
    /// outputs fail.
    fn prediction(&self, features: Vec<Expr>) -> Result<Expr> {
        let outputs = self.output_columns().len();
        if outputs != 1 {
            return Err(MlError::InvalidParam {
                param: "model_type",
                reason: format!(
                    "a {} has {outputs} output columns, not one prediction",
                    self.model_type()
                ),
            });
        }
        Ok(self.column_exprs(features)?.remove(0))
    }

    /// The type of [`AnyModel::prediction`]'s expression.
    fn prediction_type(&self) -> DataType {
        DataType::Float64
    }

    /// The output columns as expressions over `inputs` (one per input column, in order): how a
    /// transformer's outputs feed a later stage's one-expression prediction. Models whose outputs
    /// are not expressions of one row fail.
    fn column_exprs(&self, inputs: Vec<Expr>) -> Result<Vec<Expr>> {
        let _ = inputs;
        Err(MlError::InvalidParam {
            param: "model_type",
            reason: format!(
                "a {} cannot feed a later stage's prediction",
                self.model_type()
            ),
        })
    }

    /// The models this one is made of, saved beside it (a pipeline's stages).
    fn stages(&self) -> Vec<&dyn AnyModel> {
        Vec::new()
    }
}

/// A fitted model of any type: what `CREATE MODEL` produces and the catalog loads.
#[derive(Debug, Clone)]
pub struct FittedModel(Arc<dyn AnyModel>);

impl FittedModel {
    /// Wraps a fitted model.
    pub fn new(model: impl AnyModel + 'static) -> Self {
        Self(Arc::new(model))
    }

    /// Wraps a fitted model already shared.
    pub fn from_arc(model: Arc<dyn AnyModel>) -> Self {
        Self(model)
    }

    /// The model itself.
    pub fn get(&self) -> &dyn AnyModel {
        self.0.as_ref()
    }

    /// The `model_type` name.
    pub fn model_type(&self) -> &'static str {
        self.0.model_type()
    }

    /// The type of [`FittedModel::prediction`].
    pub fn prediction_type(&self) -> DataType {
        self.0.prediction_type()
    }

    /// The feature columns the model reads.
    pub fn features(&self) -> &[String] {
        self.0.input_columns()
    }

    /// `data` with the model's output columns appended.
    pub fn transform(&self, data: DataFrame) -> Result<DataFrame> {
        self.0.transform(data)
    }

    /// `data` with the model's results appended: its output columns, or for a pipeline its last
    /// stage's (the earlier stages' columns are intermediate and left out). What `ml_predict`
    /// returns.
    pub fn predict(&self, data: DataFrame) -> Result<DataFrame> {
        let mut columns: Vec<Expr> = data
            .schema()
            .columns()
            .into_iter()
            .map(Expr::Column)
            .collect();
        let results = match self.0.stages().last() {
            Some(last) => last.output_columns(),
            None => self.0.output_columns(),
        };
        columns.extend(results.iter().map(ident));
        Ok(self.transform(data)?.select(columns)?)
    }

    /// The model's metrics on `data` (see each model's `evaluate`).
    pub async fn evaluate(&self, data: &DataFrame) -> Result<Metrics> {
        self.0.evaluate(data).await
    }

    /// The model's prediction for `features` (one expression per model feature, in order) as one
    /// expression: the cluster, the class, or the value.
    /// Rows with an invalid feature get a null prediction.
    pub fn prediction(&self, features: Vec<Expr>) -> Result<Expr> {
        let expected = self.features().len();
        if features.len() != expected {
            return Err(MlError::InvalidParam {
                param: "features",
                reason: format!(
                    "the {} model reads {expected} features ({}), {} given",
                    self.model_type(),
                    self.features().join(", "),
                    features.len()
                ),
            });
        }
        self.0.prediction(features)
    }

    /// Saves the model to the directory `location` (see [`crate::persist`]).
    pub async fn save(
        &self,
        context: &SessionContext,
        location: &str,
        overwrite: bool,
    ) -> Result<()> {
        save_model(context, self.get(), location, overwrite).await
    }

    /// Loads the model saved at `location`, whatever its type.
    pub async fn load(context: &SessionContext, location: &str) -> Result<Self> {
        let saved = read_saved(context, location).await?;
        Ok(Self(load_saved(context, &saved).await?))
    }
}

/// The model `saved` holds, loading its stages from beside it.
pub(crate) async fn load_saved(
    context: &SessionContext,
    saved: &SavedModel,
) -> Result<Arc<dyn AnyModel>> {
    let model_type = saved.metadata.model_type.as_str();
    // A pipeline is no type SQL creates, and it loads its stages from beside it.
    if model_type == PipelineModel::MODEL_TYPE {
        return Ok(Arc::new(PipelineModel::load(context, saved).await?));
    }
    match ModelType::named(model_type).and_then(|entry| entry.load) {
        Some(load) => load(saved),
        None => Err(saved.corrupt(format!("unknown model type '{model_type}'"))),
    }
}

/// `features` as `Float64` expressions, for models over numeric features.
pub(crate) fn as_float64(features: Vec<Expr>) -> Vec<Expr> {
    features
        .into_iter()
        .map(|feature| cast(feature, DataType::Float64))
        .collect()
}

/// `data` with `model`'s output columns appended, computed by [`AnyModel::column_exprs`] from
/// `inputs` (expressions over `data`, one per input column), in one projection. Fails when an
/// output column already exists.
pub(crate) fn append_columns(
    data: DataFrame,
    model: &dyn AnyModel,
    inputs: Vec<Expr>,
) -> Result<DataFrame> {
    let outputs = model.output_columns();
    check_absent(&data, "output_columns", &outputs)?;
    let mut projection: Vec<Expr> = data
        .schema()
        .columns()
        .into_iter()
        .map(Expr::Column)
        .collect();
    projection.extend(
        model
            .column_exprs(inputs)?
            .into_iter()
            .zip(&outputs)
            .map(|(expr, name)| expr.alias(name)),
    );
    Ok(data.select(projection)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::estimator::Estimator;
    use crate::params::HandleInvalid;
    use crate::test_frames::two_partition_frame;
    use crate::{
        Bucketizer, ImputeStrategy, Imputer, MinMaxScaler, OneHotEncoder, QuantileDiscretizer,
        StringIndexer,
    };

    /// What `model` saves, written out with arrays as bits (so NaN equals itself).
    fn saved_bits(model: &FittedModel) -> String {
        let parts = model.get().parts();
        let arrays: Vec<(&str, Vec<u64>)> = parts
            .arrays
            .into_iter()
            .map(|(name, values)| (name, values.iter().map(|v| v.to_bits()).collect()))
            .collect();
        format!("{:?} {} {arrays:?}", parts.features, parts.params)
    }

    #[tokio::test]
    async fn every_preprocessing_model_round_trips_through_save_and_load() {
        let data = two_partition_frame();
        let models = [
            FittedModel::new(MinMaxScaler::new(["x"]).fit(&data).await.unwrap()),
            FittedModel::new(
                Imputer::new(["x"])
                    .strategy(ImputeStrategy::Median)
                    .fit(&data)
                    .await
                    .unwrap(),
            ),
            FittedModel::new(StringIndexer::new(["s"]).fit(&data).await.unwrap()),
            FittedModel::new(OneHotEncoder::new(["n"]).fit(&data).await.unwrap()),
            FittedModel::new(
                Bucketizer::new(["x"], vec![vec![f64::NEG_INFINITY, 2.0, f64::INFINITY]])
                    .fit(&data)
                    .await
                    .unwrap(),
            ),
            FittedModel::new(
                QuantileDiscretizer::new(["x"])
                    .handle_invalid(HandleInvalid::Keep)
                    .fit(&data)
                    .await
                    .unwrap(),
            ),
        ];
        let context = SessionContext::new();
        let dir = std::env::temp_dir().join(format!("ember-model-types-{}", std::process::id()));
        for (index, model) in models.iter().enumerate() {
            let location = dir.join(index.to_string()).display().to_string();
            model.save(&context, &location, false).await.unwrap();
            let loaded = FittedModel::load(&context, &location).await.unwrap();
            assert_eq!(loaded.model_type(), model.model_type());
            assert_eq!(
                saved_bits(&loaded),
                saved_bits(model),
                "{}",
                model.model_type()
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn transformers_with_several_outputs_have_no_single_prediction() {
        let data = two_partition_frame();
        let encoder = OneHotEncoder::new(["n"])
            .drop_last(false)
            .handle_invalid(HandleInvalid::Keep)
            .fit(&data)
            .await
            .unwrap();
        let error = FittedModel::new(encoder)
            .prediction(vec![datafusion::prelude::col("n")])
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid parameter model_type: a one_hot_encoder has 3 output columns, not one \
             prediction"
        );
    }
}
