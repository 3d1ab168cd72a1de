//! Model selection: [`random_split`], and choosing among candidate estimators (a "param grid")
//! by a validation metric with [`TrainValidationSplit`] or k-fold [`CrossValidator`], as Spark
//! ML's `tuning` package.
//!
//! Splits and folds are decided per row from a hash of the seed and the row's values
//! ([`RowUnitUdf`]), so they are lazy filters that every executor evaluates alike, whatever the
//! partitioning or row order. Candidates are fitted and evaluated up to `parallelism` at a time;
//! results are gathered in candidate order, so the choice does not depend on timing.
//!
//! ```no_run
//! # async fn demo(data: datafusion::dataframe::DataFrame) -> ember_mllib::Result<()> {
//! use ember_mllib::tuning::{param_grid, CrossValidator};
//! use ember_mllib::{Estimator, LinearRegression};
//!
//! let base = LinearRegression::new(["x"]).label("y");
//! let candidates = param_grid([base], &[0.0, 0.1, 1.0], LinearRegression::reg_param);
//! let tuned = CrossValidator::new(candidates, "rmse")
//!     .num_folds(5)
//!     .parallelism(3)
//!     .fit(&data)
//!     .await?;
//! println!("best: {} ({:?})", tuned.best_index(), tuned.average_metrics());
//! # Ok(()) }
//! ```

use std::str::FromStr;

use async_trait::async_trait;
use datafusion::dataframe::DataFrame;
use datafusion::logical_expr::Expr;
use futures::{stream, StreamExt, TryStreamExt};

use crate::error::{MlError, Result};
use crate::estimator::{Estimator, Model};
use crate::evaluation::Metrics;
use crate::model::{AnyModel, SavedParts};
use crate::params::check_at_least;
mod split;

pub(crate) use split::split_filter;
use split::{in_range, row_unit, unit_ranges};
pub use split::{random_split, RowUnitUdf};

/// The `seed` and `parallelism` builder methods of a search with a `search: Search<E>` field,
/// documented by `$seed` and `$parallelism`.
macro_rules! search_builders {
    ($seed:literal, $parallelism:literal) => {
        #[doc = $seed]
        pub fn seed(mut self, seed: u64) -> Self {
            self.search.seed = seed;
            self
        }

        #[doc = $parallelism]
        pub fn parallelism(mut self, parallelism: usize) -> Self {
            self.search.parallelism = parallelism;
            self
        }
    };
}

/// The seed of [`TrainValidationSplit`] and [`CrossValidator`] unless set.
pub const DEFAULT_SEED: u64 = 42;

/// Each metric [`crate::evaluation`] computes, and whether larger values are better.
const METRICS: [(&str, bool); 13] = [
    ("rmse", false),
    ("mse", false),
    ("mae", false),
    ("r2", true),
    ("roc_auc", true),
    ("pr_auc", true),
    ("log_loss", false),
    ("accuracy", true),
    ("f1", true),
    ("precision", true),
    ("recall", true),
    ("inertia", false),
    ("silhouette", true),
];

/// A metric to select models by: one of the names [`crate::evaluation`] computes (`rmse`, `mse`,
/// `mae`, `r2`, `roc_auc`, `pr_auc`, `log_loss`, `accuracy`, `f1`, `precision`, `recall`,
/// `inertia`, `silhouette`), parsed case-insensitively. Smaller is better for `rmse`, `mse`,
/// `mae`, `log_loss` and `inertia`; larger for the rest.
///
/// Parsing an unknown name fails with `InvalidParam { param: "metric" }` listing the names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metric {
    name: &'static str,
    larger_is_better: bool,
}

impl Metric {
    /// The metric's name, as [`Metrics`] names it.
    pub fn name(self) -> &'static str {
        self.name
    }

    /// Whether larger values are better.
    pub fn larger_is_better(self) -> bool {
        self.larger_is_better
    }

    /// Whether `value` is strictly better than `other`.
    fn better(self, value: f64, other: f64) -> bool {
        if self.larger_is_better {
            value > other
        } else {
            value < other
        }
    }

    /// The index of the best of `values`: the first on ties, never a NaN. Fails when all are NaN.
    fn best(self, values: &[f64]) -> Result<usize> {
        let mut best: Option<usize> = None;
        for (index, &value) in values.iter().enumerate() {
            if !value.is_nan() && best.is_none_or(|best| self.better(value, values[best])) {
                best = Some(index);
            }
        }
        best.ok_or_else(|| MlError::InvalidParam {
            param: "metric",
            reason: format!(
                "{} is NaN for every candidate (e.g. an area under a curve with one class in the \
                 validation rows)",
                self.name
            ),
        })
    }

    /// This metric's value in `metrics`, which a `model_type` model computed.
    fn of(self, metrics: &Metrics, model_type: &str) -> Result<f64> {
        metrics.get(self.name).ok_or_else(|| MlError::InvalidParam {
            param: "metric",
            reason: format!(
                "a {model_type} model does not compute {}; it computes {}",
                self.name,
                metrics
                    .0
                    .iter()
                    .map(|(name, _)| *name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
    }
}

impl FromStr for Metric {
    type Err = MlError;

    fn from_str(name: &str) -> Result<Self> {
        METRICS
            .iter()
            .find(|(known, _)| known.eq_ignore_ascii_case(name))
            .map(|&(name, larger_is_better)| Metric {
                name,
                larger_is_better,
            })
            .ok_or_else(|| MlError::InvalidParam {
                param: "metric",
                reason: format!(
                    "'{name}' is not one of {}",
                    METRICS.map(|(known, _)| known).join(", ")
                ),
            })
    }
}

/// Every estimator of `candidates` with each of `values` set by `set` (a builder method such as
/// `LinearRegression::reg_param`): candidates outer, values inner. Chain calls for a grid over
/// several parameters.
pub fn param_grid<E: Clone, V: Clone>(
    candidates: impl IntoIterator<Item = E>,
    values: &[V],
    set: impl Fn(E, V) -> E,
) -> Vec<E> {
    let mut grid = Vec::new();
    for candidate in candidates {
        for value in values {
            grid.push(set(candidate.clone(), value.clone()));
        }
    }
    grid
}

/// The parameters [`TrainValidationSplit`] and [`CrossValidator`] share, and their search.
#[derive(Debug, Clone, PartialEq)]
struct Search<E> {
    candidates: Vec<E>,
    metric: String,
    seed: u64,
    parallelism: usize,
}

/// Training rows and the validation rows held out of them.
struct Split {
    train: DataFrame,
    validation: DataFrame,
}

impl Split {
    /// Validation: the rows of `data` whose `unit` lies in `range`; training: the others.
    fn hold_out(data: &DataFrame, unit: &Expr, range: (f64, f64)) -> Result<Self> {
        let held_out = in_range(unit, range);
        Ok(Split {
            train: data.clone().filter(Expr::Not(Box::new(held_out.clone())))?,
            validation: data.clone().filter(held_out)?,
        })
    }
}

/// What a search found: each candidate's (mean) metric, the best's index, and the best refitted
/// on all the data.
#[derive(Debug, Clone)]
struct Selection<M> {
    scores: Vec<f64>,
    best_index: usize,
    best_model: M,
}

impl<E> Search<E> {
    fn new(candidates: Vec<E>, metric: &str) -> Self {
        Self {
            candidates,
            metric: metric.to_string(),
            seed: DEFAULT_SEED,
            parallelism: 1,
        }
    }

    /// Checks the shared parameters and returns the metric.
    fn validate(&self) -> Result<Metric> {
        if self.candidates.is_empty() {
            return Err(MlError::InvalidParam {
                param: "candidates",
                reason: "give at least one candidate estimator".to_string(),
            });
        }
        check_at_least("parallelism", self.parallelism as f64, 1.0)?;
        self.metric.parse()
    }
}

impl<E: Estimator> Search<E>
where
    E::Model: AnyModel,
{
    /// Fits every candidate on each split's training rows and scores it on the validation rows,
    /// `parallelism` fits at a time; picks the candidate with the best mean score and refits it
    /// on `data`.
    async fn select(
        &self,
        metric: Metric,
        splits: &[Split],
        data: &DataFrame,
    ) -> Result<Selection<E::Model>> {
        // Futures collected first (they start when polled): a closure in the stream's type
        // would defeat the `Send` proof of the async trait's future.
        let mut jobs = Vec::with_capacity(self.candidates.len() * splits.len());
        for candidate in &self.candidates {
            jobs.extend(splits.iter().map(|split| score(candidate, split, metric)));
        }
        let scores: Vec<f64> = stream::iter(jobs)
            .buffered(self.parallelism)
            .try_collect()
            .await?;
        let scores: Vec<f64> = scores
            .chunks(splits.len())
            .map(|per_split| per_split.iter().sum::<f64>() / per_split.len() as f64)
            .collect();
        let best_index = metric.best(&scores)?;
        let best_model = self.candidates[best_index].fit(data).await?;
        Ok(Selection {
            scores,
            best_index,
            best_model,
        })
    }
}

/// `candidate` fitted on `split`'s training rows, scored by `metric` on its validation rows.
async fn score<E: Estimator>(candidate: &E, split: &Split, metric: Metric) -> Result<f64>
where
    E::Model: AnyModel,
{
    let model = candidate.fit(&split.train).await?;
    let metrics = model.evaluate(&split.validation).await?;
    metric.of(&metrics, model.model_type())
}

/// Chooses among candidate estimators by fitting each on one random share of the data and
/// scoring it on the rest, as Spark ML's `TrainValidationSplit`; the best is then refitted on
/// all the data.
///
/// Parameters and defaults: `candidates` (the param grid: configured estimators, see
/// [`param_grid`]), `metric` (see [`Metric`]), `train_ratio = 0.75` (the training share, in
/// `(0, 1)`; rows split as by [`random_split`]), `seed = 42`, `parallelism = 1` (candidates
/// fitted at once, at least 1). Ties go to the earlier candidate; a NaN score never wins.
///
/// `fit` fails with `InvalidParam` naming `candidates` (empty), `metric` (unknown, not computed
/// by the candidates' models, or NaN for all), `train_ratio` or `parallelism`, or with a
/// candidate's own fit or evaluation error.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainValidationSplit<E> {
    search: Search<E>,
    train_ratio: f64,
}

impl<E> TrainValidationSplit<E> {
    /// A search over `candidates` by `metric`, with the defaults above.
    pub fn new(candidates: Vec<E>, metric: &str) -> Self {
        Self {
            search: Search::new(candidates, metric),
            train_ratio: 0.75,
        }
    }

    /// The share of rows to train on, in `(0, 1)` (default 0.75).
    pub fn train_ratio(mut self, train_ratio: f64) -> Self {
        self.train_ratio = train_ratio;
        self
    }

    search_builders!(
        "The seed of the split (default 42).",
        "How many candidates to fit at once, at least 1 (default 1)."
    );
}

#[async_trait]
impl<E: Estimator> Estimator for TrainValidationSplit<E>
where
    E::Model: AnyModel,
{
    type Model = TrainValidationSplitModel<E::Model>;

    async fn fit(&self, data: &DataFrame) -> Result<Self::Model> {
        let metric = self.search.validate()?;
        if !(self.train_ratio > 0.0 && self.train_ratio < 1.0) {
            return Err(MlError::InvalidParam {
                param: "train_ratio",
                reason: format!("{} is not strictly between 0 and 1", self.train_ratio),
            });
        }
        let unit = row_unit(data, self.search.seed);
        let split = Split::hold_out(data, &unit, (self.train_ratio, 1.0))?;
        let selection = self.search.select(metric, &[split], data).await?;
        Ok(TrainValidationSplitModel { selection })
    }
}

/// What [`TrainValidationSplit`] chose: the best candidate refitted on all the data, which
/// `transform` applies.
#[derive(Debug, Clone)]
pub struct TrainValidationSplitModel<M> {
    selection: Selection<M>,
}

impl<M> TrainValidationSplitModel<M> {
    /// The best candidate, refitted on all the data.
    pub fn best_model(&self) -> &M {
        &self.selection.best_model
    }

    /// The best candidate's index in the candidate list.
    pub fn best_index(&self) -> usize {
        self.selection.best_index
    }

    /// Each candidate's metric on the validation rows, in candidate order.
    pub fn validation_metrics(&self) -> &[f64] {
        &self.selection.scores
    }
}

impl<M: Model> Model for TrainValidationSplitModel<M> {
    fn transform(&self, data: DataFrame) -> Result<DataFrame> {
        self.selection.best_model.transform(data)
    }
}

/// Chooses among candidate estimators by k-fold cross-validation, as Spark ML's
/// `CrossValidator`: rows fall into `num_folds = k` folds at random (fold `i` holds the rows
/// whose uniform value `u`, as in [`random_split`], lies in `[i/k, (i+1)/k)`); each candidate is fitted on all folds but
/// one and scored on that one, for each fold, and the candidate with the best mean score is
/// refitted on all the data.
///
/// Parameters and defaults: `candidates` (the param grid: configured estimators, see
/// [`param_grid`]), `metric` (see [`Metric`]), `num_folds = 3` (at least 2), `seed = 42`,
/// `parallelism = 1` (fits of a candidate on a fold run at once, at least 1). Ties go to the
/// earlier candidate; a NaN mean score never wins.
///
/// `fit` fails with `InvalidParam` naming `candidates` (empty), `metric` (unknown, not computed
/// by the candidates' models, or NaN for all), `num_folds` or `parallelism`, or with a
/// candidate's own fit or evaluation error.
#[derive(Debug, Clone, PartialEq)]
pub struct CrossValidator<E> {
    search: Search<E>,
    num_folds: usize,
}

impl<E> CrossValidator<E> {
    /// A search over `candidates` by `metric`, with the defaults above.
    pub fn new(candidates: Vec<E>, metric: &str) -> Self {
        Self {
            search: Search::new(candidates, metric),
            num_folds: 3,
        }
    }

    /// How many folds, at least 2 (default 3).
    pub fn num_folds(mut self, num_folds: usize) -> Self {
        self.num_folds = num_folds;
        self
    }

    search_builders!(
        "The seed of the folds (default 42).",
        "How many (candidate, fold) fits to run at once, at least 1 (default 1)."
    );
}

#[async_trait]
impl<E: Estimator> Estimator for CrossValidator<E>
where
    E::Model: AnyModel,
{
    type Model = CrossValidatorModel<E::Model>;

    async fn fit(&self, data: &DataFrame) -> Result<Self::Model> {
        let metric = self.search.validate()?;
        check_at_least("num_folds", self.num_folds as f64, 2.0)?;
        let unit = row_unit(data, self.search.seed);
        let folds = unit_ranges(&vec![1.0; self.num_folds])
            .into_iter()
            .map(|range| Split::hold_out(data, &unit, range))
            .collect::<Result<Vec<_>>>()?;
        let selection = self.search.select(metric, &folds, data).await?;
        Ok(CrossValidatorModel { selection })
    }
}

/// What [`CrossValidator`] chose: the best candidate refitted on all the data, which
/// `transform` applies.
#[derive(Debug, Clone)]
pub struct CrossValidatorModel<M> {
    selection: Selection<M>,
}

impl<M> CrossValidatorModel<M> {
    /// The best candidate, refitted on all the data.
    pub fn best_model(&self) -> &M {
        &self.selection.best_model
    }

    /// The best candidate's index in the candidate list.
    pub fn best_index(&self) -> usize {
        self.selection.best_index
    }

    /// Each candidate's metric averaged over the folds, in candidate order.
    pub fn average_metrics(&self) -> &[f64] {
        &self.selection.scores
    }
}

impl<M: Model> Model for CrossValidatorModel<M> {
    fn transform(&self, data: DataFrame) -> Result<DataFrame> {
        self.selection.best_model.transform(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linear::{LinearRegression, LogisticRegression};
    use crate::test_frames::{column_values, rows_frame, two_partition_frame};

    /// Rows `id` (0..rows) and `v` (a function of the id), in `partitions` partitions.
    fn ids(rows: usize, partitions: usize) -> DataFrame {
        let rows: Vec<Vec<Option<f64>>> = (0..rows)
            .map(|i| vec![Some(i as f64), Some((i % 7) as f64)])
            .collect();
        rows_frame(&["id", "v"], &rows, partitions)
    }

    /// The sorted ids of each split.
    async fn split_ids(splits: &[DataFrame]) -> Vec<Vec<f64>> {
        let mut all = Vec::new();
        for split in splits {
            let mut ids: Vec<f64> = column_values(split, "id")
                .await
                .into_iter()
                .flatten()
                .collect();
            ids.sort_by(f64::total_cmp);
            all.push(ids);
        }
        all
    }

    #[tokio::test]
    async fn random_split_puts_every_row_in_one_split_in_proportion() {
        let splits = random_split(&ids(10_000, 3), &[0.6, 0.3, 0.1], 7).unwrap();
        let per_split = split_ids(&splits).await;
        for (ids, expected) in per_split.iter().zip([0.6, 0.3, 0.1]) {
            let share = ids.len() as f64 / 10_000.0;
            assert!((share - expected).abs() < 0.02, "{share} vs {expected}");
        }
        let mut all: Vec<f64> = per_split.concat();
        all.sort_by(f64::total_cmp);
        let expected: Vec<f64> = (0..10_000).map(f64::from).collect();
        assert_eq!(all, expected, "each row exactly once");
    }

    #[tokio::test]
    async fn random_split_depends_on_the_seed_not_the_partitioning() {
        let weights = [0.5, 0.5];
        let one = split_ids(&random_split(&ids(500, 1), &weights, 3).unwrap()).await;
        let four = split_ids(&random_split(&ids(500, 4), &weights, 3).unwrap()).await;
        let again = split_ids(&random_split(&ids(500, 4), &weights, 3).unwrap()).await;
        let other = split_ids(&random_split(&ids(500, 4), &weights, 4).unwrap()).await;
        assert_eq!(one, four);
        assert_eq!(four, again);
        assert_ne!(four, other);
    }

    #[tokio::test]
    async fn random_split_normalizes_weights_and_reads_any_column_type() {
        let splits = random_split(&ids(100, 2), &[2.0, 0.0, 2.0], 1).unwrap();
        let per_split = split_ids(&splits).await;
        assert!(per_split[1].is_empty());
        assert_eq!(per_split[0].len() + per_split[2].len(), 100);
        let whole = random_split(&ids(100, 2), &[5.0], 1).unwrap();
        assert_eq!(split_ids(&whole).await[0].len(), 100);
        // Float64 with null and NaN, Int32 and Utf8 columns.
        let mixed = random_split(&two_partition_frame(), &[1.0, 1.0], 1).unwrap();
        let mut rows = 0;
        for split in mixed {
            rows += split.count().await.unwrap();
        }
        assert_eq!(rows, 6);
    }

    #[test]
    fn random_split_rejects_bad_weights() {
        for weights in [
            &[][..],
            &[1.0, -1.0],
            &[f64::NAN],
            &[f64::INFINITY],
            &[0.0, 0.0],
            &[f64::MAX, f64::MAX],
        ] {
            let error = random_split(&ids(4, 1), weights, 1).unwrap_err();
            let named = matches!(
                error,
                MlError::InvalidParam {
                    param: "weights",
                    ..
                }
            );
            assert!(named, "{weights:?}: {error}");
        }
    }

    #[test]
    fn metrics_parse_with_their_direction() {
        let rmse: Metric = "RMSE".parse().unwrap();
        assert_eq!((rmse.name(), rmse.larger_is_better()), ("rmse", false));
        assert!("roc_auc".parse::<Metric>().unwrap().larger_is_better());
        assert!(!"inertia".parse::<Metric>().unwrap().larger_is_better());
        let error = "auc".parse::<Metric>().unwrap_err().to_string();
        let listed = error.contains("metric") && error.contains("roc_auc, pr_auc");
        assert!(listed, "{error}");
    }

    #[test]
    fn the_best_score_is_the_first_of_ties_and_never_nan() {
        let rmse: Metric = "rmse".parse().unwrap();
        let r2: Metric = "r2".parse().unwrap();
        assert_eq!(rmse.best(&[f64::NAN, 2.0, 1.0, 1.0]).unwrap(), 2);
        assert_eq!(r2.best(&[0.5, f64::NAN, 0.9, 0.9]).unwrap(), 2);
        let error = r2.best(&[f64::NAN, f64::NAN]).unwrap_err().to_string();
        assert!(error.contains("r2 is NaN for every candidate"), "{error}");
    }

    #[test]
    fn param_grid_is_the_product_of_candidates_and_values() {
        let base = LinearRegression::new(["x"]);
        let grid = param_grid([base.clone()], &[0.0, 1.0], LinearRegression::reg_param);
        let grid = param_grid(grid, &[0.0, 0.5], LinearRegression::elastic_net_param);
        let expected = [(0.0, 0.0), (0.0, 0.5), (1.0, 0.0), (1.0, 0.5)]
            .map(|(reg, mix)| base.clone().reg_param(reg).elastic_net_param(mix));
        assert_eq!(grid, expected);
    }

    /// 120 rows of `x` in [0, 12), `y = 3x + 1` plus small deterministic noise, and a binary
    /// `above` (1 where `y` plus more noise exceeds 19: classes overlap near x = 6), in two
    /// partitions.
    fn line() -> DataFrame {
        let rows: Vec<Vec<Option<f64>>> = (0..120usize)
            .map(|i| {
                let x = i as f64 / 10.0;
                let noise = ((i * 37) % 11) as f64 / 11.0 - 0.5;
                let y = 3.0 * x + 1.0 + noise;
                let above = f64::from(u8::from(y + 4.0 * noise > 19.0));
                [x, y, above].map(Some).to_vec()
            })
            .collect();
        rows_frame(&["x", "y", "above"], &rows, 2)
    }

    /// Ridge fits of `y` on `x`, a huge penalty first.
    fn ridge_candidates() -> Vec<LinearRegression> {
        param_grid(
            [LinearRegression::new(["x"]).label("y")],
            &[1000.0, 0.0, 1.0],
            LinearRegression::reg_param,
        )
    }

    #[tokio::test]
    async fn train_validation_split_picks_the_unpenalized_fit() {
        let data = line();
        let tuned = TrainValidationSplit::new(ridge_candidates(), "rmse")
            .fit(&data)
            .await
            .unwrap();
        assert_eq!(tuned.best_index(), 1, "{:?}", tuned.validation_metrics());
        let rmse = tuned.validation_metrics();
        assert!(rmse[1] < 0.5 && rmse[0] > 5.0, "{rmse:?}");
        assert!((tuned.best_model().coefficients()[0] - 3.0).abs() < 0.05);
        let scored = tuned.transform(data).unwrap();
        assert_eq!(column_values(&scored, "prediction").await.len(), 120);
    }

    #[tokio::test]
    async fn cross_validation_is_the_same_at_any_parallelism() {
        let validator = CrossValidator::new(ridge_candidates(), "rmse").num_folds(3);
        let serial = validator.clone().fit(&line()).await.unwrap();
        let parallel = validator.parallelism(3).fit(&line()).await.unwrap();
        assert_eq!(serial.best_index(), 1, "{:?}", serial.average_metrics());
        assert_eq!(serial.average_metrics(), parallel.average_metrics());
        assert_eq!(serial.best_index(), parallel.best_index());
        assert_eq!(serial.best_model(), parallel.best_model());
    }

    #[tokio::test]
    async fn train_validation_split_is_the_same_at_any_parallelism() {
        let search = TrainValidationSplit::new(ridge_candidates(), "r2").seed(9);
        let serial = search.clone().fit(&line()).await.unwrap();
        let parallel = search.parallelism(3).fit(&line()).await.unwrap();
        assert_eq!(serial.validation_metrics(), parallel.validation_metrics());
        assert_eq!(serial.best_index(), parallel.best_index());
    }

    #[tokio::test]
    async fn cross_validation_selects_a_classifier_by_log_loss() {
        let candidates = param_grid(
            [LogisticRegression::new(["x"]).label("above").max_iter(30)],
            &[10.0, 0.01],
            LogisticRegression::reg_param,
        );
        let tuned = CrossValidator::new(candidates, "log_loss")
            .parallelism(2)
            .fit(&line())
            .await
            .unwrap();
        assert_eq!(tuned.best_index(), 1, "{:?}", tuned.average_metrics());
    }

    async fn fit_error<E: Estimator>(estimator: E) -> String
    where
        E::Model: std::fmt::Debug,
    {
        estimator.fit(&line()).await.unwrap_err().to_string()
    }

    #[tokio::test]
    async fn invalid_parameters_are_named() {
        let no_candidates: Vec<LinearRegression> = Vec::new();
        let tvs = || TrainValidationSplit::new(ridge_candidates(), "rmse");
        let cv = || CrossValidator::new(ridge_candidates(), "rmse");
        let cases = [
            (
                fit_error(TrainValidationSplit::new(no_candidates, "rmse")).await,
                "candidates",
            ),
            (
                fit_error(CrossValidator::new(ridge_candidates(), "auc")).await,
                "metric",
            ),
            (fit_error(cv().num_folds(1)).await, "num_folds"),
            (fit_error(tvs().train_ratio(1.0)).await, "train_ratio"),
            (fit_error(tvs().parallelism(0)).await, "parallelism"),
        ];
        for (error, param) in cases {
            let prefix = format!("invalid parameter {param}:");
            assert!(error.starts_with(&prefix), "{param}: {error}");
        }
    }

    #[tokio::test]
    async fn a_metric_the_model_lacks_names_the_model_type() {
        let error = fit_error(TrainValidationSplit::new(ridge_candidates(), "roc_auc")).await;
        assert!(
            error.contains("linear_regression model does not compute roc_auc")
                && error.contains("rmse, mse, mae, r2"),
            "{error}"
        );
    }
}
