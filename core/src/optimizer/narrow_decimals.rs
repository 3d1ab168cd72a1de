//! [`NarrowDecimalArithmetic`] (logical): `+`, `-` and `*` of two `Decimal128` values run in
//! 64-bit integers whenever the batch's values are small enough that no result can overflow, and
//! in arrow's kernels otherwise, so results and errors are the same as before.
//!
//! Why: arrow computes every `Decimal128` operation in `i128`, each element checked for overflow
//! through a closure that returns a `Result`, which the compiler cannot vectorize; a scalar
//! operand with another scale (`1 - l_discount`) costs a second checked multiplication per row to
//! rescale the column. TPC-H's money columns are `DECIMAL(15,2)`, and every revenue expression
//! (`l_extendedprice * (1 - l_discount)`) paid about 20 ns a row: in q01 at SF 1 the projection
//! computing it alone took 119 ms of the query's 450 ms of CPU, and the same query with `DOUBLE`
//! casts instead ran in two thirds of the time. DuckDB computes decimals of up to 18 digits in
//! 64 bits for the same reason.
//!
//! How: the rule replaces each such operator by a call of [`DecimalArithmetic`] (after
//! DataFusion's rules, so common subexpressions are found on the operators first; output names
//! are kept). Per batch the function bounds each operand by its largest absolute value (over
//! every slot, null ones too) and its rescale factor; when the bound of the result fits in `i64`,
//! every element is computed in `i64` with no checks and widened, else the batch goes to the
//! kernels DataFusion's own `BinaryExpr` calls. The result type is DataFusion's, from its own
//! coercion rules.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Decimal128Array};
use datafusion::arrow::buffer::{NullBuffer, ScalarBuffer};
use datafusion::arrow::compute::kernels::numeric::{add_wrapping, mul_wrapping, sub_wrapping};
use datafusion::arrow::datatypes::{DataType, Decimal128Type};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{plan_err, DFSchema, Result, ScalarValue};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::type_coercion::binary::BinaryTypeCoercer;
use datafusion::logical_expr::utils::merge_schema;
use datafusion::logical_expr::{
    BinaryExpr, ColumnarValue, Expr, ExprSchemable, LogicalPlan, Operator, ScalarFunctionArgs,
    ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::optimizer::optimizer::ApplyOrder;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};
use datafusion::physical_expr_common::datum::apply;

/// Replaces `Decimal128` `+`, `-` and `*` by [`DecimalArithmetic`] calls (see the module
/// documentation).
#[derive(Debug, Default)]
pub struct NarrowDecimalArithmetic;

impl OptimizerRule for NarrowDecimalArithmetic {
    fn name(&self) -> &str {
        "ember_narrow_decimal_arithmetic"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::TopDown)
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        // Nodes whose expressions read their inputs' rows; others (scans, extension nodes) keep
        // theirs.
        if !matches!(
            plan,
            LogicalPlan::Projection(_)
                | LogicalPlan::Filter(_)
                | LogicalPlan::Aggregate(_)
                | LogicalPlan::Window(_)
                | LogicalPlan::Sort(_)
                | LogicalPlan::Join(_)
        ) {
            return Ok(Transformed::no(plan));
        }
        let schema = merge_schema(&plan.inputs());
        let names = NamePreserver::new(&plan);
        plan.map_expressions(|expr| {
            let name = names.save(&expr);
            let rewritten = expr.transform_up(|expr| narrow(expr, &schema))?;
            Ok(rewritten.update_data(|expr| name.restore(expr)))
        })
    }
}

/// `expr` as a [`DecimalArithmetic`] call when it is a `Decimal128` `+`, `-` or `*`.
fn narrow(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = &expr else {
        return Ok(Transformed::no(expr));
    };
    let Some(function) = DecimalArithmetic::udf(*op) else {
        return Ok(Transformed::no(expr));
    };
    // An operand whose type cannot be told here is left to DataFusion.
    let decimal = |side: &Expr| {
        side.get_type(schema)
            .is_ok_and(|side| matches!(side, DataType::Decimal128(..)))
    };
    if !(decimal(left) && decimal(right)) {
        return Ok(Transformed::no(expr));
    }
    let args = vec![left.as_ref().clone(), right.as_ref().clone()];
    Ok(Transformed::yes(function.call(args)))
}

/// `left OP right` of two `Decimal128` values, typed as DataFusion types the operator, in 64-bit
/// integers where the batch allows (see the module documentation).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct DecimalArithmetic {
    op: Operator,
    name: &'static str,
    signature: Signature,
}

impl DecimalArithmetic {
    /// The function for `op`, if it is `+`, `-` or `*`.
    pub fn udf(op: Operator) -> Option<Arc<ScalarUDF>> {
        let name = match op {
            Operator::Plus => "ember_decimal_add",
            Operator::Minus => "ember_decimal_subtract",
            Operator::Multiply => "ember_decimal_multiply",
            _ => return None,
        };
        Some(Arc::new(ScalarUDF::new_from_impl(Self {
            op,
            name,
            signature: Signature::any(2, Volatility::Immutable),
        })))
    }

    /// The three functions, for registries that resolve plans by name (executors).
    pub fn all() -> Vec<Arc<ScalarUDF>> {
        [Operator::Plus, Operator::Minus, Operator::Multiply]
            .into_iter()
            .filter_map(Self::udf)
            .collect()
    }
}

/// `left op right` (`+`, `-` or `*`) by the kernel DataFusion's `BinaryExpr` calls.
fn arrow_kernel(
    op: Operator,
    left: &ColumnarValue,
    right: &ColumnarValue,
) -> Result<ColumnarValue> {
    match op {
        Operator::Plus => apply(left, right, add_wrapping),
        Operator::Minus => apply(left, right, sub_wrapping),
        _ => apply(left, right, mul_wrapping),
    }
}

impl ScalarUDFImpl for DecimalArithmetic {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match args {
            [left @ DataType::Decimal128(..), right @ DataType::Decimal128(..)] => {
                BinaryTypeCoercer::new(left, &self.op, right).get_result_type()
            }
            _ => plan_err!(
                "{} takes two DECIMAL(p, s) values of up to 38 digits",
                self.name
            ),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [left, right] = args.args.as_slice() else {
            return plan_err!("{} takes two arguments", self.name);
        };
        let result_type = args.return_field.data_type();
        if let Some(narrow) = in_i64(self.op, left, right, result_type) {
            return Ok(ColumnarValue::Array(narrow));
        }
        arrow_kernel(self.op, left, right)
    }
}

/// One side of an operation: its values, their nulls and scale.
struct Operand<'a> {
    values: Values<'a>,
    nulls: Option<&'a NullBuffer>,
    scale: i8,
}

/// An operand's values: a column's, or one non-null scalar for every row.
enum Values<'a> {
    Column(&'a [i128]),
    Scalar(i128),
}

impl<'a> Operand<'a> {
    /// `value` as an operand, `None` for anything but a `Decimal128` array or non-null scalar.
    fn of(value: &'a ColumnarValue) -> Option<Self> {
        match value {
            ColumnarValue::Array(array) => {
                let DataType::Decimal128(_, scale) = array.data_type() else {
                    return None;
                };
                let array = array.as_primitive_opt::<Decimal128Type>()?;
                Some(Self {
                    values: Values::Column(array.values()),
                    nulls: array.nulls(),
                    scale: *scale,
                })
            }
            ColumnarValue::Scalar(ScalarValue::Decimal128(Some(value), _, scale)) => Some(Self {
                values: Values::Scalar(*value),
                nulls: None,
                scale: *scale,
            }),
            ColumnarValue::Scalar(_) => None,
        }
    }

    /// The largest absolute value, over every slot.
    fn largest(&self) -> u128 {
        match self.values {
            Values::Column(values) => values
                .iter()
                .fold(0, |largest, value| largest.max(value.unsigned_abs())),
            Values::Scalar(value) => value.unsigned_abs(),
        }
    }
}

/// `left op right` computed in `i64` and typed `result_type`, when both are `Decimal128` (at
/// least one an array, scalars non-null) and no element's result can exceed `i64`; `None`
/// otherwise, for arrow's checked kernels.
fn in_i64(
    op: Operator,
    left: &ColumnarValue,
    right: &ColumnarValue,
    result_type: &DataType,
) -> Option<ArrayRef> {
    let left = Operand::of(left)?;
    let right = Operand::of(right)?;
    let (left_factor, right_factor) = match op {
        // Added or subtracted at the larger scale, as arrow does.
        Operator::Plus | Operator::Minus => {
            let scale = left.scale.max(right.scale);
            (
                rescale_factor(scale - left.scale)?,
                rescale_factor(scale - right.scale)?,
            )
        }
        _ => (1, 1),
    };
    let left_bound = left.largest().checked_mul(left_factor as u128)?;
    let right_bound = right.largest().checked_mul(right_factor as u128)?;
    let bound = match op {
        Operator::Multiply => left_bound.checked_mul(right_bound)?,
        _ => left_bound.checked_add(right_bound)?,
    };
    if bound > i64::MAX as u128 {
        return None;
    }
    // Every element (null slots too) is within `bound`, so each narrows exactly and no
    // operation below can wrap.
    let value = |l: i128, r: i128| -> i128 {
        let (l, r) = (l as i64, r as i64);
        i128::from(match op {
            Operator::Plus => l * left_factor + r * right_factor,
            Operator::Minus => l * left_factor - r * right_factor,
            _ => l * r,
        })
    };
    let values: ScalarBuffer<i128> = match (&left.values, &right.values) {
        (Values::Column(l), Values::Column(r)) => {
            l.iter().zip(r.iter()).map(|(&l, &r)| value(l, r)).collect()
        }
        (Values::Column(l), &Values::Scalar(r)) => l.iter().map(|&l| value(l, r)).collect(),
        (&Values::Scalar(l), Values::Column(r)) => r.iter().map(|&r| value(l, r)).collect(),
        (Values::Scalar(_), Values::Scalar(_)) => return None,
    };
    let nulls = NullBuffer::union(left.nulls, right.nulls);
    let array = Decimal128Array::try_new(values, nulls)
        .and_then(|array| match result_type {
            DataType::Decimal128(precision, scale) => {
                array.with_precision_and_scale(*precision, *scale)
            }
            _ => Ok(array),
        })
        .ok()?;
    Some(Arc::new(array))
}

/// `10^digits` when it is an exact `i64` rescale factor.
fn rescale_factor(digits: i8) -> Option<i64> {
    u32::try_from(digits)
        .ok()
        .and_then(|digits| 10_i64.checked_pow(digits))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::RecordBatch;
    use datafusion::arrow::datatypes::{Field, Schema};
    use datafusion::prelude::SessionContext;

    /// `left OP right` through DataFusion's operator and through [`DecimalArithmetic`], as
    /// (`operator`, `function`) results or errors.
    fn both(
        op: Operator,
        left: ColumnarValue,
        right: ColumnarValue,
    ) -> (Result<ArrayRef>, Result<ArrayRef>) {
        let function = DecimalArithmetic::udf(op).unwrap();
        let (left_type, right_type) = (left.data_type(), right.data_type());
        let result_type = function.return_type(&[left_type, right_type]).unwrap();
        let rows = [&left, &right]
            .iter()
            .find_map(|value| match value {
                ColumnarValue::Array(array) => Some(array.len()),
                ColumnarValue::Scalar(_) => None,
            })
            .unwrap_or(1);
        let field = Arc::new(Field::new("r", result_type, true));
        let arg_fields = vec![
            Arc::new(Field::new("l", left.data_type(), true)),
            Arc::new(Field::new("r", right.data_type(), true)),
        ];
        let operator = arrow_kernel(op, &left, &right).and_then(|value| value.into_array(rows));
        let called = function
            .invoke_with_args(ScalarFunctionArgs {
                args: vec![left, right],
                arg_fields,
                number_rows: rows,
                return_field: field,
                config_options: Arc::default(),
            })
            .and_then(|value| value.into_array(rows));
        (operator, called)
    }

    fn decimals(values: &[Option<i128>], precision: u8, scale: i8) -> ColumnarValue {
        let array = Decimal128Array::from(values.to_vec())
            .with_precision_and_scale(precision, scale)
            .unwrap();
        ColumnarValue::Array(Arc::new(array))
    }

    fn scalar(value: i128, precision: u8, scale: i8) -> ColumnarValue {
        ColumnarValue::Scalar(ScalarValue::Decimal128(Some(value), precision, scale))
    }

    #[test]
    fn results_equal_the_operators_in_and_beyond_64_bits() {
        let near_i64 = i128::from(i64::MAX) / 3;
        let cases = [
            // Money columns, a rescaled scalar on either side, nulls.
            (
                decimals(&[Some(12_345), None, Some(-99_999_999), Some(0)], 15, 2),
                decimals(&[Some(7), Some(3), None, Some(-100)], 15, 2),
            ),
            (
                scalar(1, 20, 0),
                decimals(&[Some(5), Some(10), None, Some(-3)], 15, 2),
            ),
            (
                decimals(&[Some(5), Some(10), None, Some(-3)], 15, 2),
                scalar(100, 20, 0),
            ),
            // Values whose sums and products overflow i64: arrow's kernels answer.
            (
                decimals(&[Some(near_i64), Some(-near_i64), Some(1)], 38, 0),
                decimals(&[Some(near_i64), Some(near_i64), Some(2)], 38, 3),
            ),
            (
                decimals(&[Some(i128::from(i64::MAX)), Some(1)], 38, 0),
                decimals(&[Some(i128::from(i64::MAX)), Some(2)], 38, 0),
            ),
            // Products that overflow i128: both fail.
            (
                decimals(&[Some(10_i128.pow(37))], 38, 0),
                decimals(&[Some(10_i128.pow(37))], 38, 0),
            ),
        ];
        for (left, right) in cases {
            for op in [Operator::Plus, Operator::Minus, Operator::Multiply] {
                let (operator, function) = both(op, left.clone(), right.clone());
                match (operator, function) {
                    (Ok(expected), Ok(got)) => {
                        assert_eq!(got.to_data(), expected.to_data(), "{left:?} {op} {right:?}")
                    }
                    (Err(_), Err(_)) => {}
                    (expected, got) => panic!("{left:?} {op} {right:?}: {expected:?} / {got:?}"),
                }
            }
        }
    }

    #[test]
    fn only_batches_that_fit_run_in_64_bits() {
        let small = decimals(&[Some(1), Some(-2)], 15, 2);
        let large = decimals(&[Some(i128::from(i64::MAX)), Some(2)], 38, 2);
        let result = DataType::Decimal128(38, 4);
        assert!(in_i64(Operator::Multiply, &small, &small, &result).is_some());
        assert!(in_i64(Operator::Multiply, &small, &large, &result).is_none());
        assert!(in_i64(Operator::Plus, &small, &large, &result).is_none());
        // A rescale beyond 18 digits never fits.
        let coarse = decimals(&[Some(1)], 38, 0);
        let fine = decimals(&[Some(1)], 38, 20);
        assert!(in_i64(Operator::Plus, &coarse, &fine, &result).is_none());
    }

    #[tokio::test]
    async fn a_query_keeps_its_names_types_and_values() {
        let ctx = SessionContext::new();
        ctx.add_optimizer_rule(Arc::new(NarrowDecimalArithmetic));
        let schema = Arc::new(Schema::new(vec![
            Field::new("price", DataType::Decimal128(15, 2), true),
            Field::new("discount", DataType::Decimal128(15, 2), true),
        ]));
        let price = Decimal128Array::from(vec![Some(100_000), Some(25_050), None])
            .with_precision_and_scale(15, 2)
            .unwrap();
        let discount = Decimal128Array::from(vec![Some(5), Some(10), Some(7)])
            .with_precision_and_scale(15, 2)
            .unwrap();
        let batch =
            RecordBatch::try_new(schema, vec![Arc::new(price), Arc::new(discount)]).unwrap();
        ctx.register_batch("t", batch).unwrap();
        let sql = "SELECT sum(price * (1 - discount)), price - discount FROM t \
                   GROUP BY price - discount ORDER BY 2";
        let plain = SessionContext::new();
        plain
            .register_table("t", ctx.table_provider("t").await.unwrap())
            .unwrap();
        let narrowed = ctx.sql(sql).await.unwrap();
        let plan = format!("{:?}", narrowed.clone().into_optimized_plan().unwrap());
        assert!(plan.contains("ember_decimal_multiply"), "{plan}");
        let expected = plain.sql(sql).await.unwrap().collect().await.unwrap();
        let got = narrowed.collect().await.unwrap();
        assert_eq!(got, expected);
    }
}
