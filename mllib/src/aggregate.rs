//! The distributed aggregate every fit is made of.
//!
//! A training step is a [`PartialAggregate`]: what one partition computes from its rows (a flat
//! `f64` vector: sums, counts, a sample...) and how two such partials merge. [`PartialAggregateUdaf`]
//! turns it into a DataFusion aggregate function, `name(params, feature_1, ..., feature_n)`, whose
//! first argument is the step's parameters (the model state it needs, e.g. the current centroids)
//! as a `Binary` literal, so the plan is self-contained and crosses the wire to executors unchanged.
//! [`run`] builds that query over a DataFrame and returns the merged result.
//!
//! Every step also counts rows and rows with a null or NaN feature; kernels only see valid rows.
//!
//! Determinism: floating-point addition depends on order, and partitions reach the final merge in
//! whatever order they finish. So the final stage keeps every partition's partial and merges them
//! in a canonical order (sorted by value), which makes a fit's result depend on the data and its
//! partitioning only, not on timing.

use std::fmt::Debug;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BinaryArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::cast::{as_binary_array, as_float64_array};
use datafusion::common::{exec_err, internal_datafusion_err, plan_err, ScalarValue};
use datafusion::dataframe::DataFrame;
use datafusion::error::Result as DataFusionResult;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{lit, Accumulator, AggregateUDF, AggregateUDFImpl, Expr, Signature};

use crate::codec::{count_within, decode_f64s, encode_f64s};
use crate::error::Result;
use crate::features::ValidFeatures;
use crate::udf::{coerce_params_and_features, literal_params, TypedFunction};
use rayon::prelude::*;

/// One distributed training step: the partial state of a partition and how partials merge.
///
/// Implementations are plain values decoded from the step's parameters; they must be pure, so
/// that any executor computes the same partial from the same rows.
pub trait PartialAggregate: Debug + Send + Sync + Sized + 'static {
    /// The aggregate function's name in plans (`ml_...`).
    const NAME: &'static str;

    /// Decodes the step from its parameters, as [`PartialAggregate::encode`] wrote them.
    fn decode(params: &[f64]) -> DataFusionResult<Self>;

    /// The step's parameters, to ride in the plan.
    fn encode(&self) -> Vec<f64>;

    /// Whether a NaN feature in a row always makes [`PartialAggregate::update`]'s partial hold a
    /// NaN (sums over rows do: a NaN reaches a sum). Such steps skip the scan for NaN on every
    /// batch without nulls: the batch is computed on as it is, and only when its partial shows a
    /// NaN is it computed again over its valid rows. The scan reads all the data once more,
    /// which costs a fit as much as a sixth of its time.
    const NAN_SHOWS_IN_PARTIAL: bool = false;

    /// How many feature columns the step expects.
    fn features(&self) -> usize;

    /// The partial state before any row.
    fn empty(&self) -> Vec<f64>;

    /// Adds a batch of valid rows (one slice per feature, equal lengths) to `partial`.
    fn update(&self, features: &[&[f64]], partial: &mut Vec<f64>);

    /// Merges `other` into `into`. The default adds element by element.
    fn merge(&self, into: &mut Vec<f64>, other: &[f64]) {
        for (sum, value) in into.iter_mut().zip(other) {
            *sum += value;
        }
    }
}

/// Rows per parallel chunk; fixed, so that sums do not depend on the thread count.
const CHUNK: usize = 4096;

/// Sums `chunk_partial` over fixed-size chunks of the rows in parallel, adding the chunks'
/// partials into `partial` in order (so the result does not depend on scheduling).
pub(crate) fn add_in_chunks(
    features: &[&[f64]],
    partial: &mut [f64],
    chunk_partial: impl Fn(&[&[f64]]) -> Vec<f64> + Sync,
) {
    let rows = features.first().map_or(0, |column| column.len());
    let chunks: Vec<Vec<f64>> = (0..rows.div_ceil(CHUNK))
        .into_par_iter()
        .map(|chunk| {
            let range = chunk * CHUNK..rows.min((chunk + 1) * CHUNK);
            let columns: Vec<&[f64]> = features.iter().map(|c| &c[range.clone()]).collect();
            chunk_partial(&columns)
        })
        .collect();
    for chunk in chunks {
        for (sum, value) in partial.iter_mut().zip(chunk) {
            *sum += value;
        }
    }
}

/// A step's state over some rows: over a whole DataFrame once merged.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregated {
    /// Rows read.
    pub rows: u64,
    /// Rows skipped because a feature was null or NaN.
    pub invalid_rows: u64,
    /// The merged partial state.
    pub value: Vec<f64>,
}

impl Aggregated {
    /// Rows whose features were all valid.
    pub fn valid_rows(&self) -> u64 {
        self.rows - self.invalid_rows
    }
}

/// Runs `step` over `features` (`Float64` expressions over `data`) as one aggregate query and
/// returns the merged state.
pub async fn run<T: PartialAggregate>(
    data: &DataFrame,
    step: &T,
    features: Vec<Expr>,
) -> Result<Aggregated> {
    let mut merged = run_each(data, vec![(step, features)]).await?;
    merged
        .pop()
        .ok_or_else(|| internal_datafusion_err!("{} returned no state", T::NAME).into())
}

/// Runs each step over its own features in one aggregate query (one pass over `data`), and
/// returns their merged states in order. Each step skips only the rows where *its* features are
/// null or NaN.
pub(crate) async fn run_each<T: PartialAggregate>(
    data: &DataFrame,
    steps: Vec<(&T, Vec<Expr>)>,
) -> Result<Vec<Aggregated>> {
    if steps.is_empty() {
        return Ok(Vec::new());
    }
    let calls: Vec<Expr> = steps
        .into_iter()
        .enumerate()
        .map(|(index, (step, features))| call(step, features).alias(format!("state_{index}")))
        .collect();
    let count = calls.len();
    let batches = data.clone().aggregate(vec![], calls)?.collect().await?;
    let batch = batches
        .iter()
        .find(|batch| batch.num_rows() > 0)
        .ok_or_else(|| internal_datafusion_err!("{} returned no row", T::NAME))?;
    (0..count)
        .map(|index| {
            let merged = as_binary_array(batch.column(index))?;
            let mut partials = decode_partials(merged.value(0))?;
            match (partials.pop(), partials.is_empty()) {
                (Some(merged), true) => Ok(merged),
                _ => Err(
                    internal_datafusion_err!("{} returned other than one state", T::NAME).into(),
                ),
            }
        })
        .collect()
}

/// The call `T::NAME(params, features...)` of `step` over `features`.
fn call<T: PartialAggregate>(step: &T, features: Vec<Expr>) -> Expr {
    // A dictionary-encoded literal: aggregates expand literal arguments to one value per row,
    // which for a binary value of kilobytes (the centroids) cost more than the step itself; a
    // dictionary expands to one key per row. The accumulator reads the parameters from the plan,
    // not from the rows.
    let params = ScalarValue::Dictionary(
        Box::new(DataType::Int32),
        Box::new(ScalarValue::Binary(Some(encode_f64s(&step.encode())))),
    );
    let mut args = vec![lit(params)];
    args.extend(features);
    AggregateUDF::from(PartialAggregateUdaf::<T>::new()).call(args)
}

/// A [`PartialAggregate`] as a DataFusion aggregate function: `T::NAME(params, features...)`
/// returning the merged state as `Binary` (see the module docs).
pub type PartialAggregateUdaf<T> = TypedFunction<T>;

impl<T: PartialAggregate> AggregateUDFImpl for TypedFunction<T> {
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
        Ok(DataType::Binary)
    }

    fn state_fields(&self, args: StateFieldsArgs) -> DataFusionResult<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format!("{}[partials]", args.name),
            DataType::Binary,
            true,
        ))])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> DataFusionResult<Box<dyn Accumulator>> {
        let params = literal_params(T::NAME, args.exprs.first())?;
        let step = T::decode(&params)?;
        let features = args.exprs.len() - 1;
        if features != step.features() {
            return plan_err!(
                "{} expects {} feature columns, got {features}",
                T::NAME,
                step.features()
            );
        }
        Ok(Box::new(PartialAccumulator {
            step,
            own: None,
            received: Vec::new(),
        }))
    }
}

/// One partition's (or the final stage's) state of a [`PartialAggregateUdaf`].
#[derive(Debug)]
struct PartialAccumulator<T> {
    step: T,
    /// The partial of the rows this accumulator read itself.
    own: Option<Aggregated>,
    /// Partials of other partitions, merged only in `evaluate`.
    received: Vec<Aggregated>,
}

impl<T: PartialAggregate> Accumulator for PartialAccumulator<T> {
    fn update_batch(&mut self, values: &[ArrayRef]) -> DataFusionResult<()> {
        let step = &self.step;
        let own = self.own.get_or_insert_with(|| Aggregated {
            rows: 0,
            invalid_rows: 0,
            value: step.empty(),
        });
        let arrays = &values[1..];
        if T::NAN_SHOWS_IN_PARTIAL && arrays.iter().all(|array| array.null_count() == 0) {
            let columns = arrays
                .iter()
                .map(|array| Ok(as_float64_array(array)?.values().as_ref()))
                .collect::<DataFusionResult<Vec<&[f64]>>>()?;
            let mut partial = step.empty();
            step.update(&columns, &mut partial);
            if !partial.iter().any(|value| value.is_nan()) {
                own.rows += columns.first().map_or(0, |column| column.len()) as u64;
                step.merge(&mut own.value, &partial);
                return Ok(());
            }
        }
        let features = ValidFeatures::new(arrays)?;
        own.rows += features.rows() as u64;
        own.invalid_rows += features.invalid_rows() as u64;
        step.update(&features.slices(), &mut own.value);
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> DataFusionResult<()> {
        let states: &BinaryArray = as_binary_array(&states[0])?;
        for state in states.iter().flatten() {
            self.received.extend(decode_partials(state)?);
        }
        Ok(())
    }

    fn state(&mut self) -> DataFusionResult<Vec<ScalarValue>> {
        let partials = self.own.iter().chain(&self.received);
        Ok(vec![ScalarValue::Binary(Some(encode_partials(partials)))])
    }

    fn evaluate(&mut self) -> DataFusionResult<ScalarValue> {
        let mut partials: Vec<&Aggregated> = self.own.iter().chain(&self.received).collect();
        partials.sort_by(|a, b| {
            a.value
                .iter()
                .zip(&b.value)
                .map(|(x, y)| x.total_cmp(y))
                .find(|order| order.is_ne())
                .unwrap_or(a.value.len().cmp(&b.value.len()))
                .then(a.rows.cmp(&b.rows))
        });
        let mut merged = Aggregated {
            rows: 0,
            invalid_rows: 0,
            value: self.step.empty(),
        };
        for partial in partials {
            let (Some(rows), Some(invalid_rows)) = (
                merged.rows.checked_add(partial.rows),
                merged.invalid_rows.checked_add(partial.invalid_rows),
            ) else {
                return exec_err!("corrupt ML aggregate state: row counts past 2^64");
            };
            (merged.rows, merged.invalid_rows) = (rows, invalid_rows);
            self.step.merge(&mut merged.value, &partial.value);
        }
        Ok(ScalarValue::Binary(Some(encode_partials([&merged]))))
    }

    fn size(&self) -> usize {
        let values: usize = self
            .own
            .iter()
            .chain(&self.received)
            .map(|partial| partial.value.capacity())
            .sum();
        std::mem::size_of_val(self) + 8 * values
    }
}

/// Partials as one byte string: for each, its value count, rows, invalid rows, then its values.
fn encode_partials<'a>(partials: impl IntoIterator<Item = &'a Aggregated>) -> Vec<u8> {
    let mut encoded = Vec::new();
    for partial in partials {
        encoded.extend([
            partial.value.len() as f64,
            partial.rows as f64,
            partial.invalid_rows as f64,
        ]);
        encoded.extend_from_slice(&partial.value);
    }
    encode_f64s(&encoded)
}

/// The partials [`encode_partials`] wrote.
fn decode_partials(bytes: &[u8]) -> DataFusionResult<Vec<Aggregated>> {
    let values = decode_f64s(bytes)?;
    let mut partials = Vec::new();
    let mut rest = values.as_slice();
    while !rest.is_empty() {
        let [len, rows, invalid_rows, tail @ ..] = rest else {
            return exec_err!("corrupt ML aggregate state: a partial without its header");
        };
        let Some(len) = count_within(*len, tail.len()) else {
            return exec_err!("corrupt ML aggregate state: a partial of {len} values");
        };
        // Row counts are whole numbers below 2^53 (exact as f64), invalid rows among the rows.
        let (Some(rows), Some(invalid_rows)) = (
            count_within(*rows, 1 << 53),
            count_within(*invalid_rows, 1 << 53),
        ) else {
            return exec_err!("corrupt ML aggregate state: {rows} rows, {invalid_rows} invalid");
        };
        if invalid_rows > rows {
            return exec_err!("corrupt ML aggregate state: {invalid_rows} of {rows} rows invalid");
        }
        partials.push(Aggregated {
            rows: rows as u64,
            invalid_rows: invalid_rows as u64,
            value: tail[..len].to_vec(),
        });
        rest = &tail[len..];
    }
    Ok(partials)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_frames::two_partition_frame;
    use datafusion::prelude::{col, lit};

    /// Sums each feature and counts rows: enough to see partials merge. `SKIP_SCAN` sets
    /// [`PartialAggregate::NAN_SHOWS_IN_PARTIAL`].
    #[derive(Debug)]
    struct ColumnSums<const SKIP_SCAN: bool> {
        features: usize,
    }

    impl<const SKIP_SCAN: bool> PartialAggregate for ColumnSums<SKIP_SCAN> {
        const NAME: &'static str = "test_column_sums";
        const NAN_SHOWS_IN_PARTIAL: bool = SKIP_SCAN;

        fn decode(params: &[f64]) -> DataFusionResult<Self> {
            Ok(Self {
                features: params[0] as usize,
            })
        }

        fn encode(&self) -> Vec<f64> {
            vec![self.features as f64]
        }

        fn features(&self) -> usize {
            self.features
        }

        fn empty(&self) -> Vec<f64> {
            vec![0.0; self.features]
        }

        fn update(&self, features: &[&[f64]], partial: &mut Vec<f64>) {
            for (sum, column) in partial.iter_mut().zip(features) {
                *sum += column.iter().sum::<f64>();
            }
        }
    }

    #[tokio::test]
    async fn partials_of_two_partitions_merge_and_invalid_rows_are_counted() {
        let data = two_partition_frame();
        let features = || {
            vec![
                datafusion::logical_expr::cast(col("x"), DataType::Float64),
                datafusion::logical_expr::cast(col("n"), DataType::Float64),
            ]
        };
        let expected = Aggregated {
            rows: 6,
            invalid_rows: 2,
            value: vec![12.0, 4.0],
        };
        let scanned = run(&data, &ColumnSums::<false> { features: 2 }, features());
        assert_eq!(scanned.await.unwrap(), expected);
        // Without the NaN scan, the batch holding a NaN (and a null) is computed again.
        let optimistic = run(&data, &ColumnSums::<true> { features: 2 }, features());
        assert_eq!(optimistic.await.unwrap(), expected);
        let clean = data
            .filter(col("x").gt(lit(1.5)).and(col("x").lt(lit(100.0))))
            .unwrap();
        let clean_sums = run(&clean, &ColumnSums::<true> { features: 2 }, features());
        assert_eq!(
            clean_sums.await.unwrap(),
            Aggregated {
                rows: 3,
                invalid_rows: 0,
                value: vec![11.0, 3.0]
            }
        );
    }

    #[test]
    fn corrupt_states_are_an_error() {
        let bytes = encode_f64s(&[5.0, 1.0, 0.0, 2.0]);
        assert!(decode_partials(&bytes).is_err());
    }
}
