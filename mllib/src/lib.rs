//! # ember-mllib: machine learning as distributed aggregation
//!
//! Every fit is a sequence of DataFusion aggregate queries over the caller's
//! [`DataFrame`](datafusion::dataframe::DataFrame): partitions compute small partial states that
//! merge, so the same code trains in one process or on a cluster of executors, and the training
//! data is never collected into one place. Models apply themselves as ordinary expressions (or
//! UDFs carrying the model) appended to a DataFrame, so scoring is a distributed query too.
//!
//! - [`Estimator`] and [`Model`]: Spark ML's shape — `fit(&DataFrame) -> Model`,
//!   `transform(DataFrame) -> DataFrame` that appends output columns. [`HandleInvalid`]: what a
//!   stage does with null or NaN features.
//! - [`aggregate`]: a training step as a DataFusion aggregate function whose first argument
//!   carries the model state; [`predict`]: a fitted model as a scalar function; [`udf`]: what
//!   both kinds of function share.
//! - [`kernels`]: the computations themselves, over plain `f64` slices.
//! - [`summary`]: per-column count, mean, variance, min and max in one aggregate — the statistics
//!   scalers and imputers are fitted from.
//! - [`quantiles`]: per-column approximate quantiles within a reported rank error bound, in one
//!   aggregate of mergeable sketches.
//! - Estimators: [`StandardScaler`], [`KMeans`], [`LogisticRegression`], [`LinearRegression`],
//!   [`Pipeline`] (stages fitted in order); [`optim`]: the L-BFGS that drives iterative fits.
//! - [`evaluation`]: regression, binary, multiclass and clustering metrics, each an aggregate.
//! - [`trees`]: histogram tree learners — [`GradientBoostedTrees`] and [`RandomForest`] — on
//!   features binned once (per-feature bin edges from one aggregate of quantile sketches).
//! - [`tuning`]: [`random_split`], and model selection over a param grid
//!   by a metric: [`TrainValidationSplit`] and k-fold [`CrossValidator`], fitting candidates
//!   concurrently.
//! - [`persist`]: saving and loading models (JSON metadata + Arrow IPC arrays) on any store;
//!   [`model`]: a model of any type; [`registry`]: every model type SQL can create, its
//!   `OPTIONS` and how it loads; [`options`]: fitting one from its `OPTIONS`.
//! - [`functions`]: the functions every Ember process registers so these plans run anywhere.
//!
//! Features are ordinary numeric columns named by the caller (no vector column). This layer knows
//! nothing of sessions, masters or the CLI; it only needs a DataFrame.

pub mod aggregate;
pub mod codec;
pub mod error;
pub mod estimator;
pub mod evaluation;
mod features;
pub mod functions;
#[cfg(test)]
mod fuzz;
pub mod kernels;
pub mod kmeans;
pub mod linear;
pub mod model;
pub mod optim;
pub mod options;
pub mod params;
pub mod persist;
pub mod pipeline;
pub mod predict;
pub mod preprocessing;
pub mod quantiles;
pub mod random;
pub mod registry;
pub mod summary;
#[cfg(test)]
mod test_frames;
pub mod trees;
pub mod tuning;
pub mod udf;

/// Tests run under an allocator that refuses any one allocation over a gigabyte, so a decoder
/// that sizes a buffer from a count it read fails its fuzz test at once.
#[cfg(test)]
#[global_allocator]
static ALLOCATOR: fuzz::CappedAllocator = fuzz::CappedAllocator;

pub use error::{MlError, Result};
pub use estimator::{Estimator, Model};
pub use kmeans::{KMeans, KMeansModel};
pub use linear::{
    Family, LinearRegression, LinearRegressionModel, LogisticRegression, LogisticRegressionModel,
};
pub use model::{AnyModel, FittedModel};
pub use options::{fit_from_options, OptionValue};
pub use params::HandleInvalid;
pub use pipeline::{Pipeline, PipelineModel, Stage};
pub use preprocessing::{
    Bucketizer, BucketizerModel, ImputeStrategy, Imputer, ImputerModel, MinMaxScaler,
    MinMaxScalerModel, OneHotEncoder, OneHotEncoderModel, QuantileDiscretizer, StandardScaler,
    StandardScalerModel, StringIndexer, StringIndexerModel, StringOrder,
};
pub use summary::{summarize, ColumnSummary};
pub use trees::forest::{FeatureSubsetStrategy, Impurity, RandomForest, RandomForestModel};
pub use trees::gbt::{GradientBoostedTrees, GradientBoostedTreesModel};
pub use tuning::{
    param_grid, random_split, CrossValidator, CrossValidatorModel, Metric, TrainValidationSplit,
    TrainValidationSplitModel,
};
