//! ML benchmark: fit time and quality of Ember's estimators against scikit-learn (and Spark MLlib
//! when `pyspark` is installed) on the same generated data, measured in the same run.
//!
//! - `kmeans`: `--rows` x `--kmeans-features` points around `--k` random centers (unit normal
//!   noise); every fitter starts from the same `k` rows as centers and runs `--iterations` Lloyd
//!   iterations (tolerance 0). Quality: inertia.
//! - `logistic`: `--rows` x `--logistic-features` standard normal features, a 0/1 label drawn
//!   from a logistic model with random coefficients; no regularization, at most
//!   `--logistic-max-iter` L-BFGS iterations. Quality: training log loss.
//! - `gbt`: `--rows` x `--logistic-features` standard normal features, a 0/1 label drawn from a
//!   non-linear model (a linear part, an interaction and steps); every fifth row is held out.
//!   Gradient-boosted trees with `--trees` trees, depth 6, at most 31 leaves, learning rate 0.1,
//!   255 bins, against LightGBM and XGBoost (`hist`) with the same settings. Quality: test AUC.
//! - `gbt_regression`: the same features, the margin plus standard normal noise as the target;
//!   squared-error trees with the same settings against LightGBM and XGBoost. Quality: test RMSE.
//! - `gbt_multiclass`: the same features, three classes of the noisy target (below -1, below 1,
//!   above); softmax trees with the same settings (one tree per class and round) against
//!   LightGBM's and XGBoost's multiclass objectives. Quality: test accuracy.
//! - `rf`: the `gbt` data; a random forest of `--trees` trees, depth 10, sqrt(features) per
//!   split, bootstrap, against scikit-learn's `RandomForestClassifier` (and Spark's) with the same
//!   settings. Quality: test AUC.
//!
//! Ember reads each Parquet file into memory first (`Session::cache`), as scikit-learn holds a
//! NumPy array; the peers' load time is not counted either.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Parser;
use datafusion::dataframe::DataFrame;
use ember::ml::{Estimator, GradientBoostedTrees, KMeans, LogisticRegression, RandomForest};
use ember::Session;
use serde_json::json;

mod ml_data;
use ml_data::{blobs, logistic_data, tree_data, Blobs, DataArgs};

/// Fit time and quality of Ember's estimators against scikit-learn, LightGBM and XGBoost.
#[derive(Debug, Parser)]
struct Args {
    #[command(flatten)]
    data: DataArgs,
    /// Which benchmarks to run.
    #[arg(long, value_delimiter = ',', default_value = "kmeans,logistic")]
    only: Vec<String>,
    /// Most L-BFGS iterations of logistic regression.
    #[arg(long, default_value_t = 100)]
    logistic_max_iter: usize,
    /// Trees of the gradient-boosting benchmark.
    #[arg(long, default_value_t = 100)]
    trees: usize,
    /// Threads for every fitter (Ember's `local[N]`).
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Python with scikit-learn, pyarrow and threadpoolctl (and optionally pyspark) for the peers.
    #[arg(long)]
    python: Option<PathBuf>,
    /// Directory for the generated data (default: a temporary one).
    #[arg(long)]
    work: Option<PathBuf>,
}

/// One fitter's result.
#[derive(Debug)]
struct Fit {
    fitter: String,
    seconds: f64,
    quality: f64,
    iterations: usize,
}

fn main() -> anyhow::Result<()> {
    // As the `ember` command does, so the figures are what its users get.
    ember::memory::limit_allocator_arenas();
    let args = Args::parse();
    let temporary = tempfile::tempdir()?;
    let work = args.work.clone().unwrap_or(temporary.path().to_path_buf());
    std::fs::create_dir_all(&work)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()?;
    for task in &args.only {
        match task.as_str() {
            "kmeans" => runtime.block_on(kmeans(&args, &work))?,
            "logistic" => runtime.block_on(logistic(&args, &work))?,
            "gbt" => runtime.block_on(gbt(&args, &work))?,
            "gbt_regression" => runtime.block_on(gbt_regression(&args, &work))?,
            "gbt_multiclass" => runtime.block_on(gbt_multiclass(&args, &work))?,
            "rf" => runtime.block_on(rf(&args, &work))?,
            other => {
                bail!(
                    "unknown benchmark {other}; choose kmeans, logistic, gbt, gbt_regression, \
                     gbt_multiclass, rf"
                )
            }
        }
    }
    Ok(())
}

async fn kmeans(args: &Args, work: &Path) -> anyhow::Result<()> {
    let Blobs {
        features,
        path,
        init,
    } = blobs(args.data.rows, args.data.kmeans_features, args.data.k, work).await?;
    let points = cached(args, &path).await?;
    let started = Instant::now();
    let model = KMeans::new(&features)
        .k(args.data.k)
        .max_iter(args.data.iterations)
        .tol(0.0)
        .initial_centers(init.clone())
        .fit(&points)
        .await?;
    let mut fits = vec![ember_fit(
        args,
        started,
        model.training_cost(),
        model.iterations(),
    )];
    let peer_args = json!({
        "data": path, "features": features, "threads": args.threads,
        "init": init, "max_iter": args.data.iterations,
    });
    fits.extend(run_peers(args, "kmeans", &peer_args)?);
    print_table(
        &format!(
            "KMeans: {} rows x {} features, k = {}, {} iterations from the same {} rows as \
             centers, {} threads",
            args.data.rows,
            features.len(),
            args.data.k,
            args.data.iterations,
            args.data.k,
            args.threads
        ),
        "inertia",
        &fits,
    );
    Ok(())
}

async fn logistic(args: &Args, work: &Path) -> anyhow::Result<()> {
    let (features, path) = logistic_data(args.data.rows, args.data.logistic_features, work).await?;
    let data = cached(args, &path).await?;
    let started = Instant::now();
    let model = LogisticRegression::new(&features)
        .max_iter(args.logistic_max_iter)
        .fit(&data)
        .await?;
    let log_loss = *model.objective_history().last().context("no objective")?;
    let mut fits = vec![ember_fit(args, started, log_loss, model.iterations())];
    let peer_args = json!({
        "data": path, "features": features, "threads": args.threads,
        "label": "label", "max_iter": args.logistic_max_iter,
    });
    fits.extend(run_peers(args, "logistic", &peer_args)?);
    print_table(
        &format!(
            "LogisticRegression: {} rows x {} features, no regularization, {} threads",
            args.data.rows,
            features.len(),
            args.threads
        ),
        "log loss",
        &fits,
    );
    Ok(())
}

async fn gbt(args: &Args, work: &Path) -> anyhow::Result<()> {
    let (features, train, test) =
        tree_data(args.data.rows, args.data.logistic_features, work).await?;
    let name = |part: &str| {
        if part == "train" {
            train.clone()
        } else {
            test.clone()
        }
    };
    let data = cached(args, &name("train")).await?;
    let started = Instant::now();
    let model = GradientBoostedTrees::classifier(&features)
        .num_trees(args.trees)
        .max_depth(6)
        .max_leaves(31)
        .learning_rate(0.1)
        .fit(&data)
        .await?;
    let seconds = started.elapsed().as_secs_f64();
    let test_data = cached(args, &name("test")).await?;
    let auc = model
        .evaluate(&test_data)
        .await?
        .get("roc_auc")
        .context("no AUC")?;
    let mut fits = vec![Fit {
        fitter: format!("ember local[{}]", args.threads),
        seconds,
        quality: auc,
        iterations: model.trees().len(),
    }];
    eprintln!("ember: {seconds:.3} s");
    let peer_args = json!({
        "data": name("train"), "test": name("test"), "features": features,
        "threads": args.threads, "label": "label", "trees": args.trees,
    });
    fits.extend(run_peers(args, "gbt", &peer_args)?);
    print_table(
        &format!(
            "Gradient-boosted trees: {} rows (4/5 train, 1/5 test) x {} features, {} trees, \
             depth 6, 31 leaves, learning rate 0.1, 255 bins, {} threads",
            args.data.rows,
            features.len(),
            args.trees,
            args.threads
        ),
        "test AUC",
        &fits,
    );
    Ok(())
}

async fn gbt_regression(args: &Args, work: &Path) -> anyhow::Result<()> {
    let task = GbtTask {
        name: "gbt_regression",
        title: "Gradient-boosted regression trees (squared error)",
        label: "target",
        metric: "rmse",
        metric_title: "test RMSE",
    };
    gbt_task(args, work, &task, |features| {
        GradientBoostedTrees::regressor(features)
    })
    .await
}

async fn gbt_multiclass(args: &Args, work: &Path) -> anyhow::Result<()> {
    let task = GbtTask {
        name: "gbt_multiclass",
        title: "Gradient-boosted trees, 3 classes (softmax)",
        label: "class",
        metric: "accuracy",
        metric_title: "test accuracy",
    };
    gbt_task(args, work, &task, |features| {
        GradientBoostedTrees::classifier(features)
    })
    .await
}

/// A gradient-boosted trees benchmark on the tree data with the settings of [`gbt`], fitted
/// in local mode only.
struct GbtTask {
    /// The task's name for the peers.
    name: &'static str,
    /// What the table is about.
    title: &'static str,
    /// The label column.
    label: &'static str,
    /// The metric compared, as `evaluate` names it.
    metric: &'static str,
    /// The metric's column title.
    metric_title: &'static str,
}

/// Fits `estimator(features)` on the tree data's `task.label` with the settings of [`gbt`],
/// evaluates `task.metric` on the test rows, runs the task's peers and prints the table.
async fn gbt_task(
    args: &Args,
    work: &Path,
    task: &GbtTask,
    estimator: fn(&Vec<String>) -> GradientBoostedTrees,
) -> anyhow::Result<()> {
    let (features, train, test) =
        tree_data(args.data.rows, args.data.logistic_features, work).await?;
    let data = cached(args, &train).await?;
    let started = Instant::now();
    let model = estimator(&features)
        .label(task.label)
        .num_trees(args.trees)
        .max_depth(6)
        .max_leaves(31)
        .learning_rate(0.1)
        .fit(&data)
        .await?;
    let seconds = started.elapsed().as_secs_f64();
    eprintln!("ember: {seconds:.3} s");
    let quality = model
        .evaluate(&cached(args, &test).await?)
        .await?
        .get(task.metric)
        .with_context(|| format!("no {}", task.metric))?;
    let mut fits = vec![Fit {
        fitter: format!("ember local[{}]", args.threads),
        seconds,
        quality,
        iterations: model.trees().len(),
    }];
    let peer_args = json!({
        "data": train, "test": test, "features": features,
        "threads": args.threads, "label": task.label, "trees": args.trees,
    });
    fits.extend(run_peers(args, task.name, &peer_args)?);
    print_table(
        &format!(
            "{}: {} rows (4/5 train, 1/5 test) x {} features, {} trees, depth 6, 31 leaves, \
             learning rate 0.1, 255 bins, {} threads",
            task.title,
            args.data.rows,
            features.len(),
            args.trees,
            args.threads
        ),
        task.metric_title,
        &fits,
    );
    Ok(())
}

async fn rf(args: &Args, work: &Path) -> anyhow::Result<()> {
    let (features, train, test) =
        tree_data(args.data.rows, args.data.logistic_features, work).await?;
    let data = cached(args, &train).await?;
    let started = Instant::now();
    let model = RandomForest::classifier(&features)
        .num_trees(args.trees)
        .max_depth(10)
        .fit(&data)
        .await?;
    let seconds = started.elapsed().as_secs_f64();
    eprintln!("ember: {seconds:.3} s");
    let auc = model
        .evaluate(&cached(args, &test).await?)
        .await?
        .get("roc_auc")
        .context("no AUC")?;
    let mut fits = vec![Fit {
        fitter: format!("ember local[{}]", args.threads),
        seconds,
        quality: auc,
        iterations: model.trees().len(),
    }];
    let peer_args = json!({
        "data": train, "test": test, "features": features,
        "threads": args.threads, "label": "label", "trees": args.trees,
    });
    fits.extend(run_peers(args, "rf", &peer_args)?);
    print_table(
        &format!(
            "Random forest: {} rows (4/5 train, 1/5 test) x {} features, {} trees, depth 10, \
             sqrt(features) per split, bootstrap, {} threads",
            args.data.rows,
            features.len(),
            args.trees,
            args.threads
        ),
        "test AUC",
        &fits,
    );
    Ok(())
}

/// The Parquet file read into memory by an Ember session with `--threads` cores.
async fn cached(args: &Args, path: &Path) -> anyhow::Result<DataFrame> {
    let session = Session::builder()
        .master(&format!("local[{}]", args.threads))
        .build()?;
    let data = session.read_parquet(&path.display().to_string()).await?;
    Ok(session.cache(data).await?)
}

fn ember_fit(args: &Args, started: Instant, quality: f64, iterations: usize) -> Fit {
    let seconds = started.elapsed().as_secs_f64();
    eprintln!("ember: {seconds:.3} s");
    Fit {
        fitter: format!("ember local[{}]", args.threads),
        seconds,
        quality,
        iterations,
    }
}

/// The peers' fits of `task`, from `benches/ml/peers.py`; a skipped peer is reported on stderr.
fn run_peers(args: &Args, task: &str, peer_args: &serde_json::Value) -> anyhow::Result<Vec<Fit>> {
    let Some(python) = &args.python else {
        eprintln!("peers skipped: no --python given");
        return Ok(Vec::new());
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("ml/peers.py");
    let output = Command::new(python)
        .arg(&script)
        .args([task, &peer_args.to_string()])
        .output()
        .with_context(|| format!("cannot run {}", python.display()))?;
    if !output.status.success() {
        bail!(
            "{} failed: {}",
            script.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let mut fits = Vec::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let result: serde_json::Value =
            serde_json::from_str(line).with_context(|| format!("a peer printed {line}"))?;
        let fitter = result["peer"]
            .as_str()
            .context("a peer printed no name")?
            .to_string();
        if let Some(why) = result["skipped"].as_str() {
            eprintln!("{fitter} skipped: {why}");
            continue;
        }
        let number = |name: &str| -> anyhow::Result<f64> {
            result[name]
                .as_f64()
                .with_context(|| format!("{fitter} printed no {name}"))
        };
        fits.push(Fit {
            seconds: number("fit_seconds")?,
            quality: number("quality")?,
            iterations: number("iterations")? as usize,
            fitter,
        });
    }
    Ok(fits)
}

/// Prints `fits` as a table with time and quality ratios against scikit-learn's or LightGBM's
/// (or the first fit's when neither ran).
fn print_table(title: &str, quality: &str, fits: &[Fit]) {
    let baseline = fits
        .iter()
        .find(|fit| fit.fitter == "scikit-learn" || fit.fitter == "lightgbm")
        .unwrap_or(&fits[0]);
    println!("{title}; ratios against {}", baseline.fitter);
    println!("| fitter | fit seconds | time ratio | {quality} | {quality} ratio | iterations |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for fit in fits {
        println!(
            "| {} | {:.3} | {:.2} | {:.6e} | {:.6} | {} |",
            fit.fitter,
            fit.seconds,
            fit.seconds / baseline.seconds,
            fit.quality,
            fit.quality / baseline.quality,
            fit.iterations
        );
    }
    println!();
}
