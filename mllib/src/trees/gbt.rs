//! Gradient-boosted trees (second order, as LightGBM and XGBoost): each tree fits the Newton
//! step of the loss at the current scores over histograms of the binned features.
//!
//! The fit bins the features once (one distributed sketch pass), starts one worker per
//! partition holding that partition's binned rows and scores ([`crate::trees::tasks`]: in this
//! process, or in tasks on the executors), and then grows `num_trees` trees from the workers'
//! histograms. Each worker keeps the rows of each leaf, so the scores are updated in place and
//! the gradients of the next tree come from them, never from re-scoring the ensemble.

use async_trait::async_trait;
use datafusion::dataframe::DataFrame;
use datafusion::logical_expr::Expr;
use serde_json::json;

use crate::error::{MlError, Result};
use crate::estimator::Estimator;
use crate::evaluation::Metrics;
use crate::kernels::split::{Criterion, SplitParams};
use crate::params::{check_at_least, check_column_list, check_range, setters};
use crate::persist::{ModelParts, PersistentModel, SavedModel};
use crate::random::SplitMix64;
use crate::trees::binning::{FeatureBins, MAX_BINS};
use crate::trees::ensemble::{predictor_model, Combine, Ensemble, TreesPredictor};
use crate::trees::grow::{
    mebibytes, sample_features, FeatureChoice, GrowParams, DEFAULT_MAX_MEMORY_MB,
};
use crate::trees::learner::{
    arrange, check_labels, grow_trees, held_out_loss, labels, start, HistogramMemory, Workers,
};
use crate::trees::objective::Objective;
use crate::trees::protocol::Request;
use crate::trees::tasks::{fit_with_workers, WorkerColumns};
use crate::trees::tree::Tree;

/// The estimator's name in errors.
const ESTIMATOR: &str = "GradientBoostedTrees";

/// Gradient-boosted trees: [`GradientBoostedTrees::classifier`] (log loss; binary for labels 0
/// and 1, softmax for labels `0..K` with `K >= 3`, as many classes as the largest label plus
/// one) or [`GradientBoostedTrees::regressor`] (squared error).
///
/// Parameters and defaults (LightGBM's where they exist): `num_trees = 100` (boosting rounds: a
/// multiclass model grows one tree per class and round), `learning_rate = 0.1`,
/// `max_depth = 6`, `max_leaves = 31`, `min_child_weight = 1e-3` (hessian sum per leaf),
/// `min_samples_leaf = 20` (weighted rows per leaf), `lambda_l2 = 0`, `min_split_gain = 0`,
/// `subsample = 1` (share of rows per round), `colsample_bytree = 1` (share of features per
/// tree), `max_bins = 255`, `max_memory_mb = 256`, `seed = 42`, label column `label`, optional
/// `weight_column`; outputs `prediction` (the class or value) and, for classifiers,
/// `probability` (P(label = 1) of a binary one, the predicted class's probability of a
/// multiclass one). Trees grow leaf by leaf, LightGBM's best-first way: the leaf whose best
/// split gains most splits next.
///
/// Missing feature values (null, NaN) have their own bin: each split learns which side they go
/// to, so they need no `handle_invalid`. Labels must be present (and class indices
/// `0, 1, 2, ...` for a classifier); a row with a missing label or weight fails the fit,
/// naming the column.
#[derive(Debug, Clone, PartialEq)]
pub struct GradientBoostedTrees {
    objective: Objective,
    features: Vec<String>,
    label: String,
    weight_column: Option<String>,
    num_trees: usize,
    learning_rate: f64,
    max_depth: usize,
    max_leaves: usize,
    split: SplitParams,
    subsample: f64,
    colsample_bytree: f64,
    max_bins: usize,
    max_memory_mb: f64,
    seed: u64,
    prediction_column: String,
    probability_column: String,
    validation: Option<Validation>,
    early_stopping_rounds: usize,
}

/// Which rows a fit holds out to stop on.
#[derive(Debug, Clone, PartialEq)]
enum Validation {
    /// Rows where this boolean column is true (Spark's `validationIndicatorCol`).
    Column(String),
    /// This share of rows, chosen per row from the seed ([`crate::tuning::random_split`]).
    Fraction(f64),
}

impl GradientBoostedTrees {
    /// A binary classifier over `features`.
    pub fn classifier(features: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self::new(Objective::BinaryLogistic, features)
    }

    /// A regressor over `features`.
    pub fn regressor(features: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self::new(Objective::SquaredError, features)
    }

    fn new(objective: Objective, features: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            objective,
            features: features.into_iter().map(Into::into).collect(),
            label: "label".to_string(),
            weight_column: None,
            num_trees: 100,
            learning_rate: 0.1,
            max_depth: 6,
            max_leaves: 31,
            split: SplitParams {
                lambda_l2: 0.0,
                min_child_weight: 1e-3,
                min_samples_leaf: 20.0,
                min_split_gain: 0.0,
                criterion: Criterion::SecondOrder,
            },
            subsample: 1.0,
            colsample_bytree: 1.0,
            max_bins: MAX_BINS,
            max_memory_mb: DEFAULT_MAX_MEMORY_MB,
            seed: 42,
            prediction_column: "prediction".to_string(),
            probability_column: "probability".to_string(),
            validation: None,
            early_stopping_rounds: 10,
        }
    }
}

setters! {
    GradientBoostedTrees;
    /// The label column (default `label`).
    label: &str;
    /// Trees to grow (default 100).
    num_trees: usize;
    /// Shrinkage of each tree's leaves (default 0.1).
    learning_rate: f64;
    /// Levels below the root, at most (default 6).
    max_depth: usize;
    /// Leaves per tree, at most (default 31).
    max_leaves: usize;
    /// Smallest hessian sum of a leaf (default 1e-3).
    min_child_weight.split: f64;
    /// Smallest weighted row count of a leaf (default 20).
    min_samples_leaf.split: f64;
    /// L2 regularization of leaf values (default 0).
    lambda_l2.split: f64;
    /// Smallest gain of a split (default 0).
    min_split_gain.split: f64;
    /// Share of rows each tree trains on, in (0, 1] (default 1).
    subsample: f64;
    /// Share of features each tree may split on, in (0, 1] (default 1).
    colsample_bytree: f64;
    /// Value bins per feature, in [2, 255] (default 255).
    max_bins: usize;
    /// The most megabytes of histograms one request to the workers may build (Spark's
    /// `maxMemoryInMB`, default 256); a tree level with more is split into several requests.
    max_memory_mb: f64;
    /// Seed of row and feature sampling (default 42).
    seed: u64;
    /// The column `transform` appends with the class or value (default `prediction`).
    prediction_column: &str;
    /// The probability column of a classifier (default `probability`).
    probability_column: &str;
}

impl GradientBoostedTrees {
    /// Stops early on the rows where the boolean `column` is true: they are held out of
    /// training, and boosting stops once `early_stopping_rounds` trees in a row have not lowered
    /// the loss on them; the model keeps the trees up to the best one.
    pub fn validation_column(mut self, column: impl Into<String>) -> Self {
        self.validation = Some(Validation::Column(column.into()));
        self
    }

    /// Stops early on a held-out share of the rows, in (0, 1), chosen per row from `seed` (as
    /// [`GradientBoostedTrees::validation_column`] otherwise).
    pub fn validation_fraction(mut self, fraction: f64) -> Self {
        self.validation = Some(Validation::Fraction(fraction));
        self
    }

    /// Trees without improvement on the validation rows before boosting stops (default 10).
    pub fn early_stopping_rounds(mut self, rounds: usize) -> Self {
        self.early_stopping_rounds = rounds;
        self
    }

    /// True for the rows held out for early stopping, when early stopping.
    fn held_out_indicator(&self, data: &DataFrame) -> Result<Option<Expr>> {
        match &self.validation {
            None => Ok(None),
            Some(Validation::Column(column)) => Ok(Some(crate::summary::column_of(data, column)?)),
            Some(Validation::Fraction(fraction)) => {
                if !(*fraction > 0.0 && *fraction < 1.0) {
                    return Err(MlError::InvalidParam {
                        param: "validation_fraction",
                        reason: format!("{fraction} is outside (0, 1)"),
                    });
                }
                let shares = [1.0 - fraction, *fraction];
                Ok(Some(crate::tuning::split_filter(
                    data, &shares, self.seed, 1,
                )?))
            }
        }
    }

    /// A column of per-row weights (default: every row weighs 1).
    pub fn weight_column(mut self, column: impl Into<String>) -> Self {
        self.weight_column = Some(column.into());
        self
    }

    /// Checks every parameter, naming the first one out of range.
    fn validate(&self) -> Result<()> {
        check_column_list("features", &self.features)?;
        check_range("num_trees", self.num_trees, 1, 100_000)?;
        check_range("max_depth", self.max_depth, 1, 64)?;
        check_range("max_leaves", self.max_leaves, 2, 1 << 20)?;
        check_range(
            "early_stopping_rounds",
            self.early_stopping_rounds,
            1,
            100_000,
        )?;
        check_at_least("learning_rate", self.learning_rate, f64::MIN_POSITIVE)?;
        check_at_least("min_child_weight", self.split.min_child_weight, 0.0)?;
        check_at_least("min_samples_leaf", self.split.min_samples_leaf, 0.0)?;
        check_at_least("lambda_l2", self.split.lambda_l2, 0.0)?;
        check_at_least("min_split_gain", self.split.min_split_gain, 0.0)?;
        check_at_least("max_memory_mb", self.max_memory_mb, 1e-6)?;
        for (param, share) in [
            ("subsample", self.subsample),
            ("colsample_bytree", self.colsample_bytree),
        ] {
            if !(share > 0.0 && share <= 1.0) {
                return Err(MlError::InvalidParam {
                    param,
                    reason: format!("{share} is outside (0, 1]"),
                });
            }
        }
        Ok(())
    }

    /// The features tree `tree` may split on: all when `colsample_bytree` is 1.
    fn tree_features(&self, tree: usize) -> FeatureChoice {
        if self.colsample_bytree >= 1.0 {
            return FeatureChoice::All;
        }
        let count = self.features.len();
        let take = ((self.colsample_bytree * count as f64).ceil() as usize).clamp(1, count);
        let mut random = SplitMix64::new(self.seed ^ (tree as u64).wrapping_mul(0x9E37_79B9));
        FeatureChoice::PerTree(sample_features(count, take, &mut random))
    }
}

/// The held-out loss of the ensemble as it grows, and the best so far.
struct EarlyStopping {
    /// Rounds without improvement before stopping.
    rounds: usize,
    best_loss: f64,
    /// The number of boosting rounds that gave `best_loss`.
    best_rounds: usize,
    rounds_done: usize,
}

impl EarlyStopping {
    /// Records the weighted mean held-out loss after one more round; true once `rounds`
    /// rounds in a row have not lowered it.
    fn stop_after(&mut self, mean_loss: f64) -> bool {
        self.rounds_done += 1;
        if mean_loss < self.best_loss {
            self.best_loss = mean_loss;
            self.best_rounds = self.rounds_done;
        }
        self.rounds_done - self.best_rounds >= self.rounds
    }
}

#[async_trait]
impl Estimator for GradientBoostedTrees {
    type Model = GradientBoostedTreesModel;

    async fn fit(&self, data: &DataFrame) -> Result<GradientBoostedTreesModel> {
        self.validate()?;
        let held_out = self.held_out_indicator(data)?;
        let training = match &held_out {
            Some(held_out) => data.clone().filter(held_out.clone().is_not_true())?,
            None => data.clone(),
        };
        let columns = WorkerColumns {
            label: &self.label,
            weight: self.weight_column.as_deref(),
            held_out,
        };
        let early_stopping = columns.held_out.is_some();
        let (objective, ensemble) =
            fit_with_workers(data, &training, &self.features, self.max_bins, &columns, {
                let estimator = self.clone();
                move |workers, memory, bins| estimator.boost(workers, memory, bins, early_stopping)
            })
            .await?;
        Ok(GradientBoostedTreesModel {
            objective,
            predictor: TreesPredictor {
                classifier: objective != Objective::SquaredError,
                combine: Combine::Sum,
                features: self.features.clone(),
                label: self.label.clone(),
                ensemble,
                prediction_column: self.prediction_column.clone(),
                probability_column: self.probability_column.clone(),
            },
        })
    }
}

impl GradientBoostedTrees {
    /// Boosts the ensemble on `workers` (rows binned by `bins`, histograms held in `memory`),
    /// stopping early on the held-out rows when `early_stopping`; returns the objective (a
    /// classifier's depends on its number of classes) with the ensemble.
    pub(crate) fn boost(
        &self,
        workers: &mut dyn Workers,
        memory: &mut HistogramMemory,
        bins: &FeatureBins,
        early_stopping: bool,
    ) -> Result<(Objective, Ensemble)> {
        let rows = arrange(workers)?;
        if early_stopping && rows.held_out == 0 {
            return Err(MlError::InvalidParam {
                param: "validation",
                reason: "the validation rows are none; early stopping needs some".to_string(),
            });
        }
        let classifier = self.objective != Objective::SquaredError;
        let [train, held_out] = labels(workers, &Request::Labels { classifier })?;
        let mean = check_labels(&train, &self.label, ESTIMATOR, classifier)?;
        let classes = train.class_weights.len();
        let objective = if classifier {
            Objective::classification(classes)
        } else {
            Objective::SquaredError
        };
        let mut stopping = if early_stopping {
            check_labels(&held_out, &self.label, ESTIMATOR, false)?;
            if held_out.class_weights.len() > classes {
                return Err(MlError::InvalidLabel {
                    column: self.label.clone(),
                    reason: format!(
                        "the validation rows hold class {}, which no training row has",
                        held_out.class_weights.len() - 1
                    ),
                });
            }
            Some(EarlyStopping {
                rounds: self.early_stopping_rounds,
                best_loss: f64::INFINITY,
                best_rounds: 0,
                rounds_done: 0,
            })
        } else {
            None
        };
        let shares: Vec<f64> = (train.class_weights.iter())
            .map(|weight| weight / train.weight)
            .collect();
        let base_scores = objective.base_scores(mean, &shares);
        start(workers, &base_scores)?;
        let layout = bins.layout();
        let params = GrowParams {
            max_depth: self.max_depth,
            max_leaves: self.max_leaves,
            split: self.split,
            learning_rate: self.learning_rate,
            max_histogram_bytes: mebibytes(self.max_memory_mb),
            channels: 1,
        };
        let outputs = objective.outputs();
        let mut trees = Vec::with_capacity(self.num_trees * outputs);
        for round in 0..self.num_trees {
            let mut loss = 0.0;
            for output in 0..outputs {
                let begin = Request::BeginTree {
                    objective,
                    round,
                    output,
                    subsample: self.subsample,
                    seed: self.seed,
                };
                let features = self.tree_features(trees.len());
                let grown = grow_trees(
                    workers,
                    memory,
                    &begin,
                    &layout,
                    bins,
                    std::slice::from_ref(&features),
                    &params,
                )?
                .pop()
                .and_then(|mut channels| channels.pop())
                .expect("one tree of one channel");
                let end = Request::EndTree {
                    objective,
                    output,
                    tree: grown.clone(),
                };
                let (held_out_loss, weight) = held_out_loss(workers, &end)?;
                loss = held_out_loss / weight;
                trees.push(grown);
            }
            tracing::info!(
                "tree fit: {} of {} boosting rounds done",
                round + 1,
                self.num_trees
            );
            if let Some(stopping) = &mut stopping {
                if stopping.stop_after(loss) {
                    break;
                }
            }
        }
        if let Some(stopping) = &stopping {
            trees.truncate(stopping.best_rounds * outputs);
        }
        Ok((objective, Ensemble { base_scores, trees }))
    }
}

/// A fitted [`GradientBoostedTrees`].
#[derive(Debug, Clone, PartialEq)]
pub struct GradientBoostedTreesModel {
    objective: Objective,
    predictor: TreesPredictor,
}

impl GradientBoostedTreesModel {
    /// The trees, in boosting order.
    pub fn trees(&self) -> &[Tree] {
        &self.predictor.ensemble.trees
    }

    /// The feature columns, in the order trees refer to them.
    pub fn features(&self) -> &[String] {
        &self.predictor.features
    }

    /// Total split gain per feature (LightGBM's `importance_type = "gain"`).
    pub fn gain_importance(&self) -> Vec<f64> {
        self.predictor.importance(|gain| gain)
    }

    /// Number of splits per feature (LightGBM's `importance_type = "split"`).
    pub fn split_importance(&self) -> Vec<f64> {
        self.predictor.importance(|_| 1.0)
    }

    /// What the trees minimized (a classifier's objective says how many classes it has).
    pub fn objective(&self) -> Objective {
        self.objective
    }

    /// Metrics on `data` (with the label): a binary classifier's binary metrics, a multiclass
    /// one's `accuracy` and macro `f1`, a regressor's `rmse`, `mse`, `mae`, `r2`.
    pub async fn evaluate(&self, data: &DataFrame) -> Result<Metrics> {
        self.predictor.evaluate(data).await
    }
}

predictor_model!(GradientBoostedTreesModel);

impl GradientBoostedTreesModel {
    /// The model type of a classifier.
    pub const CLASSIFIER: &'static str = "gbt_classifier";
    /// The model type of a regressor.
    pub const REGRESSOR: &'static str = "gbt_regressor";
}

impl PersistentModel for GradientBoostedTreesModel {
    // One Rust type saves as two model types (see `saved_type`); the trait wants one default.
    const MODEL_TYPE: &'static str = Self::CLASSIFIER;

    fn saved_type(&self) -> &'static str {
        model_type(self.objective)
    }

    fn loads(model_type: &str) -> bool {
        [Self::CLASSIFIER, Self::REGRESSOR].contains(&model_type)
    }

    fn to_saved(&self) -> ModelParts {
        self.predictor
            .to_saved(json!({ "objective": model_type(self.objective) }))
    }

    fn from_saved(saved: &SavedModel) -> Result<Self> {
        let classifier = match saved.param::<String>("objective")?.as_str() {
            Self::CLASSIFIER => true,
            Self::REGRESSOR => false,
            other => return Err(saved.corrupt(format!("unknown objective '{other}'"))),
        };
        let predictor = TreesPredictor::from_saved(saved, classifier, Combine::Sum)?;
        let objective = if classifier {
            Objective::classification(predictor.classes())
        } else {
            Objective::SquaredError
        };
        Ok(Self {
            objective,
            predictor,
        })
    }
}

/// The model type of a model fitted for `objective`.
fn model_type(objective: Objective) -> &'static str {
    match objective {
        Objective::BinaryLogistic | Objective::Softmax { .. } => {
            GradientBoostedTreesModel::CLASSIFIER
        }
        Objective::SquaredError => GradientBoostedTreesModel::REGRESSOR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::estimator::Model;
    use crate::random::hash_unit;
    use crate::test_frames::{column_values, points_frame as frame, saved_and_loaded};
    use crate::trees::tree::Node;
    use datafusion::logical_expr::{col, lit};

    #[tokio::test]
    async fn a_classifier_learns_a_boundary_and_where_missing_values_belong() {
        // Missing x0 always means class 1, which the splits learn to route.
        let data = frame(3000, |x0, x1| {
            f64::from(u8::from(x0.is_nan() || x0 + x1 > 100.0))
        });
        let gbt = GradientBoostedTrees::classifier(["x0", "x1", "noise"])
            .num_trees(40)
            .max_depth(4);
        let model = gbt.fit(&data).await.unwrap();
        assert_eq!(model.trees().len(), 40);
        let metrics = model.evaluate(&data).await.unwrap();
        assert!(metrics.get("accuracy").unwrap() > 0.97, "{metrics:?}");
        assert!(metrics.get("roc_auc").unwrap() > 0.995, "{metrics:?}");
        let importance = model.gain_importance();
        assert!(importance[2] < importance[0] / 10.0, "{importance:?}");
        let out = model.transform(data.clone()).unwrap();
        let predictions = column_values(&out, "prediction").await;
        assert_eq!(predictions[0], Some(1.0), "row 0 has x0 missing");
        // The same data and partitioning give the same model.
        assert_eq!(gbt.fit(&data).await.unwrap(), model);
    }

    #[tokio::test]
    async fn a_regressor_fits_steps_and_round_trips_through_save_and_load() {
        let data = frame(2000, |_, x1| if x1 > 50.0 { 10.0 } else { -5.0 });
        let model = GradientBoostedTrees::regressor(["x0", "x1"])
            .num_trees(30)
            .learning_rate(0.3)
            .subsample(0.8)
            .colsample_bytree(0.5)
            .fit(&data)
            .await
            .unwrap();
        let rmse = model.evaluate(&data).await.unwrap().get("rmse").unwrap();
        assert!(rmse < 0.5, "rmse {rmse}");

        let loaded = saved_and_loaded(&model, "gbt_regressor").await;
        let before = column_values(&model.transform(data.clone()).unwrap(), "prediction").await;
        let after = column_values(&loaded.transform(data).unwrap(), "prediction").await;
        assert_eq!(before, after);
    }

    /// Class 0 below x1 = 30, class 2 above 70, class 1 between; rows with x0 missing are
    /// class 3.
    fn four_classes(x0: f64, x1: f64) -> f64 {
        match (x0.is_nan(), x1) {
            (true, _) => 3.0,
            (false, x1) if x1 < 30.0 => 0.0,
            (false, x1) if x1 < 70.0 => 1.0,
            _ => 2.0,
        }
    }

    #[tokio::test]
    async fn a_multiclass_classifier_grows_a_tree_per_class_and_round() {
        let data = frame(3000, four_classes);
        let gbt = GradientBoostedTrees::classifier(["x0", "x1", "noise"])
            .num_trees(20)
            .max_depth(3);
        let model = gbt.fit(&data).await.unwrap();
        assert_eq!(model.objective(), Objective::Softmax { classes: 4 });
        assert_eq!(model.trees().len(), 80);
        let metrics = model.evaluate(&data).await.unwrap();
        assert!(metrics.get("accuracy").unwrap() > 0.99, "{metrics:?}");
        assert!(metrics.get("f1").unwrap() > 0.99, "{metrics:?}");
        let out = model.transform(data.clone()).unwrap();
        let predictions = column_values(&out, "prediction").await;
        let probabilities = column_values(&out, "probability").await;
        assert_eq!(predictions[0], Some(3.0), "row 0 has x0 missing");
        assert!(
            probabilities
                .iter()
                .all(|p| p.is_some_and(|p| p > 0.25 && p < 1.0)),
            "the predicted class's probability"
        );

        let loaded = saved_and_loaded(&model, "gbt_classifier").await;
        let reloaded = loaded.transform(data.clone()).unwrap();
        assert_eq!(column_values(&reloaded, "probability").await, probabilities);

        // Early stopping counts rounds and keeps whole rounds.
        let stopped = gbt
            .clone()
            .num_trees(200)
            .learning_rate(0.5)
            .validation_fraction(0.2)
            .early_stopping_rounds(3)
            .fit(&data)
            .await
            .unwrap();
        let trees = stopped.trees().len();
        assert!(trees < 800 && trees % 4 == 0, "{trees} trees");
        // A class only the validation rows have is named.
        let error = gbt
            .validation_column("held_out")
            .fit(
                &data
                    .with_column("held_out", col("label").eq(lit(3.0)))
                    .unwrap(),
            )
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid label column 'label': the validation rows hold class 3, which no training \
             row has"
        );
    }

    #[tokio::test]
    async fn boosting_stops_when_held_out_rows_stop_improving() {
        // Labels are noise beyond x1: extra trees only overfit.
        let data = frame(2000, |x0, x1| {
            f64::from(u8::from(x1 > 50.0) ^ u8::from(hash_unit(3, 0, [x0, x1]) < 0.2))
        });
        let gbt = GradientBoostedTrees::classifier(["x0", "x1", "noise"])
            .num_trees(300)
            .learning_rate(0.5)
            .min_samples_leaf(1.0)
            .early_stopping_rounds(5);
        let stopped = gbt
            .clone()
            .validation_fraction(0.25)
            .fit(&data)
            .await
            .unwrap();
        let trees = stopped.trees().len();
        assert!((1..300).contains(&trees), "{trees} trees");
        // The same rows held out by a column stop the same way.
        let marked = data
            .clone()
            .with_column(
                "held_out",
                datafusion::prelude::col("x1").lt(datafusion::prelude::lit(25.0)),
            )
            .unwrap();
        let by_column = gbt
            .clone()
            .validation_column("held_out")
            .fit(&marked)
            .await
            .unwrap();
        assert!(by_column.trees().len() < 300);
        let nothing_held_out = marked
            .filter(datafusion::prelude::col("x1").gt_eq(datafusion::prelude::lit(25.0)))
            .unwrap();
        let error = gbt
            .validation_column("held_out")
            .fit(&nothing_held_out)
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid parameter validation: the validation rows are none; early stopping needs some"
        );
    }

    #[tokio::test]
    async fn bad_labels_parameters_and_features_are_named() {
        let error = |gbt: GradientBoostedTrees, data: DataFrame| async move {
            gbt.fit(&data).await.unwrap_err().to_string()
        };
        let classifier = GradientBoostedTrees::classifier(["x0", "x1"]);
        assert_eq!(
            error(classifier.clone(), frame(100, |_, _| 2.5)).await,
            "invalid label column 'label': 2.5 is not a class; labels must be class indices \
             0, 1, 2, ... below 1024"
        );
        assert_eq!(
            error(classifier.clone(), frame(100, |_, _| 2.0)).await,
            "invalid label column 'label': every row is of class 2"
        );
        assert_eq!(
            error(classifier.clone(), frame(100, |_, _| 1.0)).await,
            "invalid label column 'label': every row is of class 1"
        );
        assert_eq!(
            error(
                GradientBoostedTrees::regressor(["x0"]),
                frame(100, |x0, _| x0)
            )
            .await,
            "invalid label column 'label': 10 rows have a null or NaN label, or a null, \
             negative or non-finite weight"
        );
        assert_eq!(
            error(classifier.clone().subsample(0.0), frame(10, |_, _| 1.0)).await,
            "invalid parameter subsample: 0 is outside (0, 1]"
        );
        assert_eq!(
            error(
                GradientBoostedTrees::classifier(["x0", "nope"]),
                frame(10, |_, _| 1.0)
            )
            .await,
            "column 'nope' not found; available columns: x0, x1, noise, label"
        );
    }

    #[tokio::test]
    async fn constant_features_never_split_and_empty_or_string_inputs_are_named() {
        let data = frame(300, |_, x1| f64::from(u8::from(x1 > 50.0)))
            .with_column("constant", lit(7.0))
            .unwrap()
            .with_column("text", lit("a"))
            .unwrap();
        let model = GradientBoostedTrees::classifier(["constant", "x1"])
            .num_trees(5)
            .fit(&data)
            .await
            .unwrap();
        assert!(model.trees().iter().all(|tree| tree
            .nodes()
            .iter()
            .all(|node| !matches!(node, Node::Split { feature, .. } if *feature == 0))));
        assert_eq!(model.split_importance()[0], 0.0);
        let only_constant = GradientBoostedTrees::classifier(["constant"])
            .num_trees(3)
            .fit(&data)
            .await
            .unwrap();
        assert!(only_constant
            .trees()
            .iter()
            .all(|tree| tree.nodes().len() == 1));
        let empty = data.clone().filter(col("x1").gt(lit(1000.0))).unwrap();
        let error = GradientBoostedTrees::classifier(["x1"])
            .fit(&empty)
            .await
            .unwrap_err();
        assert!(matches!(error, MlError::NotEnoughRows { .. }), "{error}");
        let error = GradientBoostedTrees::classifier(["x1", "text"])
            .fit(&data)
            .await
            .unwrap_err();
        assert!(
            matches!(&error, MlError::NotNumeric { column, .. } if column == "text"),
            "{error}"
        );
    }
}
