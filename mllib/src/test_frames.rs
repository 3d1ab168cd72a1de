//! Small in-memory DataFrames for unit tests.

use std::sync::Arc;

use datafusion::arrow::array::{Float64Array, Int32Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::dataframe::DataFrame;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

/// Columns `x` (Float64: 1, 2, null | NaN, 3, 6), `n` (Int32, all 1) and `s` (Utf8), in two
/// partitions, so statistics go through partial states and a merge.
pub(crate) fn two_partition_frame() -> DataFrame {
    let schema = Arc::new(Schema::new(vec![
        Field::new("x", DataType::Float64, true),
        Field::new("n", DataType::Int32, false),
        Field::new("s", DataType::Utf8, false),
    ]));
    let batch = |x: Vec<Option<f64>>, n: Vec<i32>| {
        let s = vec!["a"; n.len()];
        RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Float64Array::from(x)),
                Arc::new(Int32Array::from(n)),
                Arc::new(StringArray::from(s)),
            ],
        )
        .unwrap()
    };
    let first = batch(vec![Some(1.0), Some(2.0), None], vec![1, 1, 1]);
    let second = batch(vec![Some(f64::NAN), Some(3.0), Some(6.0)], vec![1, 1, 1]);
    let table = MemTable::try_new(schema.clone(), vec![vec![first], vec![second]]).unwrap();
    SessionContext::new().read_table(Arc::new(table)).unwrap()
}

/// A DataFrame of Float64 columns `names` holding `rows`, split into `partitions` partitions of
/// consecutive rows.
pub(crate) fn rows_frame(
    names: &[&str],
    rows: &[Vec<Option<f64>>],
    partitions: usize,
) -> DataFrame {
    let schema = Arc::new(Schema::new(
        names
            .iter()
            .map(|name| Field::new(*name, DataType::Float64, true))
            .collect::<Vec<_>>(),
    ));
    let per_partition = rows.len().div_ceil(partitions).max(1);
    let batches: Vec<Vec<RecordBatch>> = rows
        .chunks(per_partition)
        .map(|chunk| {
            let columns = (0..names.len())
                .map(|column| {
                    Arc::new(Float64Array::from_iter(chunk.iter().map(|row| row[column]))) as _
                })
                .collect();
            vec![RecordBatch::try_new(schema.clone(), columns).unwrap()]
        })
        .collect();
    let table = MemTable::try_new(schema, batches).unwrap();
    SessionContext::new().read_table(Arc::new(table)).unwrap()
}

/// The values of `column` (cast to `Float64`) in `frame`, partitions in order (each partition's
/// rows in input order, so the order is deterministic for the frames above).
pub(crate) async fn column_values(frame: &DataFrame, column: &str) -> Vec<Option<f64>> {
    let partitions = frame
        .clone()
        .select(vec![datafusion::logical_expr::cast(
            datafusion::prelude::ident(column),
            DataType::Float64,
        )])
        .unwrap()
        .collect_partitioned()
        .await
        .unwrap();
    partitions
        .iter()
        .flatten()
        .flat_map(|batch| {
            let array = datafusion::common::cast::as_float64_array(batch.column(0)).unwrap();
            array.iter().collect::<Vec<_>>()
        })
        .collect()
}

/// `rows` rows of x0, x1 uniform in [0, 100) and a noise feature, in 3 partitions, with
/// labels from `label(x0, x1)`; every 10th row has x0 missing (NaN for `label`).
pub(crate) fn points_frame(rows: usize, label: impl Fn(f64, f64) -> f64) -> DataFrame {
    let data: Vec<Vec<Option<f64>>> = (0..rows)
        .map(|i| {
            let u = |stream| 100.0 * crate::random::hash_unit(7, stream, [i as f64]);
            let (x0, x1, noise) = (u(0), u(1), u(2));
            let x0 = if i % 10 == 0 { None } else { Some(x0) };
            let y = label(x0.unwrap_or(f64::NAN), x1);
            vec![x0, Some(x1), Some(noise), Some(y)]
        })
        .collect();
    rows_frame(&["x0", "x1", "noise", "label"], &data, 3)
}

/// `model` saved under a new temporary directory and loaded back (the directory removed
/// again), checking the saved model type.
pub(crate) async fn saved_and_loaded(
    model: &dyn crate::model::AnyModel,
    model_type: &str,
) -> crate::model::FittedModel {
    static SAVES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let save = SAVES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("ember-saved-{}-{save}", std::process::id()));
    let location = dir.display().to_string();
    let context = SessionContext::new();
    crate::persist::save_model(&context, model, &location, false)
        .await
        .unwrap();
    let loaded = crate::model::FittedModel::load(&context, &location)
        .await
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(loaded.model_type(), model_type);
    loaded
}
