//! `ember gen tpch`: part files and CSV hold exactly the rows of the single-file Parquet output.

use std::path::Path;

use crate::common::{generate_tpch, run_ember, stderr, stdout};

/// Row count and a checksum of every table, read through `ember sql` from `dir`.
fn table_summaries(dir: &Path, layout: impl Fn(&str) -> String) -> String {
    let tables = [
        ("lineitem", "sum(l_orderkey * l_linenumber)"),
        ("orders", "sum(o_orderkey)"),
        ("partsupp", "sum(ps_partkey + ps_suppkey)"),
        ("part", "sum(p_partkey)"),
        ("customer", "sum(c_custkey)"),
        ("supplier", "sum(s_suppkey)"),
        ("nation", "sum(n_nationkey)"),
        ("region", "sum(r_regionkey)"),
    ];
    let mut args = vec![
        "sql".to_string(),
        "-q".into(),
        "--format".into(),
        "csv".into(),
    ];
    for (table, checksum) in tables {
        args.extend(["--table".into(), format!("{table}={}", layout(table))]);
        args.extend([
            "-e".into(),
            format!("SELECT '{table}' AS t, count(*) AS n, {checksum} AS c FROM {table}"),
        ]);
    }
    let output = run_ember(dir, &args);
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&output)
}

#[test]
fn parts_and_csv_hold_the_same_rows_as_one_parquet_file() {
    let dir = tempfile::tempdir().unwrap();
    let single = dir.path().join("single");
    let parts = dir.path().join("parts");
    generate_tpch(&single, "0.01", &[]);
    generate_tpch(&parts, "0.01", &["--parts", "3", "--format", "csv"]);

    assert!(parts.join("lineitem/part-3.csv").is_file());
    assert!(parts.join("nation/part-1.csv").is_file());
    assert!(
        !parts.join("nation/part-2.csv").exists(),
        "nation is never split"
    );

    let expected = table_summaries(dir.path(), |t| format!("single/{t}.parquet"));
    let actual = table_summaries(dir.path(), |t| format!("parts/{t}"));
    assert_eq!(actual, expected);
    assert!(expected.contains("lineitem,60175,"), "{expected}");
    assert!(expected.contains("nation,25,300"), "{expected}");
}

#[test]
fn bad_scale_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = run_ember(dir.path(), ["gen", "tpch", "--scale=-1", "--out", "x"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(
        err.contains("--scale -1 must be a positive number"),
        "{err}"
    );
}
