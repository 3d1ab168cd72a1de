//! `ember sql` as a user drives it: inputs, output formats, configuration layers, and one clear
//! error line with the right exit code for bad input.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::common::{assert_one_line_error, ember_binary, run_ember, stderr, stdout};

/// Runs `ember sql ARGS...` in `dir`.
fn sql(dir: &Path, args: &[&str]) -> Output {
    run_ember(dir, std::iter::once("sql").chain(args.iter().copied()))
}

/// Runs `ember sql --quiet --format csv ARGS...` in `dir`, asserts success, returns stdout.
fn sql_csv(dir: &Path, args: &[&str]) -> String {
    let mut all = vec!["--quiet", "--format", "csv"];
    all.extend_from_slice(args);
    let output = sql(dir, &all);
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&output)
}

/// Writes the result of `select` as a Parquet file at `path` through `ember sql` itself.
fn write_parquet(dir: &Path, path: &str, select: &str) {
    sql_csv(
        dir,
        &[
            "-e",
            &format!("COPY ({select}) TO '{path}' STORED AS PARQUET"),
        ],
    );
}

/// The value of DataFusion setting `name` as `ember sql` with `args` sees it.
fn setting(dir: &Path, args: &[&str], name: &str) -> String {
    let show = format!("SELECT value FROM information_schema.df_settings WHERE name = '{name}'");
    let mut all = args.to_vec();
    all.extend_from_slice(&["-e", &show]);
    sql_csv(dir, &all)
        .lines()
        .nth(1)
        .unwrap_or_default()
        .to_string()
}

#[test]
fn output_formats() {
    let dir = tempfile::tempdir().unwrap();
    let query = "SELECT 1 AS a, 'x,y' AS b UNION ALL SELECT 2, 'z' ORDER BY a";
    let run = |format: &str| {
        let output = sql(dir.path(), &["-q", "--format", format, "-e", query]);
        assert!(output.status.success(), "{}", stderr(&output));
        stdout(&output)
    };
    assert_eq!(run("csv"), "a,b\n1,\"x,y\"\n2,z\n");
    assert_eq!(run("tsv"), "a\tb\n1\tx,y\n2\tz\n");
    assert_eq!(
        run("ndjson"),
        "{\"a\":1,\"b\":\"x,y\"}\n{\"a\":2,\"b\":\"z\"}\n"
    );
    assert_eq!(
        run("json"),
        "[{\"a\":1,\"b\":\"x,y\"},{\"a\":2,\"b\":\"z\"}]\n"
    );
    let table = run("table");
    assert!(
        table.contains("| a | b   |") && table.contains("| 1 | x,y |"),
        "{table}"
    );
}

#[test]
fn empty_results_still_print_a_header() {
    let dir = tempfile::tempdir().unwrap();
    let empty = "SELECT 1 AS a WHERE false";
    assert_eq!(sql_csv(dir.path(), &["-e", empty]), "a\n");
    let output = sql(dir.path(), &["-q", "--format", "json", "-e", empty]);
    assert_eq!(stdout(&output).trim(), "[]");
}

#[test]
fn timings_go_to_stderr_and_rows_to_output_file() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--format",
        "csv",
        "--output",
        "out.csv",
        "-e",
        "SELECT 42 AS answer",
    ];
    let output = sql(dir.path(), &args);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "");
    assert!(
        stderr(&output).contains("-- 1 row in "),
        "{}",
        stderr(&output)
    );
    let written = std::fs::read_to_string(dir.path().join("out.csv")).unwrap();
    assert_eq!(written, "answer\n42\n");
}

#[test]
fn script_file_with_comments_runs_every_statement() {
    let dir = tempfile::tempdir().unwrap();
    let values = "SELECT * FROM (VALUES (1, 'a'), (2, 'b'), (3, 'c')) AS v(id, name)";
    write_parquet(dir.path(), "t.parquet", values);
    std::fs::write(
        dir.path().join("script.sql"),
        "-- register and query\nCREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION 't.parquet';\n\
         SELECT count(*) AS n FROM t; -- three\nSELECT name FROM t WHERE id = 2;\n",
    )
    .unwrap();
    assert_eq!(
        sql_csv(dir.path(), &["-f", "script.sql"]),
        "n\n3\nname\nb\n"
    );
}

#[test]
fn statements_piped_on_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(ember_binary())
        .current_dir(dir.path())
        .args(["sql", "-q", "--format", "csv"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let script = b"SELECT 1 AS x;\nSELECT 'two' AS y;\n";
    child.stdin.take().unwrap().write_all(script).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "x\n1\ny\ntwo\n");
}

#[test]
fn tables_from_files_directories_globs_and_hive_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let copy = "COPY (SELECT * FROM (VALUES (1, 2020), (2, 2020), (3, 2021)) AS v(id, year)) \
                TO 'events' STORED AS PARQUET PARTITIONED BY (year)";
    sql_csv(dir.path(), &["-e", copy]);
    write_parquet(dir.path(), "a.parquet", "SELECT 10 AS v");
    write_parquet(dir.path(), "b.parquet", "SELECT 20 AS v");
    let by_year =
        "SELECT year, count(*) AS n, sum(id) AS ids FROM events GROUP BY year ORDER BY year";
    let total = "SELECT sum(v) AS total FROM numbers";
    let tables = ["--table", "events=events", "--table", "numbers=*.parquet"];
    let args = [&tables[..], &["-e", by_year, "-e", total]].concat();
    assert_eq!(
        sql_csv(dir.path(), &args),
        "year,n,ids\n2020,2,3\n2021,1,3\ntotal\n30\n"
    );
}

#[test]
fn csv_and_json_inputs_with_format_by_extension_or_flag() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("people.csv"), "name,age\nada,36\nalan,41\n").unwrap();
    std::fs::write(
        dir.path().join("people.data"),
        "{\"name\":\"grace\",\"age\":85}\n",
    )
    .unwrap();
    let query = "SELECT name FROM csv_people WHERE age > 40 \
                 UNION ALL SELECT name FROM json_people ORDER BY name";
    let args = [
        "--table",
        "csv_people=people.csv",
        "--table",
        "json_people:json=people.data",
        "-e",
        query,
    ];
    assert_eq!(sql_csv(dir.path(), &args), "name\nalan\ngrace\n");
}

#[test]
fn spark_functions_are_registered() {
    let dir = tempfile::tempdir().unwrap();
    // `sha2` exists only in datafusion-spark (DataFusion has `sha256`).
    let digest = sql_csv(dir.path(), &["-e", "SELECT sha2('ember', 256) AS h"]);
    assert_eq!(
        digest,
        "h\n7cadc15d609c4ae9b4be6265b8e1cace16e6fa78a81ab0c7db82e687a7c867a5\n"
    );
}

#[test]
fn configuration_layers_command_line_over_file_over_environment() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("conf")).unwrap();
    let file = dir.path().join("conf/ember-defaults.conf");
    std::fs::write(&file, "ember.batch.size 200\n").unwrap();
    let batch_size = |extra: &[&str], env: bool| {
        let show = "SELECT value FROM information_schema.df_settings \
                    WHERE name = 'datafusion.execution.batch_size'";
        let mut command = Command::new(ember_binary());
        command
            .current_dir(dir.path())
            .args(["sql", "-q", "--format", "csv"])
            .args(extra)
            .args(["-e", show]);
        if env {
            command.env("EMBER_BATCH_SIZE", "100");
        }
        let output = command.output().unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
        stdout(&output).lines().nth(1).unwrap().to_string()
    };
    assert_eq!(batch_size(&["--conf", "ember.batch.size=300"], true), "300");
    assert_eq!(batch_size(&[], true), "200");
    std::fs::remove_file(&file).unwrap();
    assert_eq!(batch_size(&[], true), "100");
    assert_eq!(batch_size(&[], false), "8192");
}

#[test]
fn master_and_shuffle_partitions_set_target_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let name = "datafusion.execution.target_partitions";
    assert_eq!(setting(dir.path(), &["--master", "local[3]"], name), "3");
    let shuffle = [
        "--master",
        "local[3]",
        "--conf",
        "ember.sql.shuffle.partitions=7",
    ];
    assert_eq!(setting(dir.path(), &shuffle, name), "7");
    let set = ["-e", "SET ember.sql.shuffle.partitions = 5"];
    assert_eq!(setting(dir.path(), &set, name), "5");
    let batch = ["-e", "SET EMBER.BATCH.SIZE = 1024"];
    assert_eq!(
        setting(dir.path(), &batch, "datafusion.execution.batch_size"),
        "1024"
    );
    // SHOW lists every declared ember.* key: as set, else its declared default.
    assert_eq!(setting(dir.path(), &batch, "ember.batch.size"), "1024");
    let limit = ["--conf", "ember.memory.limit=3g"];
    assert_eq!(setting(dir.path(), &limit, "ember.memory.limit"), "3g");
    assert_eq!(setting(dir.path(), &[], "ember.store.max.retries"), "5");
}

#[test]
fn set_of_a_key_read_at_start_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = sql(dir.path(), &["-e", "SET ember.memory.limit = '3g'"]);
    assert_one_line_error(&output, 1, &["ember.memory.limit", "read once", "--conf"]);
    let output = sql(dir.path(), &["-e", "SET ember.sql.shuffle.partitions = 0"]);
    assert_one_line_error(
        &output,
        1,
        &["ember.sql.shuffle.partitions", "from SET", "at least 1"],
    );
}

#[test]
fn typos_that_ask_for_huge_resources_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let partitions = [
        "--conf",
        "ember.sql.shuffle.partitions=99999999",
        "-e",
        "SELECT 1",
    ];
    assert_one_line_error(
        &sql(dir.path(), &partitions),
        2,
        &["ember.sql.shuffle.partitions", "at most 10000"],
    );
    let cores = ["--master", "local[100000]", "-e", "SELECT 1"];
    assert_one_line_error(
        &sql(dir.path(), &cores),
        2,
        &["local[100000]", "at most 1024"],
    );
    let out = dir.path().join("tpch").display().to_string();
    let gen = [
        "gen", "tpch", "--scale", "0.01", "--out", &out, "--parts", "100000",
    ];
    let output = run_ember(dir.path(), gen);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("--parts"), "{}", stderr(&output));
    // A duration beyond a year (1e23 seconds panicked before).
    let timeout = [
        "--conf",
        "ember.cluster.connect.timeout=100000000000000000000000",
        "-e",
        "SELECT 1",
    ];
    assert_one_line_error(
        &sql(dir.path(), &timeout),
        2,
        &["ember.cluster.connect.timeout", "at most a year"],
    );
}

/// `n` copies of `term` joined by `operator`.
fn chain(term: &str, operator: &str, n: usize) -> String {
    vec![term; n].join(operator)
}

#[test]
fn deeply_nested_expressions_are_an_error_not_a_stack_overflow() {
    let dir = tempfile::tempdir().unwrap();
    // Both overflowed the stack and aborted the process before.
    for query in [
        format!("SELECT 1 WHERE {}", chain("x = 1", " OR ", 8000)),
        format!("SELECT {}", chain("1", " + ", 20_000)),
    ] {
        assert_one_line_error(
            &sql(dir.path(), &["-e", &query]),
            1,
            &["nest deeper than 1000 levels", "IN (...)"],
        );
    }
    // At the limit the statement runs, planned and evaluated by recursion on the binary's threads.
    let deepest = format!("SELECT {} AS total", chain("1", " + ", 1000));
    assert_eq!(sql_csv(dir.path(), &["-e", &deepest]), "total\n1000\n");
}

#[test]
fn the_memory_budget_defaults_to_a_share_of_the_machine() {
    let dir = tempfile::tempdir().unwrap();
    let budget = setting(dir.path(), &[], "ember.memory.limit");
    let bytes = ember::memory::parse_byte_size(&budget).unwrap();
    let machine = ember::memory::machine_memory().unwrap();
    // 70%, shown rounded down to the mebibyte.
    assert!(machine * 7 / 10 - bytes < 1 << 20, "{budget} of {machine}");
    let unlimited = ["--conf", "ember.memory.limit=unlimited"];
    assert_eq!(
        setting(dir.path(), &unlimited, "ember.memory.limit"),
        "unlimited"
    );
    let share = ["--conf", "ember.memory.limit=101%"];
    assert_one_line_error(&sql(dir.path(), &share), 2, &["ember.memory.limit", "100%"]);
}

#[test]
fn datafusion_keys_pass_through() {
    let dir = tempfile::tempdir().unwrap();
    let name = "datafusion.execution.parquet.pushdown_filters";
    assert_eq!(setting(dir.path(), &[], name), "false");
    let flip = format!("{name}=true");
    assert_eq!(setting(dir.path(), &["--conf", &flip], name), "true");
}

#[test]
fn hash_joins_collect_large_build_sides_unless_configured() {
    let dir = tempfile::tempdir().unwrap();
    let name = "datafusion.optimizer.hash_join_single_partition_threshold";
    let default = ember_core::state::COLLECT_BUILD_SIDE_MAX_BYTES.to_string();
    assert_eq!(setting(dir.path(), &[], name), default);
    let datafusion_default = format!("{name}=1048576");
    assert_eq!(
        setting(dir.path(), &["--conf", &datafusion_default], name),
        "1048576"
    );
}

#[test]
fn join_dynamic_filters_are_applied_above_parquet_scans() {
    let dir = tempfile::tempdir().unwrap();
    write_parquet(
        dir.path(),
        "t.parquet",
        "SELECT v, v % 7 AS w FROM generate_series(1, 10000) AS t(v)",
    );
    let join = "SELECT count(*) AS n FROM t AS big JOIN (SELECT v FROM t WHERE w = 0 AND v < 100) AS small \
                ON big.v = small.v";
    let explain = format!("EXPLAIN {join}");
    let text = sql_csv(
        dir.path(),
        &["--table", "t=t.parquet", "-e", join, "-e", &explain],
    );
    assert!(text.starts_with("n\n14\n"), "{text}");
    assert!(
        text.contains("FilterExec: selective(DynamicFilter"),
        "{text}"
    );
}

#[test]
fn missing_file_is_one_line_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let output = sql(
        dir.path(),
        &["--table", "t=/no/such/data.parquet", "-e", "SELECT 1"],
    );
    assert_one_line_error(&output, 1, &["table 't'", "/no/such/data.parquet"]);

    let ddl = "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '/no/such/dir/'";
    let output = sql(dir.path(), &["-e", ddl]);
    assert_one_line_error(&output, 1, &["CREATE EXTERNAL TABLE", "/no/such/dir"]);
}

/// Two Parquet files found by mutating others. The first's embedded Arrow schema declares an
/// integer of width 0, and arrow-ipc panics while the schema is read. The second has a
/// dictionary-encoded page without a dictionary, and the parquet crate panics while the scan
/// decodes it (in release builds too). Both panics are contained where they happen: the
/// statement fails with an error naming the file, and the process exits 1, not 101.
#[test]
fn a_library_panic_on_a_corrupt_file_fails_the_statement_not_the_process() {
    let corrupt = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/corrupt");
    let dir = tempfile::tempdir().unwrap();
    let run = |file: &str, query: &str| {
        let query = query.replace("FILE", &corrupt.join(file).display().to_string());
        let output = sql(dir.path(), &["-e", &query]);
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        let error = stderr(&output);
        error
            .lines()
            .find(|line| line.starts_with("error: "))
            .unwrap_or_else(|| panic!("no error line: {error}"))
            .to_string()
    };
    let schema = run(
        "arrow_schema_int_width_0.parquet",
        "SELECT count(*) FROM 'FILE'",
    );
    assert!(
        schema.contains("cannot read")
            && schema.contains("arrow_schema_int_width_0.parquet")
            && schema.contains("corrupt file")
            && schema.contains("bit width of 0"),
        "{schema}"
    );
    let pages = run(
        "dictionary_page_missing.parquet",
        "SELECT count(*), sum(x), max(y), min(s) FROM 'FILE'",
    );
    assert!(
        pages.contains("dictionary_page_missing.parquet")
            && pages.contains("corrupt file")
            && pages.contains("Decoder for dict")
            && !pages.contains("internal error"),
        "{pages}"
    );
}

#[test]
fn corrupt_parquet_is_one_line_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("broken.parquet"),
        b"PAR1 not really parquet",
    )
    .unwrap();
    let output = sql(
        dir.path(),
        &["--table", "t=broken.parquet", "-e", "SELECT * FROM t"],
    );
    assert_one_line_error(&output, 1, &["broken.parquet"]);

    // A file truncated after a valid start, among good ones.
    write_parquet(
        dir.path(),
        "good.parquet",
        "SELECT * FROM generate_series(1, 1000) AS t(v)",
    );
    let bytes = std::fs::read(dir.path().join("good.parquet")).unwrap();
    std::fs::create_dir(dir.path().join("set")).unwrap();
    std::fs::write(dir.path().join("set/a.parquet"), &bytes).unwrap();
    std::fs::write(dir.path().join("set/b.parquet"), &bytes[..bytes.len() / 2]).unwrap();
    let output = sql(
        dir.path(),
        &["--table", "t=set", "-e", "SELECT sum(v) FROM t"],
    );
    assert_one_line_error(&output, 1, &["b.parquet"]);
}

#[test]
fn bad_sql_names_the_statement_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let output = sql(dir.path(), &["-e", "SELEC 1"]);
    assert_one_line_error(&output, 1, &["statement `SELEC 1`"]);

    let script = "SELECT 1;\n\nSELECT * FROM missing_table;\nSELECT 3;\n";
    std::fs::write(dir.path().join("script.sql"), script).unwrap();
    let output = sql(dir.path(), &["-q", "--format", "csv", "-f", "script.sql"]);
    assert_one_line_error(&output, 1, &["statement 2 (line 3)", "missing_table"]);
    assert_eq!(
        stdout(&output),
        "Int64(1)\n1\n",
        "statements before the failure ran, none after"
    );
}

#[test]
fn unknown_configuration_key_suggests_the_nearest() {
    let dir = tempfile::tempdir().unwrap();
    let output = sql(
        dir.path(),
        &["--conf", "ember.bach.size=10", "-e", "SELECT 1"],
    );
    let needles = [
        "ember.bach.size",
        "--conf",
        "did you mean 'ember.batch.size'",
    ];
    assert_one_line_error(&output, 2, &needles);

    let output = sql(dir.path(), &["--master", "local[zero]", "-e", "SELECT 1"]);
    assert_one_line_error(&output, 2, &["local[zero]"]);

    let output = Command::new(ember_binary())
        .current_dir(dir.path())
        .env("EMBER_MEMORY_LIMT", "1g")
        .args(["sql", "-e", "SELECT 1"])
        .output()
        .unwrap();
    assert_one_line_error(&output, 2, &["EMBER_MEMORY_LIMT", "EMBER_MEMORY_LIMIT"]);
}

#[test]
fn memory_limit_spills_to_the_local_dir_instead_of_failing() {
    let dir = tempfile::tempdir().unwrap();
    let spill = dir.path().join("spill");
    let query = "SELECT count(*) AS n, max(r) AS top FROM (SELECT v, \
                 row_number() OVER (ORDER BY v DESC) AS r FROM generate_series(1, 2000000) AS t(v))";
    let explain = format!("EXPLAIN ANALYZE {query}");
    let local_dir = format!("ember.local.dir={}", spill.display());
    let limits = ["--master", "local[2]", "--conf", "ember.memory.limit=20m"];
    let args = [
        &limits[..],
        &["--conf", &local_dir, "-e", query, "-e", &explain],
    ]
    .concat();
    let text = sql_csv(dir.path(), &args);
    assert!(text.starts_with("n,top\n2000000,2000000\n"), "{text}");
    let spilled = text
        .split("spill_count=")
        .skip(1)
        .any(|rest| rest.starts_with(|c: char| c.is_ascii_digit() && c != '0'));
    assert!(
        spilled,
        "the sort should have spilled under a 20 MiB limit:\n{text}"
    );
    assert!(spill.is_dir(), "ember.local.dir is created for spill files");
}

#[test]
fn a_hash_join_out_of_memory_runs_again_with_plans_that_spill() {
    let dir = tempfile::tempdir().unwrap();
    // Both sides carry ~110 MB of strings, so a hash join's build side exceeds the budget.
    let side = |letter: char| {
        format!(
            "(SELECT v, concat(repeat('{letter}', 100), v) AS s \
             FROM generate_series(1, 1000000) AS t(v))"
        )
    };
    // The ten digits are a small build side: the rerun keeps its hash join.
    let query = format!(
        "SELECT count(*) AS n, sum(length(a.s) + length(b.s)) AS bytes FROM {} a JOIN {} b \
         ON a.v = b.v JOIN (VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9)) AS \
         digits(d) ON a.v % 10 = digits.d",
        side('x'),
        side('y')
    );
    let explain = format!("EXPLAIN ANALYZE {query}");
    let output = sql_under_budget(dir.path(), "96m", &[&query, &explain]);
    let (text, err) = (stdout(&output), stderr(&output));
    assert!(output.status.success(), "{err}");
    assert!(text.starts_with("n,bytes\n1000000,211777792\n"), "{text}");
    assert_eq!(
        err.matches("ran out of memory (ember.memory.limit)")
            .count(),
        2,
        "{err}"
    );
    assert!(text.contains("SortMergeJoin"), "{text}");
    assert!(text.contains("HashJoinExec: mode=CollectLeft"), "{text}");
    assert!(
        stats_show_a_spill(&err),
        "--stats shows what the statements spilled: {err}"
    );
    let spilled = text
        .split("spill_count=")
        .skip(1)
        .any(|rest| rest.starts_with(|c: char| c.is_ascii_digit() && c != '0'));
    assert!(spilled, "the sort-merge join's sorts should spill:\n{text}");
}

/// Runs `ember sql --stats --format csv` in `dir` on `local[2]` under a memory budget of `limit`,
/// spilling under `dir/spill`, with `statements` (each one `-e`).
fn sql_under_budget(dir: &Path, limit: &str, statements: &[&str]) -> Output {
    let budget = format!("ember.memory.limit={limit}");
    let local_dir = format!("ember.local.dir={}", dir.join("spill").display());
    let mut args = vec![
        "--master", "local[2]", "--format", "csv", "--stats", "--conf", &budget, "--conf",
        &local_dir,
    ];
    for statement in statements {
        args.extend(["-e", statement]);
    }
    sql(dir, &args)
}

/// Whether `stderr` of `ember sql --stats` says that some statement spilled bytes.
fn stats_show_a_spill(stderr: &str) -> bool {
    stderr
        .lines()
        .any(|line| line.contains("; spilled ") && !line.ends_with("; spilled 0 B"))
}

#[test]
fn sorts_under_a_tight_budget_spill_and_keep_their_order() {
    let dir = tempfile::tempdir().unwrap();
    // 400,000 rows of ~90 bytes, keys all distinct ((v * 7919) mod a prime), sorted as strings.
    write_parquet(
        dir.path(),
        "in.parquet",
        "SELECT v, concat(repeat('x', 80), (v * 7919) % 400009) AS s \
         FROM generate_series(1, 400000) AS t(v)",
    );
    let output = sql_under_budget(
        dir.path(),
        "24m",
        &[
            "COPY (SELECT * FROM 'in.parquet' ORDER BY s) TO 'sorted.parquet'",
            "SELECT v, substr(s, 81) AS k FROM 'in.parquet' ORDER BY s LIMIT 2 OFFSET 300000",
        ],
    );
    let (text, err) = (stdout(&output), stderr(&output));
    assert!(output.status.success(), "{err}");
    // Python: sorted((str(v * 7919 % 400009), v) for v in range(1, 400001))[300000:300002]
    assert!(
        text.ends_with("v,k\n11210,370001\n274532,370002\n"),
        "{text}"
    );
    assert!(stats_show_a_spill(&err), "the top-k query spills: {err}");

    let keys = sql_csv(
        dir.path(),
        &[
            "--master",
            "local[1]",
            "-e",
            "SELECT s FROM 'sorted.parquet'",
        ],
    );
    let keys: Vec<&str> = keys.lines().skip(1).collect();
    assert_eq!(keys.len(), 400_000);
    assert!(
        keys.windows(2).all(|pair| pair[0] < pair[1]),
        "the written file is in order"
    );
}

#[test]
fn aggregations_under_a_tight_budget_spill() {
    let dir = tempfile::tempdir().unwrap();
    let query = "SELECT count(*) AS groups, sum(c) AS rows, sum(s) AS total FROM (\
                 SELECT v % 100000 AS k, count(*) AS c, sum(v) AS s, \
                 max(concat(repeat('x', 60), v)) AS l \
                 FROM generate_series(1, 1000000) AS t(v) GROUP BY v % 100000)";
    let output = sql_under_budget(dir.path(), "8m", &[query]);
    let (text, err) = (stdout(&output), stderr(&output));
    assert!(output.status.success(), "{err}");
    assert_eq!(text, "groups,rows,total\n100000,1000000,500000500000\n");
    assert!(stats_show_a_spill(&err), "{err}");
}

#[test]
fn readme_documents_every_configuration_key() {
    let readme_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(readme_path).unwrap();
    let table = ember::config::keys_markdown();
    assert!(
        readme.contains(&table),
        "README.md's configuration table is out of date; paste this:\n{table}"
    );
}
