//! `ember::ml` over real Parquet files: a fit aggregates across files and partitions, and the
//! fitted model transforms new data lazily.

use ember::datafusion::arrow::array::Float64Array;
use ember::datafusion::common::cast::as_float64_array;
use ember::datafusion::prelude::{col, lit};
use ember::ml::{Estimator, Model, StandardScaler};
use ember::Session;

/// Writes `v` = 1..=1000 (and `w` = 2v) as three Parquet files under `dir`.
async fn write_dataset(session: &Session, dir: &std::path::Path) {
    for (part, (low, high)) in [(1, 300), (301, 700), (701, 1000)].into_iter().enumerate() {
        let path = dir.join(format!("part-{part}.parquet"));
        let copy = format!(
            "COPY (SELECT v, 2 * v AS w FROM generate_series({low}, {high}) AS t(v)) \
             TO '{}' STORED AS PARQUET",
            path.display()
        );
        session.sql(&copy).await.unwrap().collect().await.unwrap();
    }
}

#[tokio::test]
async fn standard_scaler_fits_across_parquet_files_and_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let session = Session::builder().master("local[2]").build().unwrap();
    write_dataset(&session, dir.path()).await;
    let data = session
        .read_parquet(dir.path().to_str().unwrap())
        .await
        .unwrap();

    let model = StandardScaler::new(["v", "w"])
        .with_mean(true)
        .fit(&data)
        .await
        .unwrap();
    let [v, w] = model.summaries() else {
        panic!("two summaries expected")
    };
    // 1..=n: mean (n + 1) / 2, sample variance n (n + 1) / 12.
    assert_eq!((v.count, v.mean, v.min, v.max), (1000, 500.5, 1.0, 1000.0));
    assert!((v.variance - 1000.0 * 1001.0 / 12.0).abs() < 1e-6);
    assert!((w.variance - 4.0 * v.variance).abs() < 1e-6);

    let scaled = model
        .transform(data.filter(col("v").eq(lit(1000))).unwrap())
        .unwrap()
        .select_columns(&["v_scaled", "w_scaled"])
        .unwrap()
        .collect()
        .await
        .unwrap();
    let value = |column: usize| -> f64 {
        let array: &Float64Array = as_float64_array(scaled[0].column(column)).unwrap();
        array.value(0)
    };
    let expected = 499.5 / v.std_dev();
    assert!((value(0) - expected).abs() < 1e-12);
    assert!(
        (value(1) - expected).abs() < 1e-12,
        "w = 2v scales the same"
    );
}

#[tokio::test]
async fn fitting_on_a_text_column_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let session = Session::builder().master("local[2]").build().unwrap();
    let path = dir.path().join("names.parquet");
    let copy = format!(
        "COPY (SELECT 'a' AS name, 1 AS v) TO '{}' STORED AS PARQUET",
        path.display()
    );
    session.sql(&copy).await.unwrap().collect().await.unwrap();
    let data = session.read_parquet(path.to_str().unwrap()).await.unwrap();
    let error = StandardScaler::new(["name"]).fit(&data).await.unwrap_err();
    assert!(
        error.to_string().starts_with("column 'name' has type Utf8"),
        "{error}"
    );
}
