//! Random forests (Breiman; Spark ML's `RandomForestClassifier` and `RandomForestRegressor`):
//! each tree grows deep on its own sample of the rows, each node choosing its split among its
//! own random subset of the features, and the forest averages the trees.
//!
//! The forest reuses the boosted trees' machinery ([`crate::trees::tasks`],
//! [`crate::trees::learner`], [`crate::trees::grow`]): features are binned once, one worker per
//! partition keeps its binned rows, and every tree grows from the workers' histograms. For each
//! tree a worker draws each row's count in the tree's sample (a Poisson(1) bootstrap, as Spark)
//! and fills gradient `-w·y` and hessian `w`, `w` the count times the row weight; rows of count
//! 0 are left out of the tree's node rows. With `λ = 0` the trees' second-order gain is then
//! half the weighted variance reduction of a regressor and a quarter of the weighted Gini
//! decrease of a classifier (labels 0 and 1), and a leaf's value `-G / H` is the weighted mean
//! label: a regressor's value, a classifier's share of class 1 ([`crate::kernels::split`]).
//! Entropy scores the same sums by their weighted entropy. A multiclass forest (labels `0..K`,
//! `K >= 3`) fills one histogram channel per class (gradient `-w` for the class's rows): the
//! gain is then half the weighted Gini (or the entropy) decrease over all classes, and each
//! tree's leaves hold every class's share (the tree is kept once per class, with that class's
//! shares as its values). Trees grow level by level (no leaf budget), and several at once: a
//! pass grows as many trees as the workers' memory cap allows ([`trees_per_pass`]), each
//! request carrying a level of every one of them, so a pass of `k` trees of depth `d` costs
//! about `d` round trips instead of `k·d`. A pass the memory budget cannot hold (its trees'
//! row state or histograms) starts again with half its trees.

use std::ops::Range;
use std::str::FromStr;

use async_trait::async_trait;
use datafusion::dataframe::DataFrame;
use serde_json::json;

use crate::error::{MlError, Result};
use crate::estimator::Estimator;
use crate::evaluation::Metrics;
use crate::kernels::split::{Criterion, SplitParams};
use crate::params::{check_at_least, check_column_list, check_range, setters};
use crate::persist::{ModelParts, PersistentModel, SavedModel};
use crate::trees::binning::{FeatureBins, MAX_BINS};
use crate::trees::ensemble::{predictor_model, Combine, Ensemble, TreesPredictor};
use crate::trees::grow::{mebibytes, FeatureChoice, GrowParams, DEFAULT_MAX_MEMORY_MB};
use crate::trees::learner::{
    arrange, check_labels, grow_trees, labels, start, HistogramMemory, Workers,
};
use crate::trees::protocol::{ForestRoot, Request};
use crate::trees::tasks::{fit_with_workers, WorkerColumns};
use crate::trees::tree::Tree;
use crate::trees::worker::tree_state_bytes;

/// The estimator's name in errors.
const ESTIMATOR: &str = "RandomForest";

/// How a forest's splits measure a node's impurity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Impurity {
    /// Gini impurity `1 - Σ p_k²` (classifiers; their default).
    Gini,
    /// Entropy `-Σ p_k log2 p_k` (classifiers).
    Entropy,
    /// Variance of the label (regressors; their only impurity).
    Variance,
}

impl Impurity {
    /// The impurity's name: `gini`, `entropy` or `variance`.
    pub fn as_str(self) -> &'static str {
        match self {
            Impurity::Gini => "gini",
            Impurity::Entropy => "entropy",
            Impurity::Variance => "variance",
        }
    }
}

impl FromStr for Impurity {
    type Err = MlError;

    fn from_str(value: &str) -> Result<Self> {
        match value.to_ascii_lowercase().as_str() {
            "gini" => Ok(Impurity::Gini),
            "entropy" => Ok(Impurity::Entropy),
            "variance" => Ok(Impurity::Variance),
            _ => Err(MlError::InvalidParam {
                param: "impurity",
                reason: format!("'{value}' is not one of gini, entropy, variance"),
            }),
        }
    }
}

/// How many features each node may choose its split among (Spark's
/// `featureSubsetStrategy`); counts round up and are at least 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FeatureSubsetStrategy {
    /// `sqrt` for a classifier, `onethird` for a regressor; `all` for a forest of one tree.
    Auto,
    /// Every feature.
    All,
    /// The square root of the number of features.
    Sqrt,
    /// The base-2 logarithm of the number of features.
    Log2,
    /// A third of the features.
    OneThird,
    /// This share of the features, in (0, 1].
    Fraction(f64),
}

impl FeatureSubsetStrategy {
    /// The features each node of a forest of `trees` trees over `features` features may
    /// choose among.
    fn count(self, features: usize, trees: usize, classifier: bool) -> usize {
        let n = features as f64;
        let count = match self {
            FeatureSubsetStrategy::Auto if trees == 1 => n,
            FeatureSubsetStrategy::Auto if classifier => n.sqrt(),
            FeatureSubsetStrategy::Auto | FeatureSubsetStrategy::OneThird => n / 3.0,
            FeatureSubsetStrategy::All => n,
            FeatureSubsetStrategy::Sqrt => n.sqrt(),
            FeatureSubsetStrategy::Log2 => n.log2(),
            FeatureSubsetStrategy::Fraction(share) => share * n,
        };
        (count.ceil() as usize).clamp(1, features)
    }
}

impl FromStr for FeatureSubsetStrategy {
    type Err = MlError;

    /// A strategy's name, or a share of the features such as `0.5`.
    fn from_str(value: &str) -> Result<Self> {
        Ok(match value.to_ascii_lowercase().as_str() {
            "auto" => FeatureSubsetStrategy::Auto,
            "all" => FeatureSubsetStrategy::All,
            "sqrt" => FeatureSubsetStrategy::Sqrt,
            "log2" => FeatureSubsetStrategy::Log2,
            "onethird" => FeatureSubsetStrategy::OneThird,
            other => match other.parse::<f64>() {
                Ok(share) => FeatureSubsetStrategy::Fraction(share),
                Err(_) => {
                    return Err(MlError::InvalidParam {
                        param: "feature_subset_strategy",
                        reason: format!(
                            "'{value}' is not one of auto, all, sqrt, log2, onethird or a \
                             share of the features in (0, 1]"
                        ),
                    })
                }
            },
        })
    }
}

/// A random forest: [`RandomForest::classifier`] (class labels `0, 1, ..., K - 1`; binary or
/// multiclass) or [`RandomForest::regressor`].
///
/// Parameters and defaults: `num_trees = 100` (scikit-learn's; Spark's is 20),
/// `max_depth = 10` (levels below the root; Spark's default of 5 underfits and scikit-learn's
/// unbounded depth grows as many nodes as rows, so 10 lies between), `min_samples_leaf = 1`
/// (sampled rows per leaf, a row counting as often as it is drawn), `min_split_gain = 0`,
/// `max_bins = 255`, `max_memory_mb = 256`, `bootstrap = true` (each tree's rows drawn with
/// replacement as Spark does: each row's count is Poisson with mean `subsample`; without, each
/// row is in the tree with probability `subsample`), `subsample = 1` (Spark's `subsamplingRate`),
/// `feature_subset_strategy = auto` (drawn anew at each node), `impurity = gini` for a
/// classifier (or `entropy`), `variance` for a regressor, `seed = 42`, label column `label`,
/// optional `weight_column`. Outputs `prediction` (the class or value) and, for classifiers,
/// `probability`: the mean over the trees of the leaf's weighted share of class 1 (the class is
/// 1 when it exceeds 0.5); for a multiclass forest the class with the highest mean share and
/// that share. A regressor predicts the mean of its trees' leaf means.
///
/// Missing feature values (null, NaN) have their own bin, as in [`crate::GradientBoostedTrees`].
/// Labels must be present (and class indices, two classes present at least, for a
/// classifier), naming the column otherwise.
#[derive(Debug, Clone, PartialEq)]
pub struct RandomForest {
    classifier: bool,
    features: Vec<String>,
    label: String,
    weight_column: Option<String>,
    num_trees: usize,
    max_depth: usize,
    min_samples_leaf: f64,
    min_split_gain: f64,
    max_bins: usize,
    max_memory_mb: f64,
    bootstrap: bool,
    subsample: f64,
    feature_subset_strategy: FeatureSubsetStrategy,
    impurity: Impurity,
    seed: u64,
    prediction_column: String,
    probability_column: String,
}

impl RandomForest {
    /// A classifier over `features` (binary or multiclass, from the labels).
    pub fn classifier(features: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self::new(true, features)
    }

    /// A regressor over `features`.
    pub fn regressor(features: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self::new(false, features)
    }

    fn new(classifier: bool, features: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            classifier,
            features: features.into_iter().map(Into::into).collect(),
            label: "label".to_string(),
            weight_column: None,
            num_trees: 100,
            max_depth: 10,
            min_samples_leaf: 1.0,
            min_split_gain: 0.0,
            max_bins: MAX_BINS,
            max_memory_mb: DEFAULT_MAX_MEMORY_MB,
            bootstrap: true,
            subsample: 1.0,
            feature_subset_strategy: FeatureSubsetStrategy::Auto,
            impurity: if classifier {
                Impurity::Gini
            } else {
                Impurity::Variance
            },
            seed: 42,
            prediction_column: "prediction".to_string(),
            probability_column: "probability".to_string(),
        }
    }

    /// A column of per-row weights (default: every row weighs 1).
    pub fn weight_column(mut self, column: impl Into<String>) -> Self {
        self.weight_column = Some(column.into());
        self
    }
}

setters! {
    RandomForest;
    /// The label column (default `label`).
    label: &str;
    /// Trees to grow (default 100).
    num_trees: usize;
    /// Levels below the root, at most, in [1, 30] (default 10).
    max_depth: usize;
    /// Smallest count of sampled rows of a leaf (default 1).
    min_samples_leaf: f64;
    /// Smallest gain of a split (default 0).
    min_split_gain: f64;
    /// Value bins per feature, in [2, 255] (default 255).
    max_bins: usize;
    /// The most megabytes of histograms one request to the workers may build (Spark's
    /// `maxMemoryInMB`, default 256); a tree level with more is split into several requests.
    /// Trees grow together in passes as many as fit this in each worker's state of their rows
    /// (a sample count, gradient pairs and node rows per row: about 24 bytes per row and tree
    /// with one channel); half as many when the memory budget cannot hold their state or their
    /// histograms (the pass then starts again), one at least.
    max_memory_mb: f64;
    /// Whether each tree's rows are drawn with replacement (default true).
    bootstrap: bool;
    /// Mean count (with bootstrap) or probability (without) of each row in a tree's sample,
    /// in (0, 1] (default 1).
    subsample: f64;
    /// How many features each node chooses among (default `auto`).
    feature_subset_strategy: FeatureSubsetStrategy;
    /// The impurity splits decrease (default `gini` for a classifier, `variance` for a
    /// regressor).
    impurity: Impurity;
    /// Seed of row and feature sampling (default 42).
    seed: u64;
    /// The column `transform` appends with the class or value (default `prediction`).
    prediction_column: &str;
    /// The probability column of a classifier (default `probability`).
    probability_column: &str;
}

impl RandomForest {
    /// Checks every parameter, naming the first one out of range.
    fn validate(&self) -> Result<()> {
        check_column_list("features", &self.features)?;
        check_range("num_trees", self.num_trees, 1, 100_000)?;
        check_range("max_depth", self.max_depth, 1, 30)?;
        check_at_least("min_samples_leaf", self.min_samples_leaf, 0.0)?;
        check_at_least("max_memory_mb", self.max_memory_mb, 1e-6)?;
        check_at_least("min_split_gain", self.min_split_gain, 0.0)?;
        for (param, share) in [
            ("subsample", Some(self.subsample)),
            (
                "feature_subset_strategy",
                match self.feature_subset_strategy {
                    FeatureSubsetStrategy::Fraction(share) => Some(share),
                    _ => None,
                },
            ),
        ] {
            if let Some(share) = share.filter(|share| !(*share > 0.0 && *share <= 1.0)) {
                return Err(MlError::InvalidParam {
                    param,
                    reason: format!("{share} is outside (0, 1]"),
                });
            }
        }
        let impurity_fits = match self.impurity {
            Impurity::Gini | Impurity::Entropy => self.classifier,
            Impurity::Variance => !self.classifier,
        };
        if !impurity_fits {
            let allowed = if self.classifier {
                "a classifier's is gini or entropy"
            } else {
                "a regressor's is variance"
            };
            return Err(MlError::InvalidParam {
                param: "impurity",
                reason: format!("{} does not fit; {allowed}", self.impurity.as_str()),
            });
        }
        Ok(())
    }

    /// Grows the forest on `workers` (rows binned by `bins`, histograms held in `memory`);
    /// returns its outputs (a multiclass forest's classes, else 1) and trees, tree `i` giving
    /// output `i % outputs` (each tree grown once per output, with that output's leaf values).
    pub(crate) fn grow_forest(
        &self,
        workers: &mut dyn Workers,
        memory: &mut HistogramMemory,
        bins: &FeatureBins,
    ) -> Result<(usize, Vec<Tree>)> {
        let rows = arrange(workers)?;
        let request = Request::Labels {
            classifier: self.classifier,
        };
        let [train, _] = labels(workers, &request)?;
        check_labels(&train, &self.label, ESTIMATOR, self.classifier)?;
        // Binary classes need one channel (class 1's share); more need one per class.
        let classes = train.class_weights.len();
        let channels = if classes > 2 { classes } else { 1 };
        start(workers, &[0.0])?;
        let params = GrowParams {
            max_depth: self.max_depth,
            max_leaves: usize::MAX,
            split: SplitParams {
                lambda_l2: 0.0,
                // A leaf needs weight for its mean.
                min_child_weight: f64::MIN_POSITIVE,
                min_samples_leaf: self.min_samples_leaf,
                min_split_gain: self.min_split_gain,
                criterion: match self.impurity {
                    Impurity::Entropy => Criterion::Entropy,
                    Impurity::Gini | Impurity::Variance => Criterion::SecondOrder,
                },
            },
            learning_rate: 1.0,
            max_histogram_bytes: mebibytes(self.max_memory_mb),
            channels,
        };
        let mut per_pass = trees_per_pass(
            params.max_histogram_bytes,
            tree_state_bytes(rows.largest, channels),
            self.num_trees,
        );
        tracing::info!("tree fit: growing {per_pass} trees per pass");
        let mut trees = Vec::with_capacity(self.num_trees * channels);
        let mut first = 0;
        while first < self.num_trees {
            let pass = first..(first + per_pass).min(self.num_trees);
            let grown = self.grow_pass(workers, memory, bins, &params, pass.clone());
            match grown {
                Ok(grown) => {
                    trees.extend(grown.into_iter().flatten());
                    first = pass.end;
                    tracing::info!("tree fit: {first} of {} trees grown", self.num_trees);
                }
                // Fewer trees at once when the memory budget (this process's, or a training
                // task's executor's) cannot hold their rows' state or their histograms: the
                // pass starts again (its trees begin anew).
                Err(MlError::OutOfMemory { .. }) if pass.len() > 1 => {
                    per_pass = pass.len() / 2;
                    tracing::info!("tree fit: growing {per_pass} trees per pass");
                }
                Err(error) => return Err(error),
            }
        }
        Ok((channels, trees))
    }

    /// Grows the trees `pass` together (see [`Request::BeginForestTrees`]); per tree, one
    /// tree per channel.
    fn grow_pass(
        &self,
        workers: &mut dyn Workers,
        memory: &mut HistogramMemory,
        bins: &FeatureBins,
        params: &GrowParams,
        pass: Range<usize>,
    ) -> Result<Vec<Vec<Tree>>> {
        let features = self.features.len();
        let count = self
            .feature_subset_strategy
            .count(features, self.num_trees, self.classifier);
        let choices: Vec<FeatureChoice> = (pass.clone())
            .map(|tree| FeatureChoice::PerNode {
                count,
                features,
                seed: self.seed,
                tree,
            })
            .collect();
        let begin = Request::BeginForestTrees {
            trees: (pass.zip(&choices))
                .map(|(tree, choice)| ForestRoot {
                    tree,
                    features: choice.root_features(),
                })
                .collect(),
            seed: self.seed,
            bootstrap: self.bootstrap,
            subsample: self.subsample,
            channels: params.channels,
        };
        grow_trees(
            workers,
            memory,
            &begin,
            &bins.layout(),
            bins,
            &choices,
            params,
        )
    }
}

/// How many trees a pass grows together: as many as `num_trees` whose state on a worker
/// (`tree_bytes` each) fits `max_bytes` (the forest's `max_memory_mb`), one at least. Trees
/// grown together share their round trips to the workers (Spark's node queue over all trees),
/// and a level's work on the workers spreads over more nodes.
fn trees_per_pass(max_bytes: usize, tree_bytes: usize, num_trees: usize) -> usize {
    (max_bytes / tree_bytes.max(1)).clamp(1, num_trees.max(1))
}

#[async_trait]
impl Estimator for RandomForest {
    type Model = RandomForestModel;

    async fn fit(&self, data: &DataFrame) -> Result<RandomForestModel> {
        self.validate()?;
        let columns = WorkerColumns {
            label: &self.label,
            weight: self.weight_column.as_deref(),
            held_out: None,
        };
        let (outputs, trees) =
            fit_with_workers(data, data, &self.features, self.max_bins, &columns, {
                let estimator = self.clone();
                move |workers, memory, bins| estimator.grow_forest(workers, memory, bins)
            })
            .await?;
        Ok(RandomForestModel {
            impurity: self.impurity,
            predictor: TreesPredictor {
                classifier: self.classifier,
                combine: Combine::Mean,
                features: self.features.clone(),
                label: self.label.clone(),
                ensemble: Ensemble {
                    base_scores: vec![0.0; outputs],
                    trees,
                },
                prediction_column: self.prediction_column.clone(),
                probability_column: self.probability_column.clone(),
            },
        })
    }
}

/// A fitted [`RandomForest`].
#[derive(Debug, Clone, PartialEq)]
pub struct RandomForestModel {
    impurity: Impurity,
    predictor: TreesPredictor,
}

impl RandomForestModel {
    /// The trees, in the order grown. A multiclass forest holds each tree once per class, with
    /// that class's leaf shares: tree `i` gives class `i % classes`.
    pub fn trees(&self) -> &[Tree] {
        &self.predictor.ensemble.trees
    }

    /// The number of classes of a classifier (at least 2).
    pub fn classes(&self) -> usize {
        self.predictor.classes()
    }

    /// The feature columns, in the order trees refer to them.
    pub fn features(&self) -> &[String] {
        &self.predictor.features
    }

    /// The impurity the splits decreased.
    pub fn impurity(&self) -> Impurity {
        self.impurity
    }

    /// Total split gain per feature, over all trees (see [`crate::kernels::split`] for the
    /// gain of each impurity).
    pub fn gain_importance(&self) -> Vec<f64> {
        self.importance(|gain| gain)
    }

    /// Number of splits per feature, over all trees.
    pub fn split_importance(&self) -> Vec<f64> {
        self.importance(|_| 1.0)
    }

    /// Sums `of_split(gain)` over every split of every tree grown (a multiclass forest's
    /// copies of a tree count once).
    fn importance(&self, of_split: impl Fn(f64) -> f64) -> Vec<f64> {
        let copies = self.predictor.ensemble.outputs() as f64;
        let importance = self.predictor.importance(of_split);
        importance.into_iter().map(|sum| sum / copies).collect()
    }

    /// Metrics on `data` (with the label): a classifier's binary metrics, a regressor's
    /// `rmse`, `mse`, `mae`, `r2`.
    pub async fn evaluate(&self, data: &DataFrame) -> Result<Metrics> {
        self.predictor.evaluate(data).await
    }
}

predictor_model!(RandomForestModel);

impl RandomForestModel {
    /// The model type of a classifier.
    pub const CLASSIFIER: &'static str = "random_forest_classifier";
    /// The model type of a regressor.
    pub const REGRESSOR: &'static str = "random_forest_regressor";
}

impl PersistentModel for RandomForestModel {
    // One Rust type saves as two model types (see `saved_type`); the trait wants one default.
    const MODEL_TYPE: &'static str = Self::CLASSIFIER;

    fn saved_type(&self) -> &'static str {
        if self.predictor.classifier {
            Self::CLASSIFIER
        } else {
            Self::REGRESSOR
        }
    }

    fn loads(model_type: &str) -> bool {
        [Self::CLASSIFIER, Self::REGRESSOR].contains(&model_type)
    }

    fn to_saved(&self) -> ModelParts {
        self.predictor
            .to_saved(json!({ "impurity": self.impurity.as_str() }))
    }

    fn from_saved(saved: &SavedModel) -> Result<Self> {
        let classifier = saved.metadata.model_type == Self::CLASSIFIER;
        Ok(Self {
            impurity: saved.param::<String>("impurity")?.parse()?,
            predictor: TreesPredictor::from_saved(saved, classifier, Combine::Mean)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::estimator::Model;
    use crate::test_frames::{column_values, points_frame as frame, saved_and_loaded};
    use crate::trees::tree::Node;

    /// Class 1 above the line x0 + x1 = 100, and where x0 is missing.
    fn above_the_line(x0: f64, x1: f64) -> f64 {
        f64::from(u8::from(x0.is_nan() || x0 + x1 > 100.0))
    }

    #[tokio::test]
    async fn a_classifier_learns_a_boundary_with_gini_and_entropy() {
        let data = frame(2000, above_the_line);
        for impurity in [Impurity::Gini, Impurity::Entropy] {
            let forest = RandomForest::classifier(["x0", "x1", "noise"])
                .num_trees(20)
                .max_depth(6)
                .impurity(impurity);
            let model = forest.fit(&data).await.unwrap();
            assert_eq!(model.trees().len(), 20);
            let metrics = model.evaluate(&data).await.unwrap();
            assert!(
                metrics.get("accuracy").unwrap() > 0.95,
                "{impurity:?} {metrics:?}"
            );
            assert!(
                metrics.get("roc_auc").unwrap() > 0.98,
                "{impurity:?} {metrics:?}"
            );
            let importance = model.gain_importance();
            assert!(importance[2] < importance[1] / 3.0, "{importance:?}");
            let out = model.transform(data.clone()).unwrap();
            let probabilities = column_values(&out, "probability").await;
            assert!(probabilities
                .iter()
                .all(|p| p.is_some_and(|p| (0.0..=1.0).contains(&p))));
            // The same seed, data and partitioning give the same forest; another seed does not.
            assert_eq!(forest.clone().fit(&data).await.unwrap(), model);
            assert_ne!(forest.seed(7).fit(&data).await.unwrap(), model);
        }
    }

    #[tokio::test]
    async fn a_multiclass_forest_predicts_the_most_common_class_of_its_leaves() {
        // Class 0 below x1 = 30, 1 below 70, 2 above; rows with x0 missing are class 3.
        let data = frame(3000, |x0, x1| match (x0.is_nan(), x1) {
            (true, _) => 3.0,
            (false, x1) => f64::from(u8::from(x1 >= 30.0)) + f64::from(u8::from(x1 >= 70.0)),
        });
        for impurity in [Impurity::Gini, Impurity::Entropy] {
            let forest = RandomForest::classifier(["x0", "x1", "noise"])
                .num_trees(6)
                .max_depth(4)
                .impurity(impurity)
                .feature_subset_strategy(FeatureSubsetStrategy::All);
            let model = forest.fit(&data).await.unwrap();
            assert_eq!(model.classes(), 4);
            assert_eq!(model.trees().len(), 24, "each tree once per class");
            let metrics = model.evaluate(&data).await.unwrap();
            assert!(metrics.get("accuracy").unwrap() > 0.99, "{metrics:?}");
            let out = model.transform(data.clone()).unwrap();
            let predictions = column_values(&out, "prediction").await;
            assert_eq!(predictions[0], Some(3.0), "row 0 has x0 missing");
            let probabilities = column_values(&out, "probability").await;
            assert!(probabilities
                .iter()
                .all(|p| p.is_some_and(|p| p > 0.25 && p <= 1.0)));
            // Copies of a tree count once: 6 trees of at most 15 splits.
            let splits: f64 = model.split_importance().iter().sum();
            assert!((3.0..=90.0).contains(&splits), "{splits} splits");
            assert_eq!(forest.fit(&data).await.unwrap(), model);
        }
    }

    #[tokio::test]
    async fn a_regressor_fits_steps_and_round_trips_through_save_and_load() {
        let data = frame(2000, |_, x1| if x1 > 50.0 { 10.0 } else { -5.0 });
        let model = RandomForest::regressor(["x0", "x1"])
            .num_trees(10)
            .max_depth(4)
            .feature_subset_strategy(FeatureSubsetStrategy::All)
            .fit(&data)
            .await
            .unwrap();
        let rmse = model.evaluate(&data).await.unwrap().get("rmse").unwrap();
        assert!(rmse < 0.5, "rmse {rmse}");

        let loaded = saved_and_loaded(&model, "random_forest_regressor").await;
        let before = column_values(&model.transform(data.clone()).unwrap(), "prediction").await;
        let after = column_values(&loaded.transform(data).unwrap(), "prediction").await;
        assert_eq!(before, after);
    }

    #[tokio::test]
    async fn a_memory_cap_grows_a_tree_per_pass_and_levels_in_batches_with_the_same_forest() {
        let three_classes =
            |x0: f64, x1: f64| (x0 + x1 < 60.0) as u8 as f64 + (x1 > 70.0) as u8 as f64;
        for label in [above_the_line, three_classes] {
            let data = frame(2000, label);
            let forest = RandomForest::classifier(["x0", "x1", "noise"])
                .num_trees(3)
                .max_depth(6);
            // Every tree in one pass, each level in one request.
            let unbounded = forest.clone().fit(&data).await.unwrap();
            // One tree per pass (its rows' state alone is over the cap), about one node's
            // compact histogram (one feature's bins) per request.
            let capped = forest.max_memory_mb(0.005).fit(&data).await.unwrap();
            assert_eq!(capped, unbounded);
            assert!(unbounded.trees()[0].nodes().len() > 20);
        }
    }

    #[test]
    fn a_pass_grows_as_many_trees_as_the_cap_holds_one_at_least() {
        assert_eq!(trees_per_pass(1000, 100, 4), 4);
        assert_eq!(trees_per_pass(1000, 300, 100), 3);
        assert_eq!(trees_per_pass(1000, 5000, 100), 1);
        assert_eq!(trees_per_pass(1000, 0, 7), 7);
    }

    /// `data` in a context whose memory pool holds `bytes`.
    fn under_budget(data: &DataFrame, bytes: usize) -> DataFrame {
        use datafusion::execution::runtime_env::RuntimeEnvBuilder;
        use datafusion::prelude::{SessionConfig, SessionContext};
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_limit(bytes, 1.0)
            .build_arc()
            .unwrap();
        let context = SessionContext::new_with_config_rt(SessionConfig::new(), runtime);
        DataFrame::new(context.state(), data.logical_plan().clone())
    }

    #[tokio::test]
    async fn histograms_are_held_within_the_memory_budget() {
        let data = frame(2000, above_the_line);
        // Every feature at every node: a level's histograms outgrow the rows.
        let forest = RandomForest::classifier(["x0", "x1", "noise"])
            .num_trees(2)
            .max_depth(8)
            .feature_subset_strategy(FeatureSubsetStrategy::All);
        let unlimited = forest.fit(&data).await.unwrap();
        let within = forest.fit(&under_budget(&data, 64 << 20)).await.unwrap();
        assert_eq!(within, unlimited);
        // The binned rows (about 100 KB) fit; the deeper levels' histograms do not.
        let error = forest
            .fit(&under_budget(&data, 400 << 10))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("histograms need")
                && error.contains("ember.memory.limit")
                && error.contains("of its 400.0 KB free"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn a_budget_that_cannot_hold_every_tree_at_once_grows_fewer_per_pass() {
        let data = frame(2000, above_the_line);
        let forest = RandomForest::classifier(["x0", "x1", "noise"])
            .num_trees(16)
            .max_depth(4);
        let unlimited = forest.fit(&data).await.unwrap();
        // `max_memory_mb` holds all 16 trees' row state, the budget only a few: the pass
        // halves until the budget holds it, and the forest is the same.
        let budget = 512 << 10;
        assert!(15 * tree_state_bytes(2000, 1) > budget);
        let within = forest.fit(&under_budget(&data, budget)).await.unwrap();
        assert_eq!(within, unlimited);
    }

    #[tokio::test]
    async fn each_node_draws_its_own_features_and_each_tree_its_own_rows() {
        let data = frame(1000, above_the_line);
        // One feature of three per node.
        let model = RandomForest::classifier(["x0", "x1", "noise"])
            .num_trees(8)
            .max_depth(3)
            .feature_subset_strategy(FeatureSubsetStrategy::OneThird)
            .fit(&data)
            .await
            .unwrap();
        let split_features = |tree: &Tree| -> Vec<usize> {
            tree.nodes()
                .iter()
                .filter_map(|node| match node {
                    Node::Split { feature, .. } => Some(*feature),
                    Node::Leaf { .. } => None,
                })
                .collect()
        };
        let mixed = model.trees().iter().any(|tree| {
            let features = split_features(tree);
            features.iter().any(|&feature| feature != features[0])
        });
        assert!(mixed, "every tree split on one feature throughout");
        assert!(model.split_importance().iter().all(|&splits| splits > 0.0));
        // Without features to draw, bootstrap rows alone make the trees differ.
        let trees = RandomForest::classifier(["x1"])
            .num_trees(2)
            .fit(&data)
            .await
            .unwrap()
            .trees()
            .to_vec();
        assert_ne!(trees[0], trees[1]);
    }

    #[tokio::test]
    async fn bad_labels_parameters_and_strategies_are_named() {
        let error = |forest: RandomForest, data: DataFrame| async move {
            forest.fit(&data).await.unwrap_err().to_string()
        };
        let classifier = RandomForest::classifier(["x0", "x1"]).num_trees(2);
        assert_eq!(
            error(classifier.clone(), frame(100, |_, x1| x1.min(-1.0))).await,
            "invalid label column 'label': -1 is not a class; labels must be class indices 0, \
             1, 2, ... below 1024"
        );
        assert_eq!(
            error(classifier.clone(), frame(100, |_, _| 0.0)).await,
            "invalid label column 'label': every row is of class 0"
        );
        assert_eq!(
            error(RandomForest::regressor(["x1"]), frame(100, |x0, _| x0)).await,
            "invalid label column 'label': 10 rows have a null or NaN label, or a null, \
             negative or non-finite weight"
        );
        assert_eq!(
            error(classifier.clone().max_depth(31), frame(10, |_, _| 1.0)).await,
            "invalid parameter max_depth: 31 is outside [1, 30]"
        );
        assert_eq!(
            error(
                classifier
                    .clone()
                    .feature_subset_strategy(FeatureSubsetStrategy::Fraction(1.5)),
                frame(10, |_, _| 1.0)
            )
            .await,
            "invalid parameter feature_subset_strategy: 1.5 is outside (0, 1]"
        );
        assert_eq!(
            error(
                classifier.clone().impurity(Impurity::Variance),
                frame(10, |_, _| 1.0)
            )
            .await,
            "invalid parameter impurity: variance does not fit; a classifier's is gini or \
             entropy"
        );
        assert_eq!(
            "half"
                .parse::<FeatureSubsetStrategy>()
                .unwrap_err()
                .to_string(),
            "invalid parameter feature_subset_strategy: 'half' is not one of auto, all, sqrt, \
             log2, onethird or a share of the features in (0, 1]"
        );
        assert_eq!(
            "0.25".parse::<FeatureSubsetStrategy>().unwrap(),
            FeatureSubsetStrategy::Fraction(0.25)
        );
    }

    #[test]
    fn subset_strategies_count_as_spark() {
        use FeatureSubsetStrategy::*;
        let counts: Vec<usize> = [Auto, All, Sqrt, Log2, OneThird, Fraction(0.25)]
            .iter()
            .map(|strategy| strategy.count(10, 100, true))
            .collect();
        assert_eq!(counts, [4, 10, 4, 4, 4, 3]);
        assert_eq!(Auto.count(10, 100, false), 4);
        assert_eq!(Auto.count(10, 1, true), 10);
        assert_eq!(Log2.count(1, 100, true), 1);
    }
}
