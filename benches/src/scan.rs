//! Scan throughput: a full scan of TPC-H `lineitem` (every column decoded) with Ember from local
//! disk and from an S3-compatible server on 127.0.0.1 (`s3s-fs`, started here), and with DuckDB
//! from local disk when a Python with `duckdb` is given. Prints MB/s and rows/s per reader, best
//! of `--iterations`, and each reader's time relative to Ember's local-disk scan.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Parser;
use ember::Session;

#[path = "../../tests/s3_server.rs"]
#[allow(dead_code)]
mod s3_server;

/// The scan: every column of `lineitem` is read and decoded, one row comes back. (Sums, so that
/// the answer cannot come from the files' statistics, as `max` of every column alone did.)
const SCAN: &str = "SELECT count(*), sum(l_orderkey), sum(l_partkey), sum(l_suppkey), \
    sum(l_linenumber), sum(l_quantity), sum(l_extendedprice), sum(l_discount), sum(l_tax), \
    max(l_returnflag), max(l_linestatus), max(l_shipdate), max(l_commitdate), \
    max(l_receiptdate), max(l_shipinstruct), max(l_shipmode), sum(length(l_comment)) FROM {}";

#[derive(Debug, Parser)]
struct Args {
    /// TPC-H data directory holding `lineitem.parquet` (one file).
    #[arg(long)]
    data: PathBuf,
    /// Runs per reader; the best counts.
    #[arg(long, default_value_t = 3)]
    iterations: usize,
    /// Where Ember runs.
    #[arg(long, default_value = "local[2]")]
    master: String,
    /// Python interpreter with the `duckdb` package, for the peer run.
    #[arg(long)]
    duckdb_python: Option<PathBuf>,
    /// DuckDB threads.
    #[arg(long, default_value_t = 2)]
    duckdb_threads: usize,
}

fn main() -> anyhow::Result<()> {
    // As the `ember` command does, so the figures are what its users get.
    ember::memory::limit_allocator_arenas();
    let args = Args::parse();
    let file = args.data.join("lineitem.parquet");
    if !file.is_file() {
        bail!(
            "{} is not a file (generate with ember gen tpch)",
            file.display()
        );
    }
    let bytes = std::fs::metadata(&file)?.len();
    let server = s3_server::S3Server::start();
    server.create_bucket("bench");
    server.upload("bench", "lineitem.parquet", &file);

    let runtime = tokio::runtime::Runtime::new()?;
    let mut results = Vec::new();
    let local = runtime.block_on(scan_with_ember(&args, &file.display().to_string(), &[]))?;
    results.push(("ember, local disk".to_string(), local));
    let s3_conf = [
        ("ember.s3.endpoint", server.endpoint()),
        ("ember.s3.region", "us-east-1".to_string()),
        (
            "ember.s3.access.key.id",
            s3_server::ACCESS_KEY_ID.to_string(),
        ),
        (
            "ember.s3.secret.access.key",
            s3_server::SECRET_ACCESS_KEY.to_string(),
        ),
    ];
    let s3 = runtime.block_on(scan_with_ember(
        &args,
        "s3://bench/lineitem.parquet",
        &s3_conf,
    ))?;
    results.push(("ember, S3 server on 127.0.0.1".to_string(), s3));
    let transfer = runtime.block_on(fetch_whole_object(&server, args.iterations))?;
    results.push((
        "(raw GET of the object from the S3 server, no decoding)".to_string(),
        (transfer, local.1),
    ));
    match &args.duckdb_python {
        Some(python) => match scan_with_duckdb(&args, python, &file) {
            Ok(peer) => results.push((
                format!("duckdb {} threads, local disk", args.duckdb_threads),
                peer,
            )),
            Err(why) => eprintln!("DuckDB peer skipped: {why:#}"),
        },
        None => eprintln!("DuckDB peer skipped: no --duckdb-python given"),
    }
    let (_, (baseline, _)) = results[0];
    println!(
        "Full scan of lineitem ({} MB, every column), best of {}; ratio = time / ember local-disk time",
        bytes / 1_000_000,
        args.iterations
    );
    println!("| reader | seconds | MB/s | rows/s | ratio |\n| --- | --- | --- | --- | --- |");
    for (reader, (seconds, rows)) in &results {
        println!(
            "| {reader} | {seconds:.3} | {:.0} | {:.0} | {:.2} |",
            bytes as f64 / 1e6 / seconds,
            *rows as f64 / seconds,
            seconds / baseline
        );
    }
    Ok(())
}

/// Best seconds and the row count of the scan of `location` with Ember, `conf` applied.
async fn scan_with_ember(
    args: &Args,
    location: &str,
    conf: &[(&str, String)],
) -> anyhow::Result<(f64, i64)> {
    let mut builder = Session::builder().master(&args.master);
    for (key, value) in conf {
        builder = builder.config(key, value);
    }
    let session = builder.build()?;
    let sql = SCAN.replace("{}", &format!("'{location}'"));
    let mut best = f64::INFINITY;
    let mut rows = 0;
    for _ in 0..args.iterations.max(1) {
        let started = Instant::now();
        let batches = session.sql(&sql).await?.collect().await?;
        best = best.min(started.elapsed().as_secs_f64());
        rows = batches[0]
            .column(0)
            .as_any()
            .downcast_ref::<datafusion::arrow::array::Int64Array>()
            .context("count(*) is an Int64")?
            .value(0);
    }
    eprintln!("ember {location}: {best:.3} s");
    Ok((best, rows))
}

/// Best seconds to fetch the whole object from the server: the transfer cost alone, which the
/// server (in this process, on the same cores) and the client share.
async fn fetch_whole_object(
    server: &s3_server::S3Server,
    iterations: usize,
) -> anyhow::Result<f64> {
    use object_store::ObjectStoreExt;
    let client = server.client("bench");
    let key = object_store::path::Path::from("lineitem.parquet");
    let mut best = f64::INFINITY;
    for _ in 0..iterations.max(1) {
        let started = Instant::now();
        client.get(&key).await?.bytes().await?;
        best = best.min(started.elapsed().as_secs_f64());
    }
    Ok(best)
}

/// Best seconds and the row count of the same scan with DuckDB.
fn scan_with_duckdb(args: &Args, python: &Path, file: &Path) -> anyhow::Result<(f64, i64)> {
    let sql = SCAN.replace("{}", &format!("read_parquet('{}')", file.display()));
    let script = format!(
        "import duckdb, time\ncon = duckdb.connect()\ncon.execute('SET threads = {}')\n\
         best = float('inf')\nfor _ in range({}):\n    t = time.perf_counter()\n    \
         rows = con.execute({sql:?}).fetchall()[0][0]\n    best = min(best, time.perf_counter() - t)\n\
         print(best, rows)\n",
        args.duckdb_threads,
        args.iterations.max(1)
    );
    let output = Command::new(python)
        .args(["-c", &script])
        .output()
        .with_context(|| format!("cannot run {}", python.display()))?;
    if !output.status.success() {
        bail!("{}", String::from_utf8_lossy(&output.stderr).trim());
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let (seconds, rows) = text
        .trim()
        .split_once(' ')
        .context("DuckDB printed no timing")?;
    Ok((seconds.parse()?, rows.parse()?))
}
