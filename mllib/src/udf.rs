//! What every ML function shares, aggregate ([`crate::aggregate`], [`crate::trees::tasks`]) or
//! scalar ([`crate::predict`]): its arguments are the parameters as one `Binary` literal, then
//! the features; and one generic function type serves every training step and every model kind.

use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{plan_err, ScalarValue};
use datafusion::error::Result as DataFusionResult;
use datafusion::logical_expr::{Signature, Volatility};
use datafusion::physical_expr::expressions::Literal;
use datafusion::physical_expr::PhysicalExpr;

use crate::codec::decode_f64s;

/// The most feature columns an ML function call can have. Decoders reject a feature count or
/// dimension beyond it, so that arithmetic on one (the `dim + 1` columns of a linear step, the
/// `dim * (dim + 1) / 2` values of a Gram matrix) cannot overflow; a plan with a million feature
/// columns is not one an estimator writes.
pub(crate) const MAX_FEATURE_COLUMNS: usize = 1 << 20;

/// A DataFusion function over `T` — a training step ([`crate::aggregate::PartialAggregateUdaf`])
/// or a fitted model's kind ([`crate::predict::ModelUdf`]) — taking `T`'s parameters, then any
/// number of numeric features. The function holds nothing of its own (the parameters ride in
/// the plan), so every value of one `T` is the same function.
#[derive(Debug)]
pub struct TypedFunction<T> {
    pub(crate) signature: Signature,
    kind: PhantomData<fn() -> T>,
}

impl<T> TypedFunction<T> {
    /// The function, accepting the parameters and any number of numeric features.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
            kind: PhantomData,
        }
    }
}

impl<T> Default for TypedFunction<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> PartialEq for TypedFunction<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<T> Eq for TypedFunction<T> {}

impl<T> Hash for TypedFunction<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Equal functions are those of one `T`, which its type name tells apart.
        std::any::type_name::<T>().hash(state);
    }
}

/// The argument types ML functions take: `Binary` (or dictionary-encoded binary) parameters,
/// then `Float64` features.
pub(crate) fn coerce_params_and_features(
    name: &str,
    arg_types: &[DataType],
) -> DataFusionResult<Vec<DataType>> {
    let Some((params, features)) = arg_types.split_first() else {
        return plan_err!("{name} needs its parameters and at least one feature column");
    };
    let binary = |t: &DataType| matches!(t, DataType::Binary);
    let is_params = match params {
        DataType::Dictionary(_, values) => binary(values),
        other => binary(other),
    };
    if !is_params {
        return plan_err!("{name}: the first argument must be the binary parameters, got {params}");
    }
    if let Some(bad) = features.iter().find(|t| !t.is_numeric() && !t.is_null()) {
        return plan_err!("{name}: features must be numeric, got {bad}");
    }
    let mut coerced = vec![params.clone()];
    coerced.extend(features.iter().map(|_| DataType::Float64));
    Ok(coerced)
}

/// The `f64` parameters in the literal first argument of an ML function.
pub(crate) fn literal_params(
    name: &str,
    expr: Option<&Arc<dyn PhysicalExpr>>,
) -> DataFusionResult<Vec<f64>> {
    match expr
        .and_then(|expr| expr.downcast_ref::<Literal>())
        .map(Literal::value)
    {
        Some(ScalarValue::Binary(Some(bytes))) => decode_f64s(bytes),
        Some(ScalarValue::Dictionary(_, value)) => match value.as_ref() {
            ScalarValue::Binary(Some(bytes)) => decode_f64s(bytes),
            _ => plan_err!("{name}: the first argument must be a binary literal"),
        },
        _ => plan_err!("{name}: the first argument must be a binary literal"),
    }
}
