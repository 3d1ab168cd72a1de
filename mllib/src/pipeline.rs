//! `Pipeline`: stages fitted in order, each on the output of the stages before it, as Spark ML's
//! `Pipeline`; the fitted `PipelineModel` applies every stage's model in the same order, and saves
//! as a directory holding each stage's model.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::DataType;
use datafusion::dataframe::DataFrame;
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::Expr;
use serde_json::json;

use crate::error::{MlError, Result};
use crate::estimator::{Estimator, Model};
use crate::evaluation::Metrics;
use crate::model::{load_saved, AnyModel, SavedParts};
use crate::persist::{read_saved, stage_location, ModelParts, SavedModel};

/// A pipeline stage: an estimator whose model type is erased, so that stages of different types
/// form one list. Every [`Estimator`] whose model is an [`AnyModel`] is one.
#[async_trait]
pub trait Stage: Send + Sync {
    /// Fits the stage on `data`.
    async fn fit_stage(&self, data: &DataFrame) -> Result<Arc<dyn AnyModel>>;
}

#[async_trait]
impl<E> Stage for E
where
    E: Estimator,
    E::Model: AnyModel + 'static,
{
    async fn fit_stage(&self, data: &DataFrame) -> Result<Arc<dyn AnyModel>> {
        Ok(Arc::new(self.fit(data).await?))
    }
}

/// Stages fitted one after the other.
///
/// ```no_run
/// # async fn demo(data: datafusion::dataframe::DataFrame) -> ember_mllib::Result<()> {
/// use ember_mllib::{Estimator, KMeans, Model, Pipeline, StandardScaler};
///
/// let pipeline = Pipeline::new()
///     .stage(StandardScaler::new(["x", "y"]).with_mean(true))
///     .stage(KMeans::new(["x_scaled", "y_scaled"]).k(4));
/// let model = pipeline.fit(&data).await?;
/// let clustered = model.transform(data)?; // x_scaled, y_scaled and prediction appended
/// # Ok(()) }
/// ```
#[derive(Default)]
pub struct Pipeline {
    stages: Vec<Box<dyn Stage>>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("stages", &self.stages.len())
            .finish()
    }
}

impl Pipeline {
    /// An empty pipeline.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a stage.
    pub fn stage(mut self, stage: impl Stage + 'static) -> Self {
        self.stages.push(Box::new(stage));
        self
    }
}

#[async_trait]
impl Estimator for Pipeline {
    type Model = PipelineModel;

    /// Fits each stage on the previous stages' output. Transforms stay lazy: a stage's input is
    /// a plan over `data`, not materialized rows.
    async fn fit(&self, data: &DataFrame) -> Result<PipelineModel> {
        if self.stages.is_empty() {
            return Err(MlError::InvalidParam {
                param: "stages",
                reason: "a pipeline needs at least one stage".to_string(),
            });
        }
        let mut models: Vec<Arc<dyn AnyModel>> = Vec::with_capacity(self.stages.len());
        let mut current = data.clone();
        for (index, stage) in self.stages.iter().enumerate() {
            let model = stage.fit_stage(&current).await?;
            if index + 1 < self.stages.len() {
                current = model.transform(current)?;
            }
            models.push(model);
        }
        PipelineModel::new(models)
    }
}

/// A fitted [`Pipeline`]: the stages' models, applied in order.
///
/// It reads the columns its stages read that no earlier stage appends, and appends every
/// stage's outputs. Its metrics and its one-expression prediction are the last stage's, over the
/// earlier stages' outputs.
#[derive(Debug, Clone)]
pub struct PipelineModel {
    models: Vec<Arc<dyn AnyModel>>,
    inputs: Vec<String>,
}

impl PipelineModel {
    /// The `model_type` of saved pipelines.
    pub const MODEL_TYPE: &'static str = "pipeline";

    /// The pipeline of fitted `models`, applied in order.
    pub fn new(models: Vec<Arc<dyn AnyModel>>) -> Result<Self> {
        if models.is_empty() {
            return Err(MlError::InvalidParam {
                param: "stages",
                reason: "a pipeline needs at least one stage".to_string(),
            });
        }
        let mut appended: Vec<String> = Vec::new();
        let mut inputs: Vec<String> = Vec::new();
        for model in &models {
            for input in model.input_columns() {
                if !appended.contains(input) && !inputs.contains(input) {
                    inputs.push(input.clone());
                }
            }
            appended.extend(model.output_columns());
        }
        Ok(Self { models, inputs })
    }

    /// The stages' models, in order.
    pub fn models(&self) -> &[Arc<dyn AnyModel>] {
        &self.models
    }

    /// The pipeline saved as `saved`, its stages read from beside it.
    pub(crate) async fn load(context: &SessionContext, saved: &SavedModel) -> Result<Self> {
        let stages: Vec<String> = saved.param("stages")?;
        let mut models = Vec::with_capacity(stages.len());
        for (index, expected) in stages.iter().enumerate() {
            let location = stage_location(&saved.location, index);
            let stage = read_saved(context, &location).await?;
            if &stage.metadata.model_type != expected {
                return Err(saved.corrupt(format!(
                    "stage {index} is a {}, the pipeline lists a {expected}",
                    stage.metadata.model_type
                )));
            }
            models.push(Box::pin(load_saved(context, &stage)).await?);
        }
        Self::new(models).map_err(|e| saved.corrupt(e.to_string()))
    }
}

impl Model for PipelineModel {
    fn transform(&self, data: DataFrame) -> Result<DataFrame> {
        self.models
            .iter()
            .try_fold(data, |current, model| model.transform(current))
    }
}

impl SavedParts for PipelineModel {
    fn model_type(&self) -> &'static str {
        Self::MODEL_TYPE
    }

    fn parts(&self) -> ModelParts {
        let stages: Vec<&str> = self.models.iter().map(|m| m.model_type()).collect();
        ModelParts {
            features: self.inputs.clone(),
            params: json!({ "stages": stages }),
            arrays: Vec::new(),
        }
    }
}

#[async_trait]
impl AnyModel for PipelineModel {
    fn input_columns(&self) -> &[String] {
        &self.inputs
    }

    fn output_columns(&self) -> Vec<String> {
        self.models
            .iter()
            .flat_map(|m| m.output_columns())
            .collect()
    }

    async fn evaluate(&self, data: &DataFrame) -> Result<Metrics> {
        let (last, earlier) = self.models.split_last().expect("a pipeline has a stage");
        let prepared = earlier
            .iter()
            .try_fold(data.clone(), |current, model| model.transform(current))?;
        last.evaluate(&prepared).await
    }

    /// The last stage's prediction, with each earlier stage's outputs substituted by their
    /// expressions where later stages read them.
    fn prediction(&self, features: Vec<Expr>) -> Result<Expr> {
        let mut columns: HashMap<String, Expr> =
            self.inputs.iter().cloned().zip(features).collect();
        let inputs_of = |model: &dyn AnyModel, columns: &HashMap<String, Expr>| -> Vec<Expr> {
            model
                .input_columns()
                .iter()
                .map(|column| columns[column].clone())
                .collect()
        };
        let (last, earlier) = self.models.split_last().expect("a pipeline has a stage");
        for model in earlier {
            let exprs = model.column_exprs(inputs_of(model.as_ref(), &columns))?;
            columns.extend(model.output_columns().into_iter().zip(exprs));
        }
        last.prediction(inputs_of(last.as_ref(), &columns))
    }

    fn prediction_type(&self) -> DataType {
        self.models
            .last()
            .expect("a pipeline has a stage")
            .prediction_type()
    }

    fn stages(&self) -> Vec<&dyn AnyModel> {
        self.models.iter().map(|m| m.as_ref()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FittedModel;
    use crate::test_frames::rows_frame;
    use crate::{KMeans, StandardScaler};
    use datafusion::common::ScalarValue;
    use datafusion::prelude::col;

    #[tokio::test]
    async fn later_stages_fit_on_earlier_outputs() {
        let rows: Vec<Vec<Option<f64>>> = (0..40)
            .map(|i| {
                vec![
                    Some(f64::from(i % 2) * 1000.0 + f64::from(i)),
                    Some(f64::from(i % 2)),
                ]
            })
            .collect();
        let data = rows_frame(&["x", "y"], &rows, 2);
        let model = Pipeline::new()
            .stage(StandardScaler::new(["x", "y"]).with_mean(true))
            .stage(KMeans::new(["x_scaled", "y_scaled"]).k(2).seed(3))
            .fit(&data)
            .await
            .unwrap();
        assert_eq!(model.models().len(), 2);
        assert_eq!(model.input_columns(), ["x", "y"]);
        let out = model.transform(data.clone()).unwrap();
        let names: Vec<String> = out
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(names, ["x", "y", "x_scaled", "y_scaled", "prediction"]);
        assert_eq!(out.count().await.unwrap(), 40);

        // Saved and loaded as one model; its one-expression prediction (the scaler's
        // expressions substituted into k-means' inputs) equals the transform's column.
        let context = SessionContext::new();
        let dir = std::env::temp_dir().join(format!("ember-pipeline-{}", std::process::id()));
        let location = dir.display().to_string();
        let fitted = FittedModel::new(model);
        fitted.save(&context, &location, false).await.unwrap();
        assert!(dir.join("stage-1").join("metadata.json").exists());
        let loaded = FittedModel::load(&context, &location).await.unwrap();
        assert_eq!(loaded.model_type(), "pipeline");
        let predicted = |model: &FittedModel| {
            let prediction = model
                .prediction(vec![col("x"), col("y")])
                .unwrap()
                .alias("expr");
            let scored = model.transform(data.clone()).unwrap();
            async move {
                let batches = scored
                    .select(vec![col("prediction"), prediction])
                    .unwrap()
                    .collect()
                    .await
                    .unwrap();
                batches
                    .iter()
                    .flat_map(|batch| {
                        let (a, b) = (batch.column(0), batch.column(1));
                        (0..batch.num_rows()).map(move |row| {
                            (
                                ScalarValue::try_from_array(a, row).unwrap(),
                                ScalarValue::try_from_array(b, row).unwrap(),
                            )
                        })
                    })
                    .collect::<Vec<_>>()
            }
        };
        let original = predicted(&fitted).await;
        assert!(original.iter().all(|(a, b)| a == b), "{original:?}");
        assert_eq!(predicted(&loaded).await, original);
        crate::persist::delete_model(&context, &location)
            .await
            .unwrap();
        assert!(!dir.join("stage-1").join("metadata.json").exists());
        std::fs::remove_dir_all(&dir).ok();

        let error = Pipeline::new()
            .fit(&rows_frame(&["x"], &[vec![Some(1.0)]], 1))
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid parameter stages: a pipeline needs at least one stage"
        );
    }
}
