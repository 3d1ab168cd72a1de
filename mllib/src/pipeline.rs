//! `Pipeline`: stages fitted in order, each on the output of the stages before it, as Spark ML's
//! `Pipeline`; the fitted `PipelineModel` applies every stage's model in the same order.

use async_trait::async_trait;
use datafusion::dataframe::DataFrame;

use crate::error::{MlError, Result};
use crate::estimator::{Estimator, Model};

/// A pipeline stage: an estimator whose model type is erased, so that stages of different types
/// form one list. Every [`Estimator`] whose model is `'static` is one.
#[async_trait]
pub trait Stage: Send + Sync {
    /// Fits the stage on `data`.
    async fn fit_stage(&self, data: &DataFrame) -> Result<Box<dyn Model>>;
}

#[async_trait]
impl<E> Stage for E
where
    E: Estimator,
    E::Model: 'static,
{
    async fn fit_stage(&self, data: &DataFrame) -> Result<Box<dyn Model>> {
        Ok(Box::new(self.fit(data).await?))
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
        let mut models: Vec<Box<dyn Model>> = Vec::with_capacity(self.stages.len());
        let mut current = data.clone();
        for (index, stage) in self.stages.iter().enumerate() {
            let model = stage.fit_stage(&current).await?;
            if index + 1 < self.stages.len() {
                current = model.transform(current)?;
            }
            models.push(model);
        }
        Ok(PipelineModel { models })
    }
}

/// A fitted [`Pipeline`]: the stages' models, applied in order.
pub struct PipelineModel {
    models: Vec<Box<dyn Model>>,
}

impl std::fmt::Debug for PipelineModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipelineModel")
            .field("stages", &self.models.len())
            .finish()
    }
}

impl PipelineModel {
    /// The number of stages.
    pub fn len(&self) -> usize {
        self.models.len()
    }

    /// Whether there are no stages (never, for a fitted pipeline).
    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }
}

impl Model for PipelineModel {
    fn transform(&self, data: DataFrame) -> Result<DataFrame> {
        self.models
            .iter()
            .try_fold(data, |current, model| model.transform(current))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_frames::rows_frame;
    use crate::{KMeans, StandardScaler};

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
        assert_eq!(model.len(), 2);
        let out = model.transform(data).unwrap();
        let names: Vec<String> = out
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(names, ["x", "y", "x_scaled", "y_scaled", "prediction"]);
        assert_eq!(out.count().await.unwrap(), 40);

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
