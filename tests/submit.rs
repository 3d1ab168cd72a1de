//! `ember submit` driven as a process: SQL scripts with variables, the failing statement's
//! line and exit code, configuration from a properties file, programs run with the submitted
//! configuration, and usage errors.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::common::{
    assert_one_line_error, ember_binary, exited_within, interrupt, run_ember, stderr, stdout,
};

/// A job that writes a Parquet file under `${out}`, reads it back and aggregates rows above
/// `${min}`, scaled by `${scale}`; statement 4 (line 6) fails when `${column}` is not a column.
const JOB: &str = "-- amounts, scaled
COPY (SELECT v AS id, v * ${scale} AS amount FROM generate_series(1, 10) AS t(v))
  TO '${out}/amounts.parquet' STORED AS PARQUET;
CREATE EXTERNAL TABLE amounts STORED AS PARQUET LOCATION '${out}/amounts.parquet';
SELECT count(*) AS n, sum(amount) AS total FROM amounts WHERE id > ${min};
SELECT ${column} FROM amounts ORDER BY 1 LIMIT 1;
SELECT 'after' AS marker;
";

/// Writes `JOB` as `job.sql` in `dir` and runs `ember submit --format csv ARGS... job.sql`.
fn submit(dir: &Path, args: &[&str]) -> Output {
    std::fs::write(dir.join("job.sql"), JOB).unwrap();
    let mut all = vec!["submit", "--format", "csv"];
    all.extend_from_slice(args);
    all.push("job.sql");
    run_ember(dir, all)
}

#[test]
fn a_sql_script_runs_in_order_with_its_variables() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().display().to_string();
    let vars = [
        "--var=scale=2",
        &format!("--var=out={out}"),
        "--var=min=5",
        "--var=column=amount",
    ];
    let output = submit(dir.path(), &vars);
    assert!(output.status.success(), "{}", stderr(&output));
    let printed = stdout(&output);
    assert!(printed.contains("n,total\n5,80\n"), "{printed}");
    assert!(printed.contains("amount\n2\n"), "{printed}");
    assert!(printed.ends_with("marker\nafter\n"), "{printed}");
    assert!(dir.path().join("amounts.parquet").exists());
}

#[test]
fn the_failing_statement_stops_the_script_with_its_line_and_exit_code_1() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().display().to_string();
    let vars = [
        "--quiet",
        "--var=scale=2",
        &format!("--var=out={out}"),
        "--var=min=5",
        "--var=column=nope",
    ];
    let output = submit(dir.path(), &vars);
    assert_one_line_error(&output, 1, &["statement 4 (line 6)", "nope"]);
    assert!(!stdout(&output).contains("after"), "a later statement ran");
}

#[test]
fn configuration_comes_from_a_properties_file_then_conf_flags() {
    let dir = tempfile::tempdir().unwrap();
    let properties = dir.path().join("job.conf");
    std::fs::write(
        &properties,
        "datafusion.execution.batch_size=777\nember.master=local[1]\n",
    )
    .unwrap();
    let script = "SELECT value FROM information_schema.df_settings \
                  WHERE name = 'datafusion.execution.${setting}'";
    std::fs::write(dir.path().join("settings.sql"), script).unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "submit",
            "--quiet",
            "--format",
            "csv",
            "--properties-file",
            "job.conf",
            "--var",
            "setting=batch_size",
        ];
        args.extend_from_slice(extra);
        args.push("settings.sql");
        run_ember(dir.path(), args)
    };
    let from_file = run(&[]);
    assert!(from_file.status.success(), "{}", stderr(&from_file));
    assert_eq!(stdout(&from_file), "value\n777\n");
    let overridden = run(&["--conf", "datafusion.execution.batch_size=99"]);
    assert_eq!(stdout(&overridden), "value\n99\n");
}

#[test]
fn usage_errors_exit_2_naming_the_input() {
    let dir = tempfile::tempdir().unwrap();
    let missing_var = submit(dir.path(), &["--var=scale=2"]);
    assert_one_line_error(
        &missing_var,
        2,
        &["job.sql", "line 3", "${out}", "--var out="],
    );
    let bad_var = submit(dir.path(), &["--var", "scale"]);
    assert_one_line_error(&bad_var, 2, &["--var 'scale' is not NAME=VALUE"]);
    let no_file = submit(dir.path(), &["--properties-file", "nowhere.conf"]);
    assert_one_line_error(&no_file, 2, &["--properties-file nowhere.conf"]);
    let arguments = run_ember(dir.path(), ["submit", "job.sql", "extra"]);
    assert_one_line_error(&arguments, 2, &["takes no arguments", "extra"]);
    let cores = submit(
        dir.path(),
        &["--master", "local[2]", "--executor-cores", "3"],
    );
    assert_one_line_error(
        &cores,
        2,
        &["--master local[2] and 3 executor cores disagree"],
    );
    let on_cluster = ["--master", "ember://127.0.0.1:1", "--executor-memory", "2g"];
    assert_one_line_error(
        &submit(dir.path(), &on_cluster),
        2,
        &["--executor-memory", "ember executor --memory SIZE"],
    );
    let bad_size = submit(dir.path(), &["--executor-memory", "lots"]);
    assert_eq!(bad_size.status.code(), Some(2));
    assert!(
        stderr(&bad_size).contains("--executor-memory"),
        "{}",
        stderr(&bad_size)
    );
    let unknown_flag = run_ember(dir.path(), ["submit", "--mastr", "local", "job.sql"]);
    assert_eq!(unknown_flag.status.code(), Some(2));
    let err = stderr(&unknown_flag);
    assert!(
        err.contains("'--mastr'") && err.contains("similar argument exists: '--master'"),
        "{err}"
    );
}

#[test]
fn a_program_runs_with_the_submitted_configuration_and_its_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    // A program that asks `ember sql` (configured from the environment, as
    // `Session::from_env` is) for a setting, echoes its arguments and exits 3.
    let app = dir.path().join("app.sh");
    std::fs::write(
        &app,
        "#!/bin/sh\n\"$1\" sql --quiet --format csv -e \"SELECT value FROM \
         information_schema.df_settings WHERE name = 'datafusion.execution.batch_size'\" \
         || exit 9\necho \"args: $2 $3\"\nexit 3\n",
    )
    .unwrap();
    std::fs::set_permissions(&app, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::write(
        dir.path().join("job.conf"),
        "datafusion.execution.batch_size=44\n",
    )
    .unwrap();
    let submit = |extra: &[&str]| {
        let mut args = vec!["submit", "--properties-file", "job.conf"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["app.sh", crate::common::ember_binary(), "--flag", "x"]);
        run_ember(dir.path(), args)
    };
    let from_file = submit(&[]);
    assert_eq!(stdout(&from_file), "value\n44\nargs: --flag x\n");
    assert_one_line_error(&from_file, 3, &["app.sh exited with code 3"]);
    let overridden = submit(&["--conf", "datafusion.execution.batch_size=55"]);
    assert_eq!(stdout(&overridden), "value\n55\nargs: --flag x\n");
    // The master reaches the program too: an unreachable one fails its `ember sql`.
    let unreachable = submit(&["--master", "ember://127.0.0.1:1"]);
    assert_eq!(
        unreachable.status.code(),
        Some(9),
        "{}",
        stderr(&unreachable)
    );
    assert!(
        stderr(&unreachable).contains("127.0.0.1:1"),
        "{}",
        stderr(&unreachable)
    );
    let with_var = submit(&["--var", "a=b"]);
    assert_one_line_error(&with_var, 2, &["--var fills in SQL scripts"]);
    let missing = run_ember(dir.path(), ["submit", "nowhere.sh"]);
    assert_one_line_error(&missing, 2, &["nowhere.sh: no such program"]);
}

/// The program `a_rust_program_gets_the_submitted_configuration_from_session_from_env`
/// submits: this test binary, run by `ember submit` with a filter that selects only this
/// function. It reads its configuration with `Session::from_env()`, prints what it got and
/// exits 3.
#[test]
#[ignore = "the body of a program that ember submit runs, not a test on its own"]
fn submitted_rust_program() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let settings = runtime.block_on(async {
        let session = ember::Session::from_env().expect("the submitted configuration");
        println!("master {}", session.master());
        println!("memory {}", session.config().memory_limit());
        let frame = session
            .sql(
                "SELECT name, value FROM information_schema.df_settings WHERE name IN \
                 ('datafusion.execution.batch_size', 'datafusion.execution.target_partitions') \
                 ORDER BY name",
            )
            .await
            .unwrap();
        frame.collect().await.unwrap()
    });
    let table = ember::datafusion::arrow::util::pretty::pretty_format_batches(&settings).unwrap();
    println!("{table}");
    std::process::exit(3);
}

#[test]
fn a_rust_program_gets_the_submitted_configuration_from_session_from_env() {
    let dir = tempfile::tempdir().unwrap();
    let program = std::env::current_exe().unwrap();
    let program = program.to_str().unwrap();
    let output = run_ember(
        dir.path(),
        [
            "submit",
            "--executor-cores",
            "3",
            "--executor-memory",
            "1g",
            "--conf",
            "datafusion.execution.batch_size=77",
            program,
            "--ignored",
            "--exact",
            "submit::submitted_rust_program",
            "--nocapture",
        ],
    );
    let printed = stdout(&output);
    assert_eq!(
        output.status.code(),
        Some(3),
        "{printed}{}",
        stderr(&output)
    );
    for line in [
        "master local[3]",
        "memory 1g",
        "| datafusion.execution.batch_size        | 77    |",
        "| datafusion.execution.target_partitions | 3     |",
    ] {
        assert!(printed.contains(line), "{line}: {printed}");
    }
}

#[test]
fn the_quickstart_script_answers_trains_evaluates_and_writes_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("tpch");
    crate::common::generate_tpch(&data, "0.01", &[]);
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart/quickstart.sql");
    let output = run_ember(
        dir.path(),
        [
            "submit".to_string(),
            "--quiet".into(),
            "--format".into(),
            "csv".into(),
            "--conf".into(),
            format!("ember.ml.model.dir={}", out.join("models").display()),
            "--var".into(),
            format!("data={}", data.display()),
            "--var".into(),
            format!("out={}", out.display()),
            script.display().to_string(),
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let printed = stdout(&output);
    assert!(printed.contains("roc_auc,pr_auc,log_loss"), "{printed}");
    let summary = printed.lines().last().unwrap();
    let fields: Vec<&str> = summary.split(',').collect();
    assert_eq!(fields[0], "5", "five regions: {summary}");
    assert!(fields[1].parse::<u64>().unwrap() > 1000, "{summary}");
    let accuracy: f64 = fields[2].parse().unwrap();
    assert!(accuracy > 0.8, "held-out accuracy {accuracy}");
    for file in ["revenue_by_region.parquet", "late_predictions.parquet"] {
        assert!(out.join(file).exists(), "{file}");
    }
    assert!(out.join("models/late_shipments").exists());
}

/// Writes `progress.sql` in `dir`: statement 2 (line 2) reads 2M rows written by statement 1,
/// long enough to be reported on; its CSV result is [`PROGRESS_RESULT`].
fn write_progress_job(dir: &Path) {
    let rows = dir.join("rows.parquet");
    let script = format!(
        "COPY (SELECT v, v % 7 AS k FROM generate_series(1, 2000000) AS t(v)) TO '{0}' \
         STORED AS PARQUET OPTIONS (mode 'overwrite');\nSELECT k, count(DISTINCT v) AS n FROM '{0}' GROUP BY k \
         ORDER BY k LIMIT 1;",
        rows.display()
    );
    std::fs::write(dir.join("progress.sql"), script).unwrap();
}

/// What `progress.sql` prints with `--format csv`.
const PROGRESS_RESULT: &str = "count\n2000000\nk,n\n0,285714\n";

#[test]
fn progress_lines_report_a_running_statement_unless_quiet() {
    let dir = tempfile::tempdir().unwrap();
    write_progress_job(dir.path());
    let run = |flag: &str| {
        let output = run_ember(
            dir.path(),
            ["submit", flag, "--format", "csv", "progress.sql"],
        );
        assert!(output.status.success(), "{}", stderr(&output));
        assert_eq!(stdout(&output), PROGRESS_RESULT);
        stderr(&output)
    };
    let reported = run("--progress-interval=20ms");
    let progress: Vec<&str> = reported
        .lines()
        .filter(|line| line.starts_with("-- statement 2 (line 2)") && line.contains(" running: "))
        .collect();
    // Planning, then what the scans have read.
    assert!(
        progress.iter().any(|line| line.contains(" rows, ")),
        "no rows read: {reported}"
    );
    assert!(
        progress
            .iter()
            .all(|line| line.contains(" rows, ") || line.ends_with(", preparing")),
        "{reported}"
    );
    assert_eq!(run("--quiet"), "");
}

#[test]
fn a_terminal_gets_a_live_line_redrawn_in_place_with_rows_printed_above_it() {
    let dir = tempfile::tempdir().unwrap();
    write_progress_job(dir.path());
    // `script` (util-linux) runs the submission on a pseudo-terminal and copies what it shows.
    let command = format!(
        "stty cols 160 rows 40; exec '{}' submit --progress-interval=20ms --format csv \
         progress.sql",
        ember_binary()
    );
    let mut script = Command::new("script");
    script.current_dir(dir.path()).args([
        "--quiet",
        "--return",
        "--command",
        &command,
        "/dev/null",
    ]);
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("EMBER_")) {
        script.env_remove(name);
    }
    let output = script.output().expect("script (util-linux) runs");
    let shown = stdout(&output);
    assert!(output.status.success(), "{shown}{}", stderr(&output));
    // A live line: redrawn (erase-line escapes), elapsed first, the statement last.
    let live: Vec<&str> = shown
        .split(['\r', '\n'])
        .filter(|line| line.contains(" · statement 2 (line 2) `SELECT k"))
        .collect();
    assert!(shown.contains("\x1b[2K"), "{shown:?}");
    assert!(
        live.iter()
            .any(|line| line.contains(" s] ") && line.contains(" rows, ")),
        "{shown:?}"
    );
    assert!(
        !shown.contains("running: "),
        "no plain lines on a terminal: {shown:?}"
    );
    // The result rows come out whole, above the live line.
    let rows: String = shown
        .replace("\r\n", "\n")
        .split('\n')
        .map(|line| line.rsplit("\x1b[2K").next().unwrap_or(line))
        .filter(|line| !line.contains(" · statement ") && !line.starts_with("-- "))
        .map(|line| format!("{line}\n"))
        .collect();
    assert!(rows.starts_with(PROGRESS_RESULT), "{rows:?}");
}

#[test]
fn ctrl_c_stops_a_local_model_fit_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    // Boosting 100,000 trees takes hours; the fit's loop must not hold up the interrupt.
    std::fs::write(
        dir.path().join("fit.sql"),
        "CREATE MODEL endless OPTIONS (model_type = 'gbt_regressor', label = 'y', \
         features = ['x'], num_trees = 100000) \
         AS SELECT v AS x, v % 7 AS y FROM generate_series(1, 20000) AS t(v);",
    )
    .unwrap();
    let models = format!("ember.ml.model.dir={}", dir.path().join("models").display());
    let submitted = Command::new(ember_binary())
        .current_dir(dir.path())
        .args([
            "submit",
            "--conf",
            &models,
            "--progress-interval",
            "200ms",
            "fit.sql",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Well into the fit (its progress lines say so).
    std::thread::sleep(Duration::from_secs(4));
    interrupt(&submitted);
    let output = exited_within(submitted, Duration::from_secs(15));
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(130), "{err}");
    assert!(
        err.contains("running: ") && err.ends_with("error: cancelled\n"),
        "{err}"
    );
    assert!(!dir.path().join("models/endless").exists());
}
