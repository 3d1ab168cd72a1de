//! `OneHotEncoder`: category indices to one 0/1 column per category.

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, Float64Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{exec_err, plan_err};
use datafusion::dataframe::DataFrame;
use datafusion::error::Result as DataFusionResult;
use datafusion::logical_expr::{lit, when, Expr};
use serde_json::json;

use crate::codec::count_within;
use crate::error::{MlError, Result};
use crate::estimator::{Estimator, Model};
use crate::model::{append_columns, as_float64, AnyModel};
use crate::params::{
    all_valid, check_absent, feature_exprs, output_columns_builder, setters, Columns, HandleInvalid,
};
use crate::persist::{ModelParts, PersistentModel, SavedModel};
use crate::predict::{model_call, RowModel};
use crate::summary::summarize;

/// Encodes category indices (whole numbers from 0, as a [`crate::StringIndexer`] produces) as
/// one `Float64` 0/1 column per category, as Spark ML's `OneHotEncoder` but with plain columns
/// instead of a vector: input `c` with categories 0..n becomes `c_0`, `c_1`, ... (the prefix is
/// the output column name, by default the input's).
///
/// The fit finds each column's number of categories (its largest value + 1) in one summary
/// aggregate. `drop_last` (default `true`, Spark's) leaves out the last category's column, so the
/// columns are not collinear. A value that is not a category (negative, fractional, too large)
/// or null/NaN follows `handle_invalid`: `error` (default) fails the query, `skip` drops the row,
/// `keep` puts it in an extra last category (so with `drop_last`, every real category keeps its
/// column).
#[derive(Debug, Clone, PartialEq)]
pub struct OneHotEncoder {
    columns: Columns,
    drop_last: bool,
    handle_invalid: HandleInvalid,
}

impl OneHotEncoder {
    /// An encoder of `input_columns`.
    pub fn new(input_columns: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            columns: Columns::new(input_columns),
            drop_last: true,
            handle_invalid: HandleInvalid::Error,
        }
    }

    output_columns_builder!();
}

setters! {
    OneHotEncoder;
    /// Whether to leave out the last category's column (default `true`).
    drop_last: bool;
    /// What to do with values that are not categories (default `error`).
    handle_invalid: HandleInvalid;
}

/// The most categories one column may have: each is a column.
const MAX_CATEGORIES: f64 = 10_000.0;

#[async_trait]
impl Estimator for OneHotEncoder {
    type Model = OneHotEncoderModel;

    async fn fit(&self, data: &DataFrame) -> Result<OneHotEncoderModel> {
        // The output names are the prefixes of the 0/1 columns: the inputs' own by default.
        let prefixes = self.columns.output_names("")?;
        let prefixes = match self.columns.outputs {
            Some(_) => prefixes,
            None => self.columns.inputs.clone(),
        };
        let summaries = summarize(data, &self.columns.inputs).await?;
        let mut sizes = Vec::with_capacity(summaries.len());
        for summary in &summaries {
            if summary.count == 0 {
                return Err(MlError::NoValidValues {
                    column: summary.column.clone(),
                    rows: summary.rows,
                });
            }
            if summary.min < 0.0 || summary.max.fract() != 0.0 || summary.max >= MAX_CATEGORIES {
                return Err(MlError::InvalidColumn {
                    column: summary.column.clone(),
                    reason: format!(
                        "category indices must be whole numbers in [0, {MAX_CATEGORIES}), \
                         found values in [{}, {}]",
                        summary.min, summary.max
                    ),
                });
            }
            sizes.push(summary.max as usize + 1);
        }
        let model = OneHotEncoderModel {
            inputs: self.columns.inputs.clone(),
            prefixes,
            sizes,
            drop_last: self.drop_last,
            handle_invalid: self.handle_invalid,
        };
        check_absent(data, "output_columns", &model.output_columns())?;
        Ok(model)
    }
}

/// A fitted [`OneHotEncoder`]: the number of categories of each input column.
#[derive(Debug, Clone, PartialEq)]
pub struct OneHotEncoderModel {
    inputs: Vec<String>,
    prefixes: Vec<String>,
    sizes: Vec<usize>,
    drop_last: bool,
    handle_invalid: HandleInvalid,
}

impl OneHotEncoderModel {
    /// The number of categories of each input column, without the `keep` category.
    pub fn category_sizes(&self) -> &[usize] {
        &self.sizes
    }

    /// How many 0/1 columns a column of `size` categories gets.
    fn width(&self, size: usize) -> usize {
        let with_invalid = size + usize::from(self.handle_invalid == HandleInvalid::Keep);
        with_invalid - usize::from(self.drop_last)
    }
}

impl Model for OneHotEncoderModel {
    fn transform(&self, data: DataFrame) -> Result<DataFrame> {
        let inputs = feature_exprs(&data, &self.inputs)?;
        let data = match self.handle_invalid {
            HandleInvalid::Skip => {
                let categories = self.categories(inputs.clone(), HandleInvalid::Keep);
                let invalid = self.sizes.iter().zip(categories).map(|(size, category)| {
                    category
                        .clone()
                        .is_null()
                        .or(category.eq(lit(*size as f64)))
                });
                let valid = invalid.map(|invalid| Expr::Not(Box::new(invalid)));
                data.filter(all_valid(&inputs).and(valid.reduce(Expr::and).unwrap_or(lit(true))))?
            }
            HandleInvalid::Error | HandleInvalid::Keep => data,
        };
        append_columns(data, self, inputs)
    }
}

impl OneHotEncoderModel {
    /// Each input's category (`size` for an invalid value under `keep`), as `handle` says.
    fn categories(&self, inputs: Vec<Expr>, handle: HandleInvalid) -> Vec<Expr> {
        as_float64(inputs)
            .into_iter()
            .zip(&self.sizes)
            .map(|(input, &size)| {
                let category = Category {
                    size,
                    keep: handle != HandleInvalid::Error,
                };
                model_call(&category, handle, vec![input])
            })
            .collect()
    }
}

#[async_trait]
impl AnyModel for OneHotEncoderModel {
    fn input_columns(&self) -> &[String] {
        &self.inputs
    }

    fn output_columns(&self) -> Vec<String> {
        self.prefixes
            .iter()
            .zip(&self.sizes)
            .flat_map(|(prefix, &size)| (0..self.width(size)).map(move |i| format!("{prefix}_{i}")))
            .collect()
    }

    /// One 0/1 expression per category; a null category (an invalid value in one expression,
    /// where `skip` cannot drop the row) sets the extra category under `keep`, none otherwise.
    fn column_exprs(&self, inputs: Vec<Expr>) -> Result<Vec<Expr>> {
        let handle = match self.handle_invalid {
            HandleInvalid::Skip => HandleInvalid::Keep,
            other => other,
        };
        let mut columns = Vec::new();
        for (category, &size) in self.categories(inputs, handle).into_iter().zip(&self.sizes) {
            for i in 0..self.width(size) {
                let hit = if i == size {
                    category
                        .clone()
                        .is_null()
                        .or(category.clone().eq(lit(i as f64)))
                } else {
                    category.clone().eq(lit(i as f64))
                };
                columns.push(when(hit, lit(1.0)).otherwise(lit(0.0))?);
            }
        }
        Ok(columns)
    }
}

impl PersistentModel for OneHotEncoderModel {
    const MODEL_TYPE: &'static str = "one_hot_encoder";

    fn to_saved(&self) -> ModelParts {
        ModelParts {
            features: self.inputs.clone(),
            params: json!({
                "output_columns": self.prefixes,
                "drop_last": self.drop_last,
                "handle_invalid": self.handle_invalid.as_str(),
            }),
            arrays: vec![(
                "category_sizes",
                self.sizes.iter().map(|&size| size as f64).collect(),
            )],
        }
    }

    fn from_saved(saved: &SavedModel) -> Result<Self> {
        let inputs = saved.metadata.features.clone();
        let sizes = saved.array_of_len("category_sizes", inputs.len())?;
        let sizes = sizes
            .iter()
            .map(|&size| count_within(size, MAX_CATEGORIES as usize).filter(|&size| size > 0))
            .collect::<Option<Vec<usize>>>()
            .ok_or_else(|| {
                saved.corrupt(format!(
                    "'category_sizes' holds other than whole numbers from 1 to {MAX_CATEGORIES}"
                ))
            })?;
        let prefixes: Vec<String> = saved.param("output_columns")?;
        if prefixes.len() != inputs.len() {
            return Err(saved.corrupt("'output_columns' does not name one prefix per input".into()));
        }
        let handle_invalid: String = saved.param("handle_invalid")?;
        Ok(Self {
            prefixes,
            sizes,
            drop_last: saved.param("drop_last")?,
            handle_invalid: handle_invalid.parse()?,
            inputs,
        })
    }
}

/// A column's category: the value itself when it is one of `0..size`; otherwise `size` when
/// `keep`, else an error naming the value.
#[derive(Debug)]
pub(crate) struct Category {
    size: usize,
    keep: bool,
}

impl RowModel for Category {
    const NAME: &'static str = "ml_category";
    const OUTPUT: DataType = DataType::Float64;

    fn decode(params: &[f64]) -> DataFusionResult<Self> {
        match params {
            [size, keep] => match count_within(*size, MAX_CATEGORIES as usize) {
                Some(size) => Ok(Self {
                    size,
                    keep: *keep != 0.0,
                }),
                None => plan_err!("{}: {size} categories", Self::NAME),
            },
            _ => plan_err!("{}: expected the size and the keep flag", Self::NAME),
        }
    }

    fn encode(&self) -> Vec<f64> {
        vec![self.size as f64, f64::from(u8::from(self.keep))]
    }

    fn features(&self) -> usize {
        1
    }

    fn predict(&self, features: &[&[f64]]) -> DataFusionResult<ArrayRef> {
        let size = self.size as f64;
        let mut categories = Vec::with_capacity(features[0].len());
        for &value in features[0] {
            let valid = value >= 0.0 && value < size && value.fract() == 0.0;
            categories.push(match (valid, self.keep) {
                (true, _) => value,
                (false, true) => size,
                (false, false) => {
                    return exec_err!(
                        "{}: {value} is not a category index in [0, {}); set handle_invalid to \
                         'skip' or 'keep' to encode such values",
                        Self::NAME,
                        self.size
                    )
                }
            });
        }
        Ok(std::sync::Arc::new(Float64Array::from(categories)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_frames::{column_values, rows_frame};

    fn categories(values: &[Option<f64>]) -> DataFrame {
        let rows: Vec<Vec<Option<f64>>> = values.iter().map(|v| vec![*v]).collect();
        rows_frame(&["c"], &rows, 2)
    }

    #[tokio::test]
    async fn one_column_per_category_last_dropped_by_default() {
        let data = categories(&[Some(0.0), Some(2.0), Some(1.0), Some(2.0)]);
        let model = OneHotEncoder::new(["c"]).fit(&data).await.unwrap();
        assert_eq!(model.category_sizes(), [3]);
        assert_eq!(model.output_columns(), ["c_0", "c_1"]);
        let out = model.transform(data.clone()).unwrap();
        assert_eq!(
            column_values(&out, "c_0").await,
            [Some(1.0), Some(0.0), Some(0.0), Some(0.0)]
        );
        assert_eq!(
            column_values(&out, "c_1").await,
            [Some(0.0), Some(0.0), Some(1.0), Some(0.0)]
        );

        let keep = OneHotEncoder::new(["c"])
            .output_columns(["v"])
            .handle_invalid(HandleInvalid::Keep)
            .fit(&data)
            .await
            .unwrap();
        assert_eq!(keep.output_columns(), ["v_0", "v_1", "v_2"]);
        let unseen = categories(&[Some(7.0), None, Some(2.0), Some(0.5)]);
        let out = keep.transform(unseen.clone()).unwrap();
        assert_eq!(
            column_values(&out, "v_2").await,
            [Some(0.0), Some(0.0), Some(1.0), Some(0.0)]
        );
        assert_eq!(
            column_values(&out, "v_0").await,
            [Some(0.0), Some(0.0), Some(0.0), Some(0.0)]
        );
        let skip = OneHotEncoder::new(["c"])
            .drop_last(false)
            .handle_invalid(HandleInvalid::Skip)
            .fit(&data)
            .await
            .unwrap()
            .transform(unseen.clone())
            .unwrap();
        assert_eq!(column_values(&skip, "c_2").await, [Some(1.0)]);

        let error = model
            .transform(unseen)
            .unwrap()
            .collect()
            .await
            .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("7 is not a category index in [0, 3)"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn values_that_are_not_indices_fail_the_fit() {
        let error = OneHotEncoder::new(["c"])
            .fit(&categories(&[Some(-1.0), Some(2.0)]))
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid values in column 'c': category indices must be whole numbers in [0, 10000), \
             found values in [-1, 2]"
        );
    }
}
