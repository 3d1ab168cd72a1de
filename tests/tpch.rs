//! TPC-H correctness: generate data with `ember gen tpch`, run the 22 queries through
//! `ember sql`, compare with the expected answers under the rules of `tests/data/tpch/README.md`.

use std::path::Path;

#[path = "../benches/src/answers.rs"]
mod answers;

use crate::common::{generate_tpch, run_ember, stderr, test_data, TPCH_TABLES};

#[test]
fn tpch_sf0_01_matches_answers() {
    check_scale("0.01");
}

#[test]
fn tpch_sf0_1_matches_answers() {
    check_scale("0.1");
}

fn check_scale(scale: &str) {
    let data = tempfile::tempdir().unwrap();
    generate_tpch(data.path(), scale, &[]);
    check_all_queries(data.path(), scale, &[]);
}

/// Runs the 22 queries over the TPC-H data in `data` through `ember sql` with `extra` flags
/// (e.g. `--master`) and asserts that every answer matches.
pub fn check_all_queries(data: &Path, scale: &str, extra: &[String]) {
    check_all_queries_at(data, &|table| local_table(data, table), scale, extra);
}

/// Runs the 22 queries through `ember sql` started in `dir`, each TPC-H table read from
/// `location(table)`, with `extra` flags, and asserts that every answer matches.
pub fn check_all_queries_at(
    dir: &Path,
    location: &dyn Fn(&str) -> String,
    scale: &str,
    extra: &[String],
) {
    let failures: Vec<String> = (1..=22)
        .filter_map(|query| run_tpch_query_at(dir, location, scale, query, extra).err())
        .collect();
    assert!(
        failures.is_empty(),
        "{} of 22 TPC-H queries differ at SF {scale}:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Runs TPC-H query `query` over `data` through `ember sql` with `extra` flags; `Err` says how
/// it failed or how its answer differs.
pub fn run_tpch_query(
    data: &Path,
    scale: &str,
    query: usize,
    extra: &[String],
) -> Result<(), String> {
    run_tpch_query_at(data, &|table| local_table(data, table), scale, query, extra)
}

/// The local file of TPC-H table `table` generated into `data`.
fn local_table(data: &Path, table: &str) -> String {
    data.join(format!("{table}.parquet")).display().to_string()
}

/// Runs TPC-H query `query` through `ember sql` started in `dir`, each table read from
/// `location(table)`; `Err` says how it failed or how its answer differs.
fn run_tpch_query_at(
    dir: &Path,
    location: &dyn Fn(&str) -> String,
    scale: &str,
    query: usize,
    extra: &[String],
) -> Result<(), String> {
    let tpch = test_data().join("tpch");
    let sql = tpch.join("queries").join(format!("q{query:02}.sql"));
    let expected = tpch.join(format!("answers/sf{scale}/q{query:02}.csv"));
    let mut args = vec![
        "sql".to_string(),
        "--quiet".into(),
        "--format".into(),
        "csv".into(),
        "-f".into(),
        sql.display().to_string(),
    ];
    args.extend_from_slice(extra);
    for table in TPCH_TABLES {
        args.push("--table".into());
        args.push(format!("{table}={}", location(table)));
    }
    let output = run_ember(dir, &args);
    if !output.status.success() {
        return Err(format!("q{query:02}: ember failed: {}", stderr(&output)));
    }
    let expected = std::fs::read_to_string(&expected).unwrap();
    answers::check_answer(query, &output.stdout, &expected)
        .map_err(|why| format!("q{query:02}: {why}"))
}
