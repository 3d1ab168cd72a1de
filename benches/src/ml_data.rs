//! The generated datasets of the ML benchmarks (`ml` and `ml_cluster`): each a Parquet file
//! of Float64 columns in row groups of [`ROWS_PER_ROW_GROUP`] rows, drawn from a fixed seed so
//! every run and every fitter sees the same rows.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::config::{ParquetOptions, TableParquetOptions};
use datafusion::dataframe::DataFrameWriteOptions;
use ember::ml::random::SplitMix64;
use ember::Session;

/// The generated data's shape and the k-means settings, shared by the ML runners' command
/// lines.
#[derive(Debug, clap::Args)]
pub struct DataArgs {
    /// Rows of each generated dataset.
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: usize,
    /// Feature columns of the k-means data.
    #[arg(long, default_value_t = 16)]
    pub kmeans_features: usize,
    /// Clusters.
    #[arg(long, default_value_t = 32)]
    pub k: usize,
    /// Lloyd iterations.
    #[arg(long, default_value_t = 20)]
    pub iterations: usize,
    /// Feature columns of the logistic-regression and tree data.
    #[arg(long, default_value_t = 28)]
    pub logistic_features: usize,
}

/// The k-means data: its feature names, its file, and the rows every fitter starts from.
pub struct Blobs {
    /// `f0`, `f1`, ...
    pub features: Vec<String>,
    /// The Parquet file.
    pub path: PathBuf,
    /// `k` rows spread over the file, the initial centers.
    pub init: Vec<Vec<f64>>,
}

/// `rows` x `features` points around `k` random centers (unit normal noise), and `k` of its
/// rows as initial centers.
pub async fn blobs(rows: usize, features: usize, k: usize, work: &Path) -> anyhow::Result<Blobs> {
    let features = names("f", features);
    let mut random = SplitMix64::new(2026);
    let centers: Vec<Vec<f64>> = (0..k)
        .map(|_| {
            (0..features.len())
                .map(|_| random.next_f64() * 20.0 - 10.0)
                .collect()
        })
        .collect();
    let mut columns = vec![Vec::with_capacity(rows); features.len()];
    for _ in 0..rows {
        let center = &centers[(random.next_u64() % k as u64) as usize];
        for (column, mean) in columns.iter_mut().zip(center) {
            column.push(mean + normal(&mut random));
        }
    }
    let init: Vec<Vec<f64>> = (0..k)
        .map(|i| {
            let row = (i * rows) / k + 17;
            columns.iter().map(|column| column[row]).collect()
        })
        .collect();
    let path = work.join(format!("blobs-{}x{}.parquet", rows, features.len()));
    write_parquet(&features, columns, &path).await?;
    Ok(Blobs {
        features,
        path,
        init,
    })
}

/// The logistic-regression data: `rows` x `features` standard normal features and a 0/1
/// `label` drawn from a logistic model with random coefficients; returns the feature names and
/// the file.
pub async fn logistic_data(
    rows: usize,
    features: usize,
    work: &Path,
) -> anyhow::Result<(Vec<String>, PathBuf)> {
    let features = names("x", features);
    let mut random = SplitMix64::new(7);
    let weights: Vec<f64> = (0..features.len())
        .map(|_| random.next_f64() * 2.0 - 1.0)
        .collect();
    let mut columns = vec![Vec::with_capacity(rows); features.len() + 1];
    for _ in 0..rows {
        let mut margin = 0.3;
        for (column, weight) in columns.iter_mut().zip(&weights) {
            let value = normal(&mut random);
            margin += weight * value;
            column.push(value);
        }
        let positive = random.next_f64() < 1.0 / (1.0 + (-margin).exp());
        columns[features.len()].push(f64::from(u8::from(positive)));
    }
    let mut all = features.clone();
    all.push("label".to_string());
    let path = work.join(format!("logistic-{}x{}.parquet", rows, features.len()));
    write_parquet(&all, columns, &path).await?;
    Ok((features, path))
}

/// The data of the tree benchmarks (and of linear regression): `rows` x `features` standard
/// normal features, a 0/1 `label` drawn from a non-linear margin and a `target` (the margin plus
/// standard normal noise), written as a training and a test Parquet file (every fifth row);
/// returns the feature names and the two paths.
pub async fn tree_data(
    rows: usize,
    features: usize,
    work: &Path,
) -> anyhow::Result<(Vec<String>, PathBuf, PathBuf)> {
    let features = names("x", features);
    let mut random = SplitMix64::new(11);
    let weights: Vec<f64> = (0..features.len())
        .map(|_| random.next_f64() * 2.0 - 1.0)
        .collect();
    let [mut train, mut test] = [0, 1].map(|_| vec![Vec::new(); features.len() + 3]);
    for row in 0..rows {
        let values: Vec<f64> = (0..features.len()).map(|_| normal(&mut random)).collect();
        let linear: f64 = values.iter().zip(&weights).map(|(x, w)| x * w).sum();
        let steps =
            if values[2] > 0.5 { 1.5 } else { -0.5 } + if values[3] < -1.0 { 1.0 } else { 0.0 };
        let margin = 0.5 * linear + values[0] * values[1] + steps;
        let positive = random.next_f64() < 1.0 / (1.0 + (-margin).exp());
        let target = margin + normal(&mut random);
        let columns = if row % 5 == 0 { &mut test } else { &mut train };
        for (column, value) in columns.iter_mut().zip(values) {
            column.push(value);
        }
        columns[features.len()].push(f64::from(u8::from(positive)));
        columns[features.len() + 1].push(target);
        // Three classes of the noisy target, about a third each.
        let class = f64::from(u8::from(target >= -1.0)) + f64::from(u8::from(target >= 1.0));
        columns[features.len() + 2].push(class);
    }
    let mut all = features.clone();
    all.extend([
        "label".to_string(),
        "target".to_string(),
        "class".to_string(),
    ]);
    let name = |part: &str| work.join(format!("trees-{part}-{}x{}.parquet", rows, features.len()));
    let (train_path, test_path) = (name("train"), name("test"));
    write_parquet(&all, train, &train_path).await?;
    write_parquet(&all, test, &test_path).await?;
    Ok((features, train_path, test_path))
}

/// `prefix0`, `prefix1`, ...
fn names(prefix: &str, count: usize) -> Vec<String> {
    (0..count).map(|i| format!("{prefix}{i}")).collect()
}

/// A standard normal value (Box-Muller).
fn normal(random: &mut SplitMix64) -> f64 {
    let u = 1.0 - random.next_f64();
    let v = random.next_f64();
    (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
}

/// Rows per Parquet row group of the generated data: several row groups per file, so that a
/// scan with two partitions (or a cluster's two tasks) can get half the rows each (8 groups of
/// the 800,000 training rows).
const ROWS_PER_ROW_GROUP: usize = 100_000;

/// Writes `columns` (Float64, named `names`) as one Parquet file of row groups of
/// [`ROWS_PER_ROW_GROUP`] rows.
async fn write_parquet(
    names: &[String],
    columns: Vec<Vec<f64>>,
    path: &Path,
) -> anyhow::Result<()> {
    let schema = Arc::new(Schema::new(
        names
            .iter()
            .map(|name| Field::new(name, DataType::Float64, false))
            .collect::<Vec<_>>(),
    ));
    let arrays: Vec<ArrayRef> = columns
        .into_iter()
        .map(|column| Arc::new(Float64Array::from(column)) as ArrayRef)
        .collect();
    let batch = RecordBatch::try_new(schema, arrays)?;
    let session = Session::builder().master("local[1]").build()?;
    session
        .context()
        .read_batch(batch)?
        .write_parquet(
            &path.display().to_string(),
            DataFrameWriteOptions::new().with_single_file_output(true),
            Some(TableParquetOptions {
                global: ParquetOptions {
                    max_row_group_size: ROWS_PER_ROW_GROUP,
                    ..ParquetOptions::default()
                },
                ..TableParquetOptions::default()
            }),
        )
        .await?;
    Ok(())
}
