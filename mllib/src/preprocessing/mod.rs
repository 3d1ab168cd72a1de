//! Preprocessing stages: estimators whose models append transformed copies of columns. Each fit
//! is one distributed aggregate per pass (a summary, a sketch, a `GROUP BY`); each model applies
//! as plain expressions or a function carrying the model, so it runs wherever the query runs.
//!
//! - [`StandardScaler`], [`MinMaxScaler`]: rescale numeric columns.
//! - [`Imputer`]: replaces missing values by a column's mean, median or most frequent value.
//! - [`StringIndexer`]: values (as strings) to indices by frequency; [`OneHotEncoder`]: indices
//!   to 0/1 columns.
//! - [`Bucketizer`]: values to buckets by given splits; [`QuantileDiscretizer`]: splits at
//!   quantiles from a mergeable sketch.

pub mod bucketizer;
pub mod imputer;
pub mod min_max_scaler;
pub mod one_hot_encoder;
pub mod quantile_discretizer;
pub mod standard_scaler;
pub mod string_indexer;

pub use bucketizer::{Bucketizer, BucketizerModel};
pub use imputer::{ImputeStrategy, Imputer, ImputerModel};
pub use min_max_scaler::{MinMaxScaler, MinMaxScalerModel};
pub use one_hot_encoder::{OneHotEncoder, OneHotEncoderModel};
pub use quantile_discretizer::QuantileDiscretizer;
pub use standard_scaler::{StandardScaler, StandardScalerModel};
pub use string_indexer::{StringIndexer, StringIndexerModel, StringOrder};
