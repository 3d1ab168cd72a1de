//! The estimator/model contract every learner follows (Spark ML's shape).

use async_trait::async_trait;
use datafusion::dataframe::DataFrame;

use crate::error::Result;

/// Something that learns from data: its parameters are a plain value, validated by `fit`, and
/// fitting returns a distinct [`Model`] type.
#[async_trait]
pub trait Estimator: Send + Sync {
    /// What fitting produces.
    type Model: Model;

    /// Validates the parameters and learns from `data` through distributed aggregate queries.
    /// `data` is only read; nothing is collected but the aggregates' small results.
    async fn fit(&self, data: &DataFrame) -> Result<Self::Model>;
}

/// A fitted model: applies what it learned to new data.
pub trait Model: Send + Sync {
    /// Returns `data` with the model's output columns appended. Lazy: nothing runs until the
    /// returned DataFrame is executed, and then it runs wherever the DataFrame's session runs.
    fn transform(&self, data: DataFrame) -> Result<DataFrame>;
}
