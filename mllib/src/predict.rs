//! Models applied inside queries: a fitted model as a DataFusion scalar function that carries the
//! model in its first argument.
//!
//! [`ModelUdf`] turns a [`RowModel`] into `name(params, feature_1, ..., feature_n)`, where
//! `params` is a `Binary` literal holding the invalid-row policy and the model, so scoring is an
//! ordinary expression: it runs wherever the query runs, on executors too, and needs nothing but
//! the function's registration there. [`append_prediction`] is how models' `transform` uses it.

use std::fmt::Debug;

use datafusion::arrow::array::{Array, ArrayRef, Float64Array, UInt32Array};
use datafusion::arrow::compute::take;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::cast::as_float64_array;
use datafusion::common::{exec_err, plan_err, ScalarValue};
use datafusion::dataframe::DataFrame;
use datafusion::error::Result as DataFusionResult;
use datafusion::logical_expr::{
    lit, ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
};

use crate::codec::{decode_f64s, encode_f64s};
use crate::error::Result;
use crate::features::ValidFeatures;
use crate::params::{all_valid, check_absent, HandleInvalid};
use crate::random::bytes_unit;
use crate::summary::numeric_column;
use crate::udf::{coerce_params_and_features, TypedFunction};

/// A fitted model that maps each row's features to one output value.
pub trait RowModel: Debug + Send + Sync + Sized + 'static {
    /// The scalar function's name in plans (`ml_..._predict`).
    const NAME: &'static str;

    /// The output's type.
    const OUTPUT: DataType;

    /// Decodes the model, as [`RowModel::encode`] wrote it.
    fn decode(params: &[f64]) -> DataFusionResult<Self>;

    /// The model as parameters, to ride in the plan.
    fn encode(&self) -> Vec<f64>;

    /// Whether the model takes missing features (null or NaN, passed as NaN) as they are, as
    /// trees do; otherwise rows with one are invalid and follow the caller's handle_invalid.
    const ACCEPTS_MISSING: bool = false;

    /// How many feature columns the model reads.
    fn features(&self) -> usize;

    /// The outputs for rows whose features are all valid (one slice per feature), as an array of
    /// [`RowModel::OUTPUT`] with one value per row; an error when a value is outside what the
    /// model accepts (and the model says which).
    fn predict(&self, features: &[&[f64]]) -> DataFusionResult<ArrayRef>;
}

/// Returns `data` with `output` appended: `model`'s output for each row's `features`. Rows with a
/// null or NaN feature fail the query (`Error`), are dropped (`Skip`) or get a null output
/// (`Keep`).
pub fn append_prediction<T: RowModel>(
    data: DataFrame,
    model: &T,
    features: &[String],
    output: &str,
    handle_invalid: HandleInvalid,
) -> Result<DataFrame> {
    check_absent(&data, "prediction_column", &[output.to_string()])?;
    let exprs = features
        .iter()
        .map(|column| numeric_column(&data, column))
        .collect::<Result<Vec<_>>>()?;
    let data = match handle_invalid {
        HandleInvalid::Skip => data.filter(all_valid(&exprs))?,
        HandleInvalid::Error | HandleInvalid::Keep => data,
    };
    Ok(data.with_column(output, model_call(model, handle_invalid, exprs))?)
}

/// `Model` and `AnyModel` for a model whose one output column, its `prediction_column`, is its
/// `scorer()` (a [`RowModel`]) applied to its `features`, following its `handle_invalid`; its
/// metrics are its own `evaluate`, its prediction of type `$prediction_type`.
macro_rules! scored_model {
    ($model:ty, $prediction_type:expr) => {
        impl $crate::estimator::Model for $model {
            fn transform(
                &self,
                data: datafusion::dataframe::DataFrame,
            ) -> $crate::error::Result<datafusion::dataframe::DataFrame> {
                $crate::predict::append_prediction(
                    data,
                    &self.scorer(),
                    &self.features,
                    &self.prediction_column,
                    self.handle_invalid,
                )
            }
        }

        #[async_trait::async_trait]
        impl $crate::model::AnyModel for $model {
            fn input_columns(&self) -> &[String] {
                &self.features
            }

            fn output_columns(&self) -> Vec<String> {
                vec![self.prediction_column.clone()]
            }

            async fn evaluate(
                &self,
                data: &datafusion::dataframe::DataFrame,
            ) -> $crate::error::Result<$crate::evaluation::Metrics> {
                <$model>::evaluate(self, data).await
            }

            fn prediction(
                &self,
                features: Vec<datafusion::logical_expr::Expr>,
            ) -> $crate::error::Result<datafusion::logical_expr::Expr> {
                // A one-expression prediction gives invalid rows a null, whatever the model's
                // `handle_invalid` does in `transform`.
                Ok($crate::predict::model_call(
                    &self.scorer(),
                    $crate::params::HandleInvalid::Keep,
                    $crate::model::as_float64(features),
                ))
            }

            fn prediction_type(&self) -> datafusion::arrow::datatypes::DataType {
                $prediction_type
            }
        }
    };
}
pub(crate) use scored_model;

/// `model` applied to `features` (`Float64` expressions) as an expression.
pub fn model_call<T: RowModel>(
    model: &T,
    handle_invalid: HandleInvalid,
    features: Vec<Expr>,
) -> Expr {
    let mut params = vec![f64::from(u8::from(handle_invalid == HandleInvalid::Error))];
    params.extend(model.encode());
    let mut args = vec![lit(ScalarValue::Binary(Some(encode_f64s(&params))))];
    args.extend(features);
    ScalarUDF::from(ModelUdf::<T>::new()).call(args)
}

/// A [`RowModel`] as a DataFusion scalar function (see the module docs).
pub type ModelUdf<T> = TypedFunction<T>;

impl<T: RowModel> ScalarUDFImpl for TypedFunction<T> {
    fn name(&self) -> &str {
        T::NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> DataFusionResult<Vec<DataType>> {
        coerce_params_and_features(T::NAME, arg_types)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DataFusionResult<DataType> {
        Ok(T::OUTPUT)
    }

    /// `name(<model HASH>, features...)`: the default spells out the model's bytes, which for
    /// a forest of deep trees is megabytes of text formatted at every planning step (it was
    /// most of the time of evaluating a 100-tree forest). The hash keeps two models on the
    /// same features apart.
    fn schema_name(&self, args: &[Expr]) -> DataFusionResult<String> {
        let Some((Expr::Literal(ScalarValue::Binary(Some(bytes)), _), features)) =
            args.split_first()
        else {
            return plan_err!("{}: the first argument must be a binary literal", T::NAME);
        };
        let hash = bytes_unit(0, bytes).to_bits();
        let features: Vec<String> = features
            .iter()
            .map(|feature| feature.schema_name().to_string())
            .collect();
        Ok(format!(
            "{}(<model {hash:016x}>,{})",
            T::NAME,
            features.join(",")
        ))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DataFusionResult<ColumnarValue> {
        let Some((ColumnarValue::Scalar(ScalarValue::Binary(Some(bytes))), feature_args)) =
            args.args.split_first()
        else {
            return plan_err!("{}: the first argument must be a binary literal", T::NAME);
        };
        let params = decode_f64s(bytes)?;
        let Some((&fail_on_invalid, model)) = params.split_first() else {
            return exec_err!("{}: empty parameters", T::NAME);
        };
        let model = T::decode(model)?;
        if feature_args.len() != model.features() {
            return plan_err!(
                "{} expects {} feature columns, got {}",
                T::NAME,
                model.features(),
                feature_args.len()
            );
        }
        let arrays = feature_args
            .iter()
            .map(|arg| arg.to_array(args.number_rows))
            .collect::<DataFusionResult<Vec<_>>>()?;
        if T::ACCEPTS_MISSING {
            let columns = nulls_as_nan(&arrays)?;
            let slices: Vec<&[f64]> = columns.iter().map(|c| c.values().as_ref()).collect();
            return Ok(ColumnarValue::Array(model.predict(&slices)?));
        }
        let features = ValidFeatures::new(&arrays)?;
        let predictions = model.predict(&features.slices())?;
        let Some(mask) = features.mask() else {
            return Ok(ColumnarValue::Array(predictions));
        };
        if fail_on_invalid != 0.0 {
            return exec_err!(
                "{}: {} rows have a null or NaN feature; set handle_invalid to 'skip' or 'keep' \
                 to score them",
                T::NAME,
                features.invalid_rows()
            );
        }
        // Spread the valid rows' outputs back over the batch, null where a feature was invalid.
        let mut next = 0;
        let positions: UInt32Array = mask
            .iter()
            .map(|valid| {
                valid.unwrap_or(false).then(|| {
                    next += 1;
                    next - 1
                })
            })
            .collect();
        Ok(ColumnarValue::Array(take(&predictions, &positions, None)?))
    }
}

/// `Float64` arrays with their null slots set to NaN (the arrays themselves when they have none).
fn nulls_as_nan(arrays: &[ArrayRef]) -> DataFusionResult<Vec<Float64Array>> {
    arrays
        .iter()
        .map(|array| {
            let values = as_float64_array(array)?;
            Ok(if values.null_count() == 0 {
                values.clone()
            } else {
                values
                    .iter()
                    .map(|value| value.unwrap_or(f64::NAN))
                    .collect()
            })
        })
        .collect()
}
