//! What fitted tree ensembles share, whatever grew them: the trees and how their outputs
//! combine ([`Ensemble`]), the row function that applies them in queries ([`TreesOutput`],
//! `ml_trees_predict`), and a fitted classifier's or regressor's columns, metrics, feature
//! importances and saved form ([`TreesPredictor`]). Gradient-boosted trees sum their trees onto
//! a base score (log-odds for a classifier); random forests average theirs (a classifier's trees
//! output the share of class 1).

use datafusion::arrow::array::{ArrayRef, Float64Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::plan_err;
use datafusion::dataframe::DataFrame;
use datafusion::error::Result as DataFusionResult;
use datafusion::logical_expr::Expr;
use rayon::prelude::*;
use serde_json::{json, Value};

use crate::codec::count_within;
use crate::error::Result;
use crate::evaluation::{binary_metrics, multiclass_metrics, regression_metrics, Metrics};
use crate::kernels::linear::sigmoid;
use crate::model::as_float64;
use crate::params::HandleInvalid;
use crate::persist::{ModelParts, SavedModel};
use crate::predict::{append_prediction, model_call, RowModel};
use crate::trees::objective::softmax_parts;
use crate::trees::tree::{Node, Tree};

/// How an ensemble's tree outputs combine into its score.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Combine {
    /// Boosting: the base score plus every tree's output; a classifier's score is log-odds.
    Sum,
    /// A forest: the mean of the trees' outputs; a classifier's score is P(label = 1).
    Mean,
}

/// The trees and the constant scores they start from: one score per output (one per class of
/// a multiclass model, else one), tree `i` adding to output `i % outputs`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Ensemble {
    /// Added to the combined tree outputs (0 for a forest), one per output.
    pub(crate) base_scores: Vec<f64>,
    /// The trees, in the order grown.
    pub(crate) trees: Vec<Tree>,
}

impl Ensemble {
    /// The number of scores per row.
    pub(crate) fn outputs(&self) -> usize {
        self.base_scores.len()
    }

    /// The raw scores of one row (one per output, into `scores`), each output's trees combined
    /// by `combine`.
    fn scores(&self, combine: Combine, value: impl Fn(usize) -> f64 + Copy, scores: &mut [f64]) {
        let outputs = self.outputs();
        scores.fill(0.0);
        for (i, tree) in self.trees.iter().enumerate() {
            scores[i % outputs] += tree.predict_row(value);
        }
        let trees_per_output = (self.trees.len() / outputs).max(1) as f64;
        for (score, base) in scores.iter_mut().zip(&self.base_scores) {
            *score = match combine {
                Combine::Sum => base + *score,
                Combine::Mean => base + *score / trees_per_output,
            };
        }
    }

    fn encode(&self, out: &mut Vec<f64>) {
        out.push(self.outputs() as f64);
        out.extend(&self.base_scores);
        out.push(self.trees.len() as f64);
        for tree in &self.trees {
            tree.encode(out);
        }
    }

    fn decode(values: &[f64], features: usize) -> DataFusionResult<Self> {
        let Some((&outputs, rest)) = values.split_first() else {
            return plan_err!("corrupt tree ensemble: no header");
        };
        let header = count_within(outputs, rest.len()).and_then(|outputs| {
            let (base_scores, rest) = rest.split_at_checked(outputs)?;
            let (&trees, rest) = rest.split_first()?;
            Some((outputs, base_scores, trees, rest))
        });
        let Some((outputs, base_scores, trees, mut rest)) = header else {
            return plan_err!("corrupt tree ensemble: a short header");
        };
        // Each tree takes at least one value.
        let Some(count) = count_within(trees, rest.len())
            .filter(|count| outputs > 0 && count.is_multiple_of(outputs))
        else {
            return plan_err!("corrupt tree ensemble: {trees} trees over {outputs} outputs");
        };
        let mut trees = Vec::with_capacity(count);
        for _ in 0..count {
            let (tree, after) = Tree::decode(rest, features)?;
            trees.push(tree);
            rest = after;
        }
        if !rest.is_empty() {
            return plan_err!(
                "corrupt tree ensemble: {} values after the trees",
                rest.len()
            );
        }
        Ok(Self {
            base_scores: base_scores.to_vec(),
            trees,
        })
    }
}

/// Which output a [`TreesOutput`] computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OutputKind {
    /// The score itself: a regressor's value.
    Value,
    /// P(label = 1) of a binary classifier; the predicted class's probability of a
    /// multiclass one.
    Probability,
    /// A classifier's class: 1 when P(label = 1) > 0.5; the most probable class of a
    /// multiclass one (the lowest on ties).
    Class,
}

impl OutputKind {
    /// This output of a row with raw `scores`, combined by `combine`.
    fn of_scores(self, combine: Combine, scores: &[f64]) -> f64 {
        if let [score] = *scores {
            return match (self, combine) {
                (OutputKind::Value, _) | (OutputKind::Probability, Combine::Mean) => score,
                (OutputKind::Probability, Combine::Sum) => sigmoid(score),
                (OutputKind::Class, Combine::Sum) => f64::from(u8::from(score > 0.0)),
                (OutputKind::Class, Combine::Mean) => f64::from(u8::from(score > 0.5)),
            };
        }
        let (class, &best) =
            scores.iter().enumerate().fold(
                (0, &f64::NEG_INFINITY),
                |a, b| if b.1 > a.1 { b } else { a },
            );
        match (self, combine) {
            (OutputKind::Class, _) => class as f64,
            // A forest's scores are the class shares; boosting's are logits.
            (OutputKind::Value | OutputKind::Probability, Combine::Mean) => best,
            (OutputKind::Value | OutputKind::Probability, Combine::Sum) => {
                1.0 / softmax_parts(scores).1
            }
        }
    }
}

/// A fitted tree ensemble that predicts a class (with its probability) or a value: the part of
/// a model that does not depend on how the trees were grown.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TreesPredictor {
    /// Whether it predicts classes (else values).
    pub classifier: bool,
    /// How the trees' outputs combine.
    pub combine: Combine,
    /// The feature columns, in the order trees refer to them.
    pub features: Vec<String>,
    /// The label column, for metrics.
    pub label: String,
    /// The trees.
    pub ensemble: Ensemble,
    /// The column of the class or value.
    pub prediction_column: String,
    /// The column of a binary classifier's P(label = 1), a multiclass one's probability of
    /// the predicted class.
    pub probability_column: String,
}

/// `Model` and `AnyModel` for a model type whose `predictor` field is a [`TreesPredictor`]:
/// everything but its name and persistence is the predictor's.
macro_rules! predictor_model {
    ($model:ty) => {
        impl $crate::estimator::Model for $model {
            fn transform(
                &self,
                data: datafusion::dataframe::DataFrame,
            ) -> $crate::error::Result<datafusion::dataframe::DataFrame> {
                self.predictor.transform(data)
            }
        }

        #[async_trait::async_trait]
        impl $crate::model::AnyModel for $model {
            fn input_columns(&self) -> &[String] {
                &self.predictor.features
            }

            fn output_columns(&self) -> Vec<String> {
                self.predictor.output_columns()
            }

            async fn evaluate(
                &self,
                data: &datafusion::dataframe::DataFrame,
            ) -> $crate::error::Result<$crate::evaluation::Metrics> {
                self.predictor.evaluate(data).await
            }

            fn prediction(
                &self,
                features: Vec<datafusion::logical_expr::Expr>,
            ) -> $crate::error::Result<datafusion::logical_expr::Expr> {
                Ok(self.predictor.prediction(features))
            }
        }
    };
}
pub(crate) use predictor_model;

impl TreesPredictor {
    /// Sums `of_split(gain)` over every split, per feature.
    pub fn importance(&self, of_split: impl Fn(f64) -> f64) -> Vec<f64> {
        let mut importance = vec![0.0; self.features.len()];
        for node in self.ensemble.trees.iter().flat_map(Tree::nodes) {
            if let Node::Split { feature, gain, .. } = node {
                importance[*feature] += of_split(*gain);
            }
        }
        importance
    }

    fn output(&self, kind: OutputKind) -> TreesOutput {
        TreesOutput {
            kind,
            combine: self.combine,
            features: self.features.len(),
            ensemble: self.ensemble.clone(),
        }
    }

    /// The prediction column's output.
    fn prediction_kind(&self) -> OutputKind {
        if self.classifier {
            OutputKind::Class
        } else {
            OutputKind::Value
        }
    }

    /// `data` with the prediction column and, for a classifier, the probability column.
    pub fn transform(&self, data: DataFrame) -> Result<DataFrame> {
        // Trees route missing values themselves: no row is invalid.
        let keep = HandleInvalid::Keep;
        let output = |data, kind, column: &str| {
            append_prediction(data, &self.output(kind), &self.features, column, keep)
        };
        let predicted = output(data, self.prediction_kind(), &self.prediction_column)?;
        if self.classifier {
            output(predicted, OutputKind::Probability, &self.probability_column)
        } else {
            Ok(predicted)
        }
    }

    /// The number of classes of a classifier (at least 2).
    pub fn classes(&self) -> usize {
        self.ensemble.outputs().max(2)
    }

    /// Metrics on `data` (with the label): a binary classifier's binary metrics, a multiclass
    /// one's `accuracy` and macro `f1`, a regressor's `rmse`, `mse`, `mae`, `r2`.
    pub async fn evaluate(&self, data: &DataFrame) -> Result<Metrics> {
        let scored = self.transform(data.clone())?;
        if self.classifier && self.classes() > 2 {
            multiclass_metrics(
                &scored,
                &self.label,
                &self.prediction_column,
                self.classes(),
            )
            .await
        } else if self.classifier {
            binary_metrics(
                &scored,
                &self.label,
                &self.probability_column,
                &self.prediction_column,
            )
            .await
        } else {
            regression_metrics(&scored, &self.label, &self.prediction_column).await
        }
    }

    /// The columns [`TreesPredictor::transform`] appends.
    pub fn output_columns(&self) -> Vec<String> {
        if self.classifier {
            vec![
                self.prediction_column.clone(),
                self.probability_column.clone(),
            ]
        } else {
            vec![self.prediction_column.clone()]
        }
    }

    /// The prediction as one expression over `features`.
    pub fn prediction(&self, features: Vec<Expr>) -> Expr {
        model_call(
            &self.output(self.prediction_kind()),
            HandleInvalid::Keep,
            as_float64(features),
        )
    }

    /// What to save: the columns, `params` (a JSON object, extended with the columns and the
    /// tree count) and the ensemble.
    pub fn to_saved(&self, mut params: Value) -> ModelParts {
        let mut ensemble = Vec::new();
        self.ensemble.encode(&mut ensemble);
        if let Value::Object(params) = &mut params {
            params.extend([
                ("label".to_string(), json!(self.label)),
                (
                    "prediction_column".to_string(),
                    json!(self.prediction_column),
                ),
                (
                    "probability_column".to_string(),
                    json!(self.probability_column),
                ),
                ("num_trees".to_string(), json!(self.ensemble.trees.len())),
            ]);
        }
        ModelParts {
            features: self.features.clone(),
            params,
            arrays: vec![("ensemble", ensemble)],
        }
    }

    /// The predictor [`TreesPredictor::to_saved`] saved in `saved`.
    pub fn from_saved(saved: &SavedModel, classifier: bool, combine: Combine) -> Result<Self> {
        let features = saved.metadata.features.clone();
        let ensemble = Ensemble::decode(saved.array("ensemble")?, features.len())
            .map_err(|e| saved.corrupt(e.to_string()))?;
        Ok(Self {
            classifier,
            combine,
            label: saved.param("label")?,
            prediction_column: saved.param("prediction_column")?,
            probability_column: saved.param("probability_column")?,
            ensemble,
            features,
        })
    }
}

/// A tree ensemble as a row function: one of its outputs for each row; missing features
/// (NaN, nulls) follow each split's learned direction.
#[derive(Debug)]
pub(crate) struct TreesOutput {
    kind: OutputKind,
    combine: Combine,
    features: usize,
    ensemble: Ensemble,
}

impl RowModel for TreesOutput {
    const NAME: &'static str = "ml_trees_predict";
    const OUTPUT: DataType = DataType::Float64;
    const ACCEPTS_MISSING: bool = true;

    fn decode(params: &[f64]) -> DataFusionResult<Self> {
        let [kind, combine, features, ensemble @ ..] = params else {
            return plan_err!("{}: no parameters", Self::NAME);
        };
        let kind = match *kind as u8 {
            0 => OutputKind::Value,
            1 => OutputKind::Probability,
            2 => OutputKind::Class,
            other => return plan_err!("{}: unknown output {other}", Self::NAME),
        };
        let combine = match *combine as u8 {
            0 => Combine::Sum,
            1 => Combine::Mean,
            other => return plan_err!("{}: unknown combination {other}", Self::NAME),
        };
        let features = *features as usize;
        Ok(Self {
            kind,
            combine,
            features,
            ensemble: Ensemble::decode(ensemble, features)?,
        })
    }

    fn encode(&self) -> Vec<f64> {
        let mut params = vec![
            f64::from(self.kind as u8),
            f64::from(self.combine as u8),
            self.features as f64,
        ];
        self.ensemble.encode(&mut params);
        params
    }

    fn features(&self) -> usize {
        self.features
    }

    fn predict(&self, features: &[&[f64]]) -> DataFusionResult<ArrayRef> {
        let rows = features.first().map_or(0, |column| column.len());
        let outputs: Vec<f64> = (0..rows)
            .into_par_iter()
            .with_min_len(1024)
            .map_init(
                || vec![0.0; self.ensemble.outputs()],
                |scores, row| {
                    let value = |feature: usize| features[feature][row];
                    self.ensemble.scores(self.combine, value, scores);
                    self.kind.of_scores(self.combine, scores)
                },
            )
            .collect();
        Ok(std::sync::Arc::new(Float64Array::from(outputs)))
    }
}
