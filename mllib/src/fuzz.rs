//! Mutation fuzzing of what ML functions decode from outside the process: the models and steps
//! that ride in plans as bytes (a plan can come from any client of a cluster) and the partial
//! states that cross between tasks. Each case runs a real query; it may fail with an error, never
//! panic, abort or allocate from a count it read ([`CappedAllocator`] turns such an allocation
//! into an abort of the test binary, naming its size).

use std::alloc::{GlobalAlloc, Layout, System};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BinaryArray};
use datafusion::arrow::compute::{cast, concat_batches};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Schema};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::ScalarValue;
use datafusion::dataframe::DataFrame;
use datafusion::error::Result as DataFusionResult;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::logical_expr::{
    AggregateUDF, ColumnarValue, Expr, LogicalPlan, ScalarFunctionArgs, ScalarUDF,
};
use datafusion::physical_expr::expressions::{Column, Literal};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::prelude::{col, lit};

use crate::codec::{decode_f64s, encode_f64s};
use crate::random::SplitMix64;

/// The most one allocation of an mllib test may ask for. Nothing a unit test does needs a
/// gigabyte at once; a decoder that sizes a buffer from a count it read does.
const ALLOCATION_CAP: usize = 1 << 30;

/// The system allocator, refusing any allocation over [`ALLOCATION_CAP`] (the test binary then
/// aborts with "memory allocation of N bytes failed" instead of swapping or being killed).
pub(crate) struct CappedAllocator;

// SAFETY: every call is passed to `System` unchanged, or answered with null, which
// `GlobalAlloc` allows for any allocation that cannot be satisfied.
unsafe impl GlobalAlloc for CappedAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > ALLOCATION_CAP {
            return std::ptr::null_mut();
        }
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > ALLOCATION_CAP {
            return std::ptr::null_mut();
        }
        System.alloc_zeroed(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > ALLOCATION_CAP {
            return std::ptr::null_mut();
        }
        System.realloc(ptr, layout, new_size)
    }
}

/// Values a mutation writes over a decoded value: counts, sizes and codes at and beyond every
/// limit a decoder could forget.
const EDGE_VALUES: [f64; 22] = [
    0.0,
    -0.0,
    1.0,
    -1.0,
    2.0,
    3.0,
    0.5,
    7.0,
    255.0,
    256.0,
    65_536.0,
    1e9,
    4_503_599_627_370_496.0,
    9_007_199_254_740_993.0,
    9.223_372_036_854_776e18,
    1.844_674_407_370_955_2e19,
    1e300,
    -1e300,
    f64::MAX,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::NAN,
];

/// Seeded mutations of values and bytes.
pub(crate) struct Mutator(SplitMix64);

impl Mutator {
    /// A mutator whose cases are fixed by `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        Self(SplitMix64::new(seed))
    }

    /// A uniform index below `n` (which must be positive).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.0.next_u64() % n as u64) as usize
    }

    /// One of the edge values.
    pub(crate) fn edge(&mut self) -> f64 {
        EDGE_VALUES[self.below(EDGE_VALUES.len())]
    }

    /// `seed` with one to three edits: a value overwritten by an edge value or a random one, a
    /// cut, a value inserted, a run repeated or two values swapped. Half the edits fall on a
    /// value that looks like a count (a small whole number), where decoders read sizes.
    pub(crate) fn values(&mut self, seed: &[f64]) -> Vec<f64> {
        let mut values = seed.to_vec();
        for _ in 0..=self.below(3) {
            let counts: Vec<usize> = (values.iter().enumerate())
                .filter(|(_, value)| value.fract() == 0.0 && (0.0..=1e6).contains(*value))
                .map(|(at, _)| at)
                .collect();
            let at = if !counts.is_empty() && self.below(2) == 0 {
                counts[self.below(counts.len())]
            } else {
                self.below(values.len() + 1)
            };
            match self.below(6) {
                0 | 1 if at < values.len() => values[at] = self.edge(),
                2 if at < values.len() => values[at] = (self.0.next_f64() - 0.5) * 1e6,
                3 => values.truncate(at),
                4 => values.insert(at, self.edge()),
                _ if !values.is_empty() => {
                    let (other, last) = (self.below(values.len()), values.len() - 1);
                    let (from, to) = (at.min(other), at.max(other));
                    if self.below(2) == 0 {
                        values.swap(from, to.min(last));
                    } else {
                        let run = values[from..to].to_vec();
                        values.splice(to..to, run);
                    }
                }
                _ => values.push(self.0.next_f64()),
            }
        }
        values
    }

    /// `seed` with one to three byte edits: a byte flipped, set to 0 or 0xFF, cut or inserted.
    pub(crate) fn bytes(&mut self, seed: &[u8]) -> Vec<u8> {
        let mut bytes = seed.to_vec();
        for _ in 0..=self.below(3) {
            let at = self.below(bytes.len() + 1);
            match self.below(5) {
                0 if at < bytes.len() => bytes[at] ^= 1 << self.below(8),
                1 if at < bytes.len() => bytes[at] = 0,
                2 if at < bytes.len() => bytes[at] = 0xFF,
                3 => bytes.truncate(at),
                _ => bytes.insert(at, self.0.next_u64() as u8),
            }
        }
        bytes
    }

    /// Encoded `f64` parameters mutated as values (mostly) or as bytes.
    pub(crate) fn params(&mut self, seed: &[u8]) -> Vec<u8> {
        match decode_f64s(seed) {
            Ok(values) if self.below(4) != 0 => encode_f64s(&self.values(&values)),
            _ => self.bytes(seed),
        }
    }

    /// `arguments` less one, or with one of them twice, now and then; otherwise unchanged.
    fn arguments<T: Clone>(&mut self, arguments: &[T]) -> Vec<T> {
        let mut arguments = arguments.to_vec();
        match self.below(8) {
            0 => {
                arguments.pop();
            }
            1 if !arguments.is_empty() => arguments.push(arguments[0].clone()),
            _ => {}
        }
        arguments
    }
}

/// A call of an ML function found in a plan: the function, its parameters' bytes and its other
/// arguments.
#[derive(Debug, Clone)]
pub(crate) struct ScoringCall {
    function: Arc<ScalarUDF>,
    params: Vec<u8>,
    arguments: Vec<Expr>,
}

/// Every call in `plan` of a function whose first argument is a binary literal (how every ML
/// scalar function carries its model).
pub(crate) fn scoring_calls(plan: &LogicalPlan) -> Vec<ScoringCall> {
    let mut calls = Vec::new();
    plan.apply(|node| {
        node.apply_expressions(|expr| {
            expr.apply(|expr| {
                if let Expr::ScalarFunction(ScalarFunction { func, args }) = expr {
                    if let Some((Expr::Literal(ScalarValue::Binary(Some(params)), _), rest)) =
                        args.split_first()
                    {
                        calls.push(ScoringCall {
                            function: Arc::clone(func),
                            params: params.clone(),
                            arguments: rest.to_vec(),
                        });
                    }
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    })
    .expect("walking a plan cannot fail");
    calls
}

/// Fails the test, naming `case`, when `run` panics rather than returning; whatever it returns,
/// an error included, is an acceptable answer to bad bytes.
fn survives<T>(case: impl FnOnce() -> String, run: impl FnOnce() -> T) {
    if catch_unwind(AssertUnwindSafe(run)).is_err() {
        panic!("{} panicked", case());
    }
}

/// The values of `exprs` over `data`, as arrays of the types `coerced` gives (the types a
/// function's planning would cast its arguments to; the arrays' own when it gives none).
async fn argument_arrays(
    data: &DataFrame,
    exprs: &[Expr],
    coerced: impl Fn(&[DataType]) -> DataFusionResult<Vec<DataType>>,
) -> Vec<ArrayRef> {
    let aliased: Vec<Expr> = (exprs.iter().enumerate())
        .map(|(index, expr)| expr.clone().alias(format!("argument_{index}")))
        .collect();
    let frame = data.clone().select(aliased).unwrap();
    let schema = Arc::new(frame.schema().as_arrow().clone());
    let batch = concat_batches(&schema, &frame.collect().await.unwrap()).unwrap();
    let types: Vec<DataType> = (batch.columns().iter())
        .map(|column| column.data_type().clone())
        .collect();
    let types = coerced(&[[DataType::Binary].as_slice(), &types].concat())
        .map(|types| types[1..].to_vec())
        .unwrap_or(types);
    (batch.columns().iter().zip(&types))
        .map(|(column, to)| cast(column, to).unwrap())
        .collect()
}

/// A nullable field of `data_type`, for the arguments of a direct call.
fn field(name: &str, data_type: &DataType) -> FieldRef {
    Arc::new(Field::new(name, data_type.clone(), true))
}

/// Calls `call` with `cases` mutations of its parameters (and now and then one argument less or
/// more) over the rows of `data`: each must return values or an error, never panic. The
/// unmutated call must succeed as a query, so the mutations start from a valid model.
pub(crate) async fn fuzz_scoring(data: &DataFrame, call: &ScoringCall, cases: usize, seed: u64) {
    let function = &call.function;
    let name = function.name().to_string();
    let mut args = vec![lit(ScalarValue::Binary(Some(call.params.clone())))];
    args.extend(call.arguments.clone());
    data.clone()
        .select(vec![function.call(args)])
        .unwrap()
        .collect()
        .await
        .unwrap_or_else(|error| panic!("{name} fails on its unmutated model: {error}"));
    let arrays = argument_arrays(data, &call.arguments, |types| function.coerce_types(types)).await;
    let rows = arrays.first().map_or(0, |array| array.len());
    let mut mutator = Mutator::new(seed);
    for case in 0..cases {
        let params = mutator.params(&call.params);
        let mut args = vec![ColumnarValue::Scalar(ScalarValue::Binary(Some(
            params.clone(),
        )))];
        args.extend(
            mutator
                .arguments(&arrays)
                .into_iter()
                .map(ColumnarValue::Array),
        );
        let types: Vec<DataType> = args.iter().map(ColumnarValue::data_type).collect();
        let return_type = function.return_type(&types).unwrap_or(DataType::Float64);
        let call_args = ScalarFunctionArgs {
            arg_fields: types.iter().map(|t| field("argument", t)).collect(),
            args,
            number_rows: rows,
            return_field: field("output", &return_type),
            config_options: Arc::new(ConfigOptions::default()),
        };
        let case = || format!("{name} case {case}: params {:?}", as_values(&params));
        survives(case, || function.invoke_with_args(call_args));
    }
}

/// `params` as the values they encode, or as bytes when they are not whole values.
fn as_values(params: &[u8]) -> Result<Vec<f64>, Vec<u8>> {
    decode_f64s(params).map_err(|_| params.to_vec())
}

/// Runs the aggregate step `function` with `cases` mutations of its valid `params` over the
/// columns `features` of `data`, as two partial aggregations whose states are (now and then
/// mutated, then) merged into a final one: each must return its state or an error, never
/// panic. The unmutated parameters must succeed as a query.
pub(crate) async fn fuzz_step(
    data: &DataFrame,
    function: &AggregateUDF,
    params: &[f64],
    features: &[&str],
    cases: usize,
    seed: u64,
) {
    let name = function.name().to_string();
    let columns: Vec<Expr> = features.iter().map(|feature| col(*feature)).collect();
    let mut args = vec![lit(ScalarValue::Binary(Some(encode_f64s(params))))];
    args.extend(columns.clone());
    data.clone()
        .aggregate(vec![], vec![function.call(args)])
        .unwrap()
        .collect()
        .await
        .unwrap_or_else(|error| panic!("{name} fails on its unmutated parameters: {error}"));
    let arrays = argument_arrays(data, &columns, |types| function.coerce_types(types)).await;
    let mut mutator = Mutator::new(seed);
    for case in 0..cases {
        let params = mutator.params(&encode_f64s(params));
        let arrays = mutator.arguments(&arrays);
        let mutate_state = mutator.below(4) == 0;
        let mut state_mutator = Mutator::new(seed ^ case as u64);
        let description = || format!("{name} case {case}: params {:?}", as_values(&params));
        survives(description, || {
            aggregate_directly(function, &params, &arrays, |state| {
                if mutate_state {
                    state_mutator.bytes(state)
                } else {
                    state.to_vec()
                }
            })
        });
    }
}

/// `function` called with `params` over `arrays` directly: two accumulators read half the rows
/// each, and a third merges their states (each passed through `state`) and evaluates.
fn aggregate_directly(
    function: &AggregateUDF,
    params: &[u8],
    arrays: &[ArrayRef],
    mut state: impl FnMut(&[u8]) -> Vec<u8>,
) -> DataFusionResult<ScalarValue> {
    let fields: Vec<FieldRef> = std::iter::once(field("params", &DataType::Binary))
        .chain(
            arrays
                .iter()
                .map(|array| field("feature", array.data_type())),
        )
        .collect();
    let schema = Schema::new(fields.clone());
    let exprs: Vec<Arc<dyn PhysicalExpr>> = std::iter::once(Arc::new(Literal::new(
        ScalarValue::Binary(Some(params.to_vec())),
    )) as Arc<dyn PhysicalExpr>)
    .chain((1..fields.len()).map(|index| Arc::new(Column::new("feature", index)) as _))
    .collect();
    let accumulator = || {
        function.accumulator(AccumulatorArgs {
            return_field: field("state", &DataType::Binary),
            schema: &schema,
            ignore_nulls: false,
            order_bys: &[],
            is_reversed: false,
            name: "fuzzed",
            is_distinct: false,
            exprs: &exprs,
            expr_fields: &fields,
        })
    };
    let rows = arrays.first().map_or(0, |array| array.len());
    let mut states = Vec::new();
    for range in [0..rows / 2, rows / 2..rows] {
        let mut partial = accumulator()?;
        let mut values: Vec<ArrayRef> = vec![Arc::new(BinaryArray::from_iter_values(
            std::iter::repeat_n(params, range.len()),
        ))];
        values.extend(
            arrays
                .iter()
                .map(|array| array.slice(range.start, range.len())),
        );
        partial.update_batch(&values)?;
        for value in partial.state()? {
            if let ScalarValue::Binary(Some(bytes)) = value {
                states.push(state(&bytes));
            }
        }
    }
    let mut last = accumulator()?;
    let states: ArrayRef = Arc::new(BinaryArray::from_iter_values(states));
    last.merge_batch(&[states])?;
    last.evaluate()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::estimator::Estimator;
    use crate::functions::aggregate_functions;
    use crate::model::{AnyModel, FittedModel};
    use crate::persist::{arrays, save_model, sha256_hex, ModelMetadata};
    use crate::test_frames::{points_frame, rows_frame};
    use crate::{
        GradientBoostedTrees, Imputer, KMeans, LinearRegression, LogisticRegression, MinMaxScaler,
        OneHotEncoder, QuantileDiscretizer, RandomForest, StandardScaler,
    };
    use datafusion::arrow::datatypes::DataType;
    use datafusion::prelude::{cast, SessionContext};
    use futures::FutureExt;
    use serde_json::Value;

    /// Calls per function: enough to reach every count a decoder reads, few enough for seconds.
    const CASES: usize = 2000;
    /// Loads per saved model, each a query.
    const SAVED_CASES: usize = 40;

    #[test]
    fn mutations_are_fixed_by_their_seed_and_change_their_input() {
        let seed = [1.0, 2.0, 3.0, 4.0];
        let (mut a, mut b) = (Mutator::new(3), Mutator::new(3));
        let changed = (0..100)
            .filter(|_| {
                let mutated = a.values(&seed);
                assert_eq!(b.values(&seed).len(), mutated.len());
                mutated.len() != seed.len()
                    || mutated
                        .iter()
                        .zip(&seed)
                        .any(|(x, y)| x.to_bits() != y.to_bits())
            })
            .count();
        assert!(
            changed > 80,
            "{changed} of 100 mutations changed the values"
        );
    }

    /// Data with features `x0` (a tenth missing), `x1`, `noise` and a three-class `label` (of
    /// `x0` and `x1`).
    fn three_classes() -> DataFrame {
        points_frame(300, |x0, x1| {
            f64::from(u8::from(x0 + x1 > 100.0)) + f64::from(u8::from(x1 > 80.0))
        })
    }

    /// One fitted model of every kind that scores with its own ML function, on `data`.
    async fn fitted_models(data: &DataFrame) -> Vec<Box<dyn AnyModel>> {
        let binary = data
            .clone()
            .with_column("binary", cast(col("label").gt(lit(0.5)), DataType::Float64))
            .unwrap();
        // `x0` has missing values, which trees take and the other estimators refuse.
        let features = ["x1", "noise"];
        let small = |boosting: GradientBoostedTrees| boosting.num_trees(3).max_depth(3);
        vec![
            Box::new(KMeans::new(features).k(3).fit(data).await.unwrap()),
            Box::new(
                LogisticRegression::new(features)
                    .label("binary")
                    .fit(&binary)
                    .await
                    .unwrap(),
            ),
            Box::new(
                LogisticRegression::new(features)
                    .label("label")
                    .fit(data)
                    .await
                    .unwrap(),
            ),
            Box::new(
                LinearRegression::new(features)
                    .label("label")
                    .fit(data)
                    .await
                    .unwrap(),
            ),
            Box::new(
                small(GradientBoostedTrees::classifier(features))
                    .fit(data)
                    .await
                    .unwrap(),
            ),
            Box::new(
                small(GradientBoostedTrees::regressor(features))
                    .fit(data)
                    .await
                    .unwrap(),
            ),
            Box::new(
                RandomForest::classifier(features)
                    .num_trees(3)
                    .max_depth(3)
                    .fit(data)
                    .await
                    .unwrap(),
            ),
            Box::new(
                QuantileDiscretizer::new(["x1"])
                    .num_buckets(4)
                    .fit(data)
                    .await
                    .unwrap(),
            ),
            Box::new(OneHotEncoder::new(["label"]).fit(data).await.unwrap()),
            Box::new(StandardScaler::new(features).fit(data).await.unwrap()),
            Box::new(MinMaxScaler::new(features).fit(data).await.unwrap()),
            Box::new(Imputer::new(features).fit(data).await.unwrap()),
        ]
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn scoring_functions_fail_cleanly_on_mutated_models() {
        let data = three_classes();
        let models = fitted_models(&data).await;
        let mut seen = Vec::new();
        for (index, model) in models.iter().enumerate() {
            let plan = model
                .transform(data.clone())
                .unwrap()
                .into_unoptimized_plan();
            let calls = scoring_calls(&plan);
            for call in &calls {
                seen.push(call.function.name().to_string());
                fuzz_scoring(&data, call, CASES, index as u64).await;
            }
        }
        seen.sort();
        seen.dedup();
        assert!(seen.len() >= 7, "{seen:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fitting_steps_fail_cleanly_on_mutated_parameters() {
        let rows: Vec<Vec<Option<f64>>> = (0..40)
            .map(|i| {
                let i = f64::from(i);
                let x = if i % 9.0 == 0.0 { None } else { Some(i * 2.5) };
                let flag = f64::from(u8::from(i > 19.0));
                vec![
                    x,
                    Some(100.0 - i),
                    Some(i % 3.0),
                    Some(flag),
                    Some(i / 40.0),
                ]
            })
            .collect();
        let data = rows_frame(&["a", "b", "class", "flag", "p"], &rows, 2);
        // The parameters of each step as its estimator writes them (see each step's `decode`).
        let steps: [(&str, Vec<f64>, &[&str]); 10] = [
            (
                "ml_kmeans_step",
                vec![2.0, 0.0, 0.0, 50.0, 50.0],
                &["a", "b"],
            ),
            (
                "ml_kmeans_sample",
                vec![0.25, 1.0, 4.0, 2.0, 2.0, 0.0, 0.0, 50.0, 50.0],
                &["a", "b"],
            ),
            (
                "ml_logistic_loss",
                vec![0.0, 1.0, 2.0, 0.1, -0.2, 0.3],
                &["a", "b", "flag"],
            ),
            ("ml_gram", vec![2.0], &["a", "b", "class"]),
            (
                "ml_cluster_stats",
                vec![2.0, 0.0, 0.0, 50.0, 50.0],
                &["a", "b"],
            ),
            (
                "ml_silhouette",
                vec![
                    2.0, 10.0, 12.0, 1.0, 1.5, 2.0, 0.0, 0.0, 50.0, 50.0, 1.0, 1.0, 49.0, 49.0,
                ],
                &["a", "b"],
            ),
            ("ml_regression_metrics", vec![], &["a", "b"]),
            ("ml_binary_metrics", vec![], &["flag", "p", "flag"]),
            ("ml_confusion", vec![3.0], &["class", "class"]),
            ("ml_quantile_sketch", vec![200.0], &["a"]),
        ];
        let functions = aggregate_functions();
        for (index, (name, params, features)) in steps.iter().enumerate() {
            let function = functions
                .iter()
                .find(|function| function.name() == *name)
                .unwrap_or_else(|| panic!("no aggregate function {name}"));
            fuzz_step(&data, function, params, features, CASES, index as u64).await;
        }
    }

    /// Every number in the JSON tree `value`.
    fn numbers(value: &mut Value) -> Vec<&mut Value> {
        match value {
            Value::Number(_) => vec![value],
            Value::Array(items) => items.iter_mut().flat_map(numbers).collect(),
            Value::Object(fields) => fields.values_mut().flat_map(numbers).collect(),
            _ => Vec::new(),
        }
    }

    /// A saved model's `metadata` and `data` with one patch: a number of the metadata replaced
    /// by an edge value, or an array's values mutated with the checksum written to match (as a
    /// deliberate patch would), or bytes of the data file mutated.
    fn patch(mutator: &mut Mutator, metadata: &[u8], data: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let mut parsed: ModelMetadata = serde_json::from_slice(metadata).unwrap();
        match mutator.below(3) {
            0 => {
                let mut tree = serde_json::to_value(&parsed).unwrap();
                let mut leaves = numbers(&mut tree);
                if !leaves.is_empty() {
                    let edge = mutator.edge();
                    let at = mutator.below(leaves.len());
                    *leaves[at] = if edge.fract() == 0.0 && edge.abs() < 9e18 {
                        Value::from(edge as i64)
                    } else {
                        Value::from(edge)
                    };
                }
                (serde_json::to_vec(&tree).unwrap(), data.to_vec())
            }
            1 => {
                let arrays = arrays::decode(data.to_vec()).unwrap();
                let mut arrays: Vec<(&str, Vec<f64>)> = arrays
                    .iter()
                    .map(|(name, values)| (name.as_str(), values.clone()))
                    .collect();
                if !arrays.is_empty() {
                    let at = mutator.below(arrays.len());
                    arrays[at].1 = mutator.values(&arrays[at].1);
                }
                let data = arrays::encode(&arrays).unwrap();
                parsed.data_sha256 = Some(sha256_hex(&data));
                (serde_json::to_vec(&parsed).unwrap(), data)
            }
            _ => (metadata.to_vec(), mutator.bytes(data)),
        }
    }

    /// Saved models of every kind with patched files: each loads and scores, or fails with an
    /// error, never panics or aborts.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn saved_models_with_patched_files_load_or_fail_cleanly() {
        let data = three_classes();
        let context = SessionContext::new();
        let dir = std::env::temp_dir().join(format!("ember-fuzz-saved-{}", std::process::id()));
        let mut mutator = Mutator::new(5);
        for (index, model) in fitted_models(&data).await.iter().enumerate() {
            let location = dir.join(index.to_string());
            let location_text = location.display().to_string();
            save_model(&context, model.as_ref(), &location_text, false)
                .await
                .unwrap();
            let (metadata_path, data_path) =
                (location.join("metadata.json"), location.join("data.arrow"));
            let metadata = std::fs::read(&metadata_path).unwrap();
            let arrays = std::fs::read(&data_path).unwrap();
            for case in 0..SAVED_CASES {
                let (metadata, arrays) = patch(&mut mutator, &metadata, &arrays);
                std::fs::write(&metadata_path, metadata).unwrap();
                std::fs::write(&data_path, arrays).unwrap();
                let run = async {
                    let Ok(loaded) = FittedModel::load(&context, &location_text).await else {
                        return;
                    };
                    if let Ok(scored) = loaded.transform(data.clone()) {
                        let _ = scored.collect().await;
                    }
                };
                if AssertUnwindSafe(run).catch_unwind().await.is_err() {
                    panic!("{} case {case} panicked", model.model_type());
                }
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
