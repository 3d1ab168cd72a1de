//! # ember-mllib: machine learning as distributed aggregation
//!
//! Every fit is a sequence of DataFusion aggregate queries over the caller's
//! [`DataFrame`](datafusion::dataframe::DataFrame): partitions compute small partial states that
//! merge (add, min, max), so the same code trains in one process or on a cluster of executors, and
//! the training data is never collected into one place. Models apply themselves as ordinary
//! expressions (or UDFs) appended to a DataFrame, so scoring is a distributed query too.
//!
//! - [`Estimator`] and [`Model`]: Spark ML's shape — `fit(&DataFrame) -> Model`,
//!   `transform(DataFrame) -> DataFrame` that appends output columns.
//! - [`summary`]: per-column count, mean, variance, min and max in one aggregate — the statistics
//!   scalers and imputers are fitted from.
//! - [`StandardScaler`]: the first estimator, standardization by mean and standard deviation.
//!
//! Features are ordinary numeric columns named by the caller (no vector column). This layer knows
//! nothing of sessions, masters or the CLI; it only needs a DataFrame.

pub mod error;
pub mod estimator;
pub mod scaler;
pub mod summary;
#[cfg(test)]
mod test_frames;

pub use error::{MlError, Result};
pub use estimator::{Estimator, Model};
pub use scaler::{StandardScaler, StandardScalerModel};
pub use summary::{summarize, ColumnSummary};
