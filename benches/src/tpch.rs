//! TPC-H benchmark runner (build with `--release`): runs the 22 queries over existing data with
//! Ember, and with DuckDB when a Python with `duckdb` is given, and prints per-query and total
//! wall times side by side with their ratio. `benches/tpch.sh` builds, generates data, sets up
//! the DuckDB venv and calls this.

mod answers;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Parser;
use datafusion::arrow::csv::WriterBuilder;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::dataframe::DataFrame;
use datafusion::physical_plan::{collect, ExecutionPlan};
use ember::scan_stats::spilled_bytes;
use ember::{ran_out_of_memory, Session};

/// Run the TPC-H queries with Ember (and DuckDB) and compare times.
#[derive(Debug, Parser)]
struct Args {
    /// Directory with the eight tables as `NAME.parquet` files or `NAME/` directories.
    #[arg(long)]
    data: PathBuf,
    /// Directory with `q01.sql` ... `q22.sql`.
    #[arg(long, default_value = "tests/data/tpch/queries")]
    queries: PathBuf,
    /// Directory with expected answers `qNN.csv`; when given, each Ember result is checked.
    #[arg(long)]
    answers: Option<PathBuf>,
    /// Ember master; repeat to compare several (e.g. `local[2]` and `ember://HOST:PORT`) in one
    /// run, the first being the baseline of the ratios when there is no DuckDB peer.
    #[arg(long = "master", default_value = "local[2]")]
    masters: Vec<String>,
    /// Extra Ember configuration KEY=VALUE; repeatable.
    #[arg(long = "conf")]
    conf: Vec<String>,
    /// Runs per query; the fastest counts.
    #[arg(long, default_value_t = 1)]
    iterations: usize,
    /// Only these queries (comma-separated numbers); default all 22.
    #[arg(long, value_delimiter = ',')]
    only: Vec<usize>,
    /// Python interpreter with the `duckdb` package, for the peer run.
    #[arg(long)]
    duckdb_python: Option<PathBuf>,
    /// DuckDB threads (match Ember's cores for a fair ratio).
    #[arg(long, default_value_t = 2)]
    duckdb_threads: usize,
}

const TABLES: [&str; 8] = [
    "customer", "lineitem", "nation", "orders", "part", "partsupp", "region", "supplier",
];

fn main() -> anyhow::Result<()> {
    // As the `ember` command does, so the figures are what its users get.
    ember::memory::limit_allocator_arenas();
    let args = Args::parse();
    let queries: Vec<usize> = if args.only.is_empty() {
        (1..=22).collect()
    } else {
        args.only.clone()
    };
    let mut cores = 1;
    for master in &args.masters {
        cores = cores.max(master.parse::<ember::Master>()?.cores());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores)
        .enable_all()
        .build()?;
    let mut columns = Vec::new();
    for master in &args.masters {
        let times = runtime.block_on(run_ember(&args, master, &queries))?;
        columns.push((format!("ember {master}"), times));
    }
    let mut baseline = 0;
    match &args.duckdb_python {
        Some(python) => {
            let times = run_duckdb(&args, python, &queries)?;
            if times.len() == queries.len() {
                baseline = columns.len();
                columns.push((format!("duckdb {} threads", args.duckdb_threads), times));
            }
        }
        None => eprintln!("DuckDB peer skipped: no --duckdb-python given"),
    }
    print_report(&args, &queries, &columns, baseline);
    Ok(())
}

/// Location of a table: `DIR/NAME.parquet`, else the directory `DIR/NAME`.
fn table_location(data: &Path, table: &str) -> PathBuf {
    let file = data.join(format!("{table}.parquet"));
    if file.exists() {
        file
    } else {
        data.join(table)
    }
}

/// Seconds per query with Ember on `master` (best of `--iterations`), answers checked.
async fn run_ember(
    args: &Args,
    master: &str,
    queries: &[usize],
) -> anyhow::Result<BTreeMap<usize, f64>> {
    let mut builder = Session::builder().master(master);
    for pair in &args.conf {
        let (key, value) = pair
            .split_once('=')
            .with_context(|| format!("--conf {pair} is not KEY=VALUE"))?;
        builder = builder.config(key, value);
    }
    let session = builder.build()?;
    for table in TABLES {
        let location = table_location(&args.data, table);
        session
            .register_table(table, &location.display().to_string())
            .await?;
    }
    let mut times = BTreeMap::new();
    for &query in queries {
        let path = args.queries.join(format!("q{query:02}.sql"));
        let sql = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let mut best = f64::INFINITY;
        let mut result = Vec::new();
        let mut spilled = 0;
        for _ in 0..args.iterations.max(1) {
            let started = Instant::now();
            let (batches, plan) = run_query(&session, &sql).await?;
            best = best.min(started.elapsed().as_secs_f64());
            spilled = spilled_bytes(&plan);
            result = batches;
        }
        if let Some(answers) = &args.answers {
            let expected_path = answers.join(format!("q{query:02}.csv"));
            let expected = std::fs::read_to_string(&expected_path)
                .with_context(|| format!("cannot read {}", expected_path.display()))?;
            let mut csv = Vec::new();
            {
                let mut writer = WriterBuilder::new().with_header(true).build(&mut csv);
                for batch in &result {
                    writer.write(batch)?;
                }
            }
            if let Err(why) = answers::check_answer(query, &csv, &expected) {
                bail!(
                    "q{query:02} differs from {}: {why}",
                    expected_path.display()
                );
            }
        }
        eprintln!("ember {master} q{query:02} {best:8.3} s, spilled {spilled} bytes");
        times.insert(query, best);
    }
    Ok(times)
}

/// The result of `sql` and the plan that ran it: as `ember sql` runs a statement, again with
/// plans that spill when it ran out of memory.
async fn run_query(
    session: &Session,
    sql: &str,
) -> anyhow::Result<(Vec<RecordBatch>, Arc<dyn ExecutionPlan>)> {
    let reserved_before = session.memory_reserved();
    match run_planned(session.sql(sql).await?).await {
        Err(error) if ran_out_of_memory(&error.to_string()) => {
            eprintln!("ran out of memory; running again with plans that spill");
            session.memory_released_to(reserved_before).await;
            Ok(run_planned(session.sql_with_spillable_plans(sql).await?).await?)
        }
        other => Ok(other?),
    }
}

/// Runs `frame`; returns its rows and the plan that ran (with its metrics).
async fn run_planned(
    frame: DataFrame,
) -> datafusion::error::Result<(Vec<RecordBatch>, Arc<dyn ExecutionPlan>)> {
    let task = Arc::new(frame.task_ctx());
    let plan = frame.create_physical_plan().await?;
    let batches = collect(Arc::clone(&plan), task).await?;
    Ok((batches, plan))
}

/// Runs `benches/tpch/duckdb_tpch.py` and reads its `QUERY SECONDS` lines.
fn run_duckdb(
    args: &Args,
    python: &Path,
    queries: &[usize],
) -> anyhow::Result<BTreeMap<usize, f64>> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tpch/duckdb_tpch.py");
    let only: Vec<String> = queries.iter().map(|q| q.to_string()).collect();
    let output = Command::new(python)
        .arg(script)
        .arg(&args.data)
        .arg(&args.queries)
        .arg(args.duckdb_threads.to_string())
        .arg(args.iterations.max(1).to_string())
        .arg(only.join(","))
        .output()
        .with_context(|| format!("cannot run {}", python.display()))?;
    if !output.status.success() {
        eprintln!(
            "DuckDB peer skipped: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
        return Ok(BTreeMap::new());
    }
    let mut times = BTreeMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        if let Some((query, seconds)) = line.split_once(' ') {
            times.insert(query.parse()?, seconds.parse()?);
        }
    }
    Ok(times)
}

/// Prints seconds per query and in total for each column, then each column's ratio to the
/// `baseline` column.
fn print_report(
    args: &Args,
    queries: &[usize],
    columns: &[(String, BTreeMap<usize, f64>)],
    baseline: usize,
) {
    let base_name = &columns[baseline].0;
    println!(
        "TPC-H over {}, seconds, best of {}; ratios against {base_name}",
        args.data.display(),
        args.iterations.max(1)
    );
    for (i, (name, _)) in columns.iter().enumerate() {
        println!("  [{}] {name}", i + 1);
    }
    let compared: Vec<usize> = (0..columns.len()).filter(|&i| i != baseline).collect();
    let mut header = "query".to_string();
    for i in 0..columns.len() {
        header += &format!(" {:>9}", format!("[{}]", i + 1));
    }
    for &i in &compared {
        header += &format!(" {:>9}", format!("[{}]/[{}]", i + 1, baseline + 1));
    }
    println!("{header}");
    let row = |label: &str, time: &dyn Fn(&BTreeMap<usize, f64>) -> f64| {
        let mut line = format!("{label:<5}");
        let times: Vec<f64> = columns.iter().map(|(_, times)| time(times)).collect();
        for t in &times {
            line += &format!(" {t:9.3}");
        }
        for &i in &compared {
            line += &format!(" {:9.2}", times[i] / times[baseline]);
        }
        println!("{line}");
    };
    for &query in queries {
        row(&format!("q{query:02}"), &|times| times[&query]);
    }
    row("total", &|times| queries.iter().map(|q| times[q]).sum());
}
