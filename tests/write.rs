//! Atomic writes: `COPY ... TO` with save modes and Hive partitions, on local disk and on a real
//! S3 server, and a writer killed mid-job leaving the previous dataset as it was.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{ember_binary, files_under, generate_tpch, run_sql, stderr, stdout};
use crate::s3_server::S3Server;

/// Runs `ember sql --quiet --format csv -e query` in `dir` with `extra` flags; panics on failure.
fn sql(dir: &Path, query: &str, extra: &[String]) -> String {
    let output = run_sql(dir, query, extra);
    assert!(output.status.success(), "{query}: {}", stderr(&output));
    stdout(&output)
}

#[test]
fn partitioned_copy_round_trips_through_s3_and_modes_guard_the_target() {
    let server = S3Server::start();
    server.create_bucket("lake");
    let data = tempfile::tempdir().unwrap();
    generate_tpch(data.path(), "0.01", &[]);
    server.upload(
        "lake",
        "tpch/lineitem.parquet",
        &data.path().join("lineitem.parquet"),
    );
    let conf = server.conf();
    let dir = data.path();
    let summary = "SELECT l_returnflag, count(*) AS n, sum(l_quantity) AS q FROM '{}' \
                   GROUP BY l_returnflag ORDER BY l_returnflag";
    let expected = sql(
        dir,
        &summary.replace("{}", "s3://lake/tpch/lineitem.parquet"),
        &conf,
    );

    let copy = "COPY (SELECT * FROM 's3://lake/tpch/lineitem.parquet') TO 's3://lake/by_flag/' \
                STORED AS PARQUET PARTITIONED BY (l_returnflag) OPTIONS (compression 'zstd(3)')";
    sql(dir, copy, &conf);
    let keys = server.list("lake", "by_flag");
    assert!(keys.contains(&"by_flag/_SUCCESS".to_string()), "{keys:?}");
    for flag in ["A", "N", "R"] {
        let prefix = format!("by_flag/l_returnflag={flag}/");
        assert!(keys.iter().any(|k| k.starts_with(&prefix)), "{keys:?}");
    }
    let nothing_staged = server.list("lake", "");
    assert!(
        nothing_staged.iter().all(|k| !k.contains("ember-staging")),
        "{nothing_staged:?}"
    );
    assert_eq!(
        sql(dir, &summary.replace("{}", "s3://lake/by_flag/"), &conf),
        expected
    );

    // The default mode refuses an existing target and leaves it as it was.
    let refused = run_sql(dir, copy, &conf);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("s3://lake/by_flag/: it already exists"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(server.list("lake", "by_flag"), keys);

    // Append adds files beside the old ones; overwrite replaces every old object.
    let one_row = "COPY (SELECT 'A' AS l_returnflag, CAST(1 AS DECIMAL(15, 2)) AS l_quantity) TO 's3://lake/by_flag/' \
                   STORED AS PARQUET PARTITIONED BY (l_returnflag) OPTIONS (mode '{}')";
    sql(dir, &one_row.replace("{}", "append"), &conf);
    let count = "SELECT count(*) AS n FROM 's3://lake/by_flag/'";
    let total: usize = expected
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().parse::<usize>().unwrap())
        .sum();
    assert_eq!(sql(dir, count, &conf), format!("n\n{}\n", total + 1));
    sql(dir, &one_row.replace("{}", "overwrite"), &conf);
    assert_eq!(sql(dir, count, &conf), "n\n1\n");
    let after = server.list("lake", "by_flag");
    assert_eq!(after.len(), 2, "one data object and _SUCCESS: {after:?}");
}

#[test]
fn local_copy_modes_replace_append_and_refuse() {
    let dir = tempfile::tempdir().unwrap();
    let copy = "COPY (SELECT v, v % 3 AS k FROM generate_series(1, 30) t(v)) TO 'out' \
                STORED AS PARQUET PARTITIONED BY (k) OPTIONS (mode '{}')";
    sql(dir.path(), &copy.replace("{}", "error"), &[]);
    assert!(dir.path().join("out/_SUCCESS").is_file());
    assert!(dir.path().join("out/k=2").is_dir());
    let refused = run_sql(dir.path(), &copy.replace("{}", "error"), &[]);
    assert!(
        stderr(&refused).contains("already exists"),
        "{}",
        stderr(&refused)
    );
    sql(dir.path(), &copy.replace("{}", "append"), &[]);
    let count = "SELECT count(*) AS n FROM 'out'";
    assert_eq!(sql(dir.path(), count, &[]), "n\n60\n");
    // One session: a statement after an overwrite reads the new files, not a cached listing.
    let script = format!("{count}; {}; {count}", copy.replace("{}", "overwrite"));
    assert_eq!(sql(dir.path(), &script, &[]), "n\n60\ncount\n30\nn\n30\n");
    let capped =
        "COPY (SELECT v FROM generate_series(1, 100) t(v)) TO 'capped/' STORED AS PARQUET \
                  OPTIONS (max_records_per_file {})";
    // Files close at the first batch boundary past the cap; without it DataFusion writes 4 files.
    let small_batches = ["--conf".to_string(), "ember.batch.size=5".to_string()];
    sql(dir.path(), &capped.replace("{}", "10"), &small_batches);
    let files = list_local(&dir.path().join("capped"));
    assert!(
        files.len() > 10,
        "at least 10 files of at most 10 rows: {files:?}"
    );
    let refused = run_sql(dir.path(), &capped.replace("{}", "0"), &[]);
    assert!(stderr(&refused).contains("max_records_per_file must be a positive integer"));
    let single = "COPY (SELECT 1 AS v) TO 'one.parquet' OPTIONS (mode 'append')";
    let refused = run_sql(dir.path(), single, &[]);
    assert!(
        stderr(&refused).contains("needs a directory target"),
        "{}",
        stderr(&refused)
    );
    // An overwrite of a file replaces it and says it did (it reported a failure once the file
    // was replaced).
    sql(dir.path(), "COPY (SELECT 1 AS v) TO 'one.parquet'", &[]);
    let replace = "COPY (SELECT 2 AS v) TO 'one.parquet' OPTIONS (mode 'overwrite')";
    sql(dir.path(), replace, &[]);
    assert_eq!(
        sql(dir.path(), "SELECT v FROM 'one.parquet'", &[]),
        "v\n2\n"
    );
    let hidden: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with('.'))
        .collect();
    assert!(hidden.is_empty(), "staging left behind: {hidden:?}");
}

#[test]
fn overwrite_refuses_a_directory_of_other_files_and_explain_analyze_never_writes() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir_all(home.join("k=1")).unwrap();
    std::fs::write(home.join("k=1/part-0.parquet"), b"not read").unwrap();
    std::fs::write(home.join("notes.txt"), b"keep me").unwrap();
    // Overwrite deleted everything under any directory it was pointed at.
    let overwrite = "COPY (SELECT 1 AS v) TO 'home' STORED AS PARQUET OPTIONS (mode 'overwrite')";
    let refused = run_sql(dir.path(), overwrite, &[]);
    assert!(
        stderr(&refused).contains("holds 'notes.txt', which is no dataset's file"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(std::fs::read(home.join("notes.txt")).unwrap(), b"keep me");
    // EXPLAIN ANALYZE ran the COPY straight into its target, past its save mode.
    let explained = run_sql(
        dir.path(),
        "EXPLAIN ANALYZE COPY (SELECT 1 AS v) TO 'explained' STORED AS PARQUET",
        &[],
    );
    assert!(!explained.status.success());
    assert!(
        stderr(&explained).contains("run the COPY itself"),
        "{}",
        stderr(&explained)
    );
    assert!(!dir.path().join("explained").exists());
}

/// Runs an overwrite of `out` (30 rows, replacing 60) that the failpoint `point` kills, and
/// returns the rows `out` holds afterwards.
fn rows_after_an_overwrite_killed_at(dir: &Path, point: &str) -> String {
    let overwrite = "COPY (SELECT v FROM generate_series(1, 30) t(v)) TO 'out' \
                     STORED AS PARQUET OPTIONS (mode 'overwrite')";
    let output = Command::new(ember_binary())
        .current_dir(dir)
        .args(["sql", "--quiet", "-e", overwrite])
        .env("FAILPOINTS", point)
        .output()
        .unwrap();
    assert!(
        stderr(&output).contains(&format!("failpoint {point}")),
        "{}",
        stderr(&output)
    );
    assert!(!output.status.success());
    sql(dir, "SELECT count(*) AS n FROM 'out'", &[])
}

#[test]
fn an_append_killed_while_it_moves_its_files_in_is_finished_before_the_next_read() {
    let dir = tempfile::tempdir().unwrap();
    sql(
        dir.path(),
        "COPY (SELECT v FROM generate_series(1, 60) t(v)) TO 'out' STORED AS PARQUET",
        &[],
    );
    // 30,000 rows in batches of 1,000, a file every 10,000: three files to move in.
    let append = |point: &str| {
        let append = "COPY (SELECT v FROM generate_series(1, 30000) t(v)) TO 'out' \
                      STORED AS PARQUET OPTIONS (mode 'append')";
        let output = Command::new(ember_binary())
            .current_dir(dir.path())
            .args(["sql", "--quiet", "-e", append])
            .args(["--conf", "ember.batch.size=1000"])
            .args([
                "--conf",
                "datafusion.execution.soft_max_rows_per_output_file=10000",
            ])
            .env("FAILPOINTS", point)
            .output()
            .unwrap();
        assert!(
            !output.status.success() && stderr(&output).contains(&format!("failpoint {point}")),
            "{}",
            stderr(&output)
        );
    };
    // Killed after its first file moved in: its journal is there, and the next read finishes it.
    append("commit.append.moved_a_file");
    let journaled = list_local(&dir.path().join("out"))
        .iter()
        .any(|file| file.starts_with("_ember_append."));
    assert!(journaled, "{:?}", list_local(&dir.path().join("out")));
    assert_eq!(
        sql(dir.path(), "SELECT count(*) AS n FROM 'out'", &[]),
        "n\n30060\n"
    );
    let left: Vec<String> = list_local(&dir.path().join("out"))
        .into_iter()
        .filter(|file| !file.ends_with(".parquet"))
        .collect();
    assert_eq!(left, ["_SUCCESS"]);
    let staged = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|entry| entry.as_ref().unwrap().file_name() != "out")
        .count();
    assert_eq!(staged, 0, "a staging directory outlived its append");
    // Killed before its commit point: the dataset as it was.
    append("commit.begin");
    assert_eq!(
        sql(dir.path(), "SELECT count(*) AS n FROM 'out'", &[]),
        "n\n30060\n"
    );
}

#[test]
fn an_overwrite_killed_at_any_commit_step_leaves_the_old_or_the_new_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let write_old = "COPY (SELECT v FROM generate_series(1, 60) t(v)) TO 'out' \
                     STORED AS PARQUET OPTIONS (mode 'overwrite')";
    sql(dir.path(), write_old, &[]);
    // Before the commit: the old dataset, whole.
    let before = rows_after_an_overwrite_killed_at(dir.path(), "commit.begin");
    assert_eq!(before, "n\n60\n");
    // After the two directories were exchanged, before the old one was removed: the new one.
    let after = rows_after_an_overwrite_killed_at(dir.path(), "replace.exchanged");
    assert_eq!(after, "n\n30\n");
    assert!(dir.path().join("out/_SUCCESS").is_file());
    // The target was never missing: a write that must not replace it is refused.
    let create = "COPY (SELECT 1 AS v) TO 'out' STORED AS PARQUET OPTIONS (mode 'error')";
    let refused = run_sql(dir.path(), create, &[]);
    assert!(
        stderr(&refused).contains("already exists"),
        "{}",
        stderr(&refused)
    );
    // Where there is no atomic exchange, an overwrite killed after it moved the old dataset
    // aside (as here) left nothing at the target: the next read moves the old one back.
    std::fs::rename(dir.path().join("out"), dir.path().join(".out.replaced-1")).unwrap();
    let count = "SELECT count(*) AS n FROM 'out'";
    assert_eq!(sql(dir.path(), count, &[]), "n\n30\n");
    assert!(!dir.path().join(".out.replaced-1").exists());
}

/// A COPY that runs for minutes in a debug build, writing a new file every 100,000 rows.
const LONG_COPY: &str =
    "COPY (SELECT v, repeat('x', 40) AS pad FROM generate_series(1, 500000000) t(v)) \
                         TO '{}' STORED AS PARQUET OPTIONS (mode 'overwrite')";

/// Starts `LONG_COPY` to `target` in `dir`, waits until `staged()` reports data written to the
/// staging location, kills the process (SIGKILL) and returns.
fn kill_mid_copy(dir: &Path, target: &str, extra: &[String], staged: impl Fn() -> bool) {
    let query = LONG_COPY.replace("{}", target);
    let mut child = Command::new(ember_binary())
        .current_dir(dir)
        .args(["sql", "--quiet", "-e", &query])
        .args([
            "--conf",
            "datafusion.execution.soft_max_rows_per_output_file=100000",
        ])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ember starts");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !staged() {
        assert!(
            Instant::now() < deadline,
            "the COPY staged nothing within 2 minutes"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the COPY ended before it was killed"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn a_killed_copy_leaves_the_previous_dataset_unchanged() {
    // Local disk: the previous dataset's files stay exactly as they were.
    let dir = tempfile::tempdir().unwrap();
    let previous = "COPY (SELECT v FROM generate_series(1, 5) t(v)) TO 'out/' STORED AS PARQUET";
    sql(dir.path(), previous, &[]);
    let files_before = list_local(&dir.path().join("out"));
    let staged_locally = || {
        std::fs::read_dir(dir.path()).unwrap().any(|entry| {
            let entry = entry.unwrap();
            entry
                .file_name()
                .to_string_lossy()
                .contains("ember-staging")
                && std::fs::read_dir(entry.path()).is_ok_and(|mut files| files.next().is_some())
        })
    };
    kill_mid_copy(dir.path(), "out/", &[], staged_locally);
    assert_eq!(list_local(&dir.path().join("out")), files_before);
    assert_eq!(
        sql(dir.path(), "SELECT count(*) AS n FROM 'out/'", &[]),
        "n\n5\n"
    );

    // S3: no object of the killed job appears under the target.
    let server = S3Server::start();
    server.create_bucket("lake");
    let conf = server.conf();
    let previous =
        "COPY (SELECT v FROM generate_series(1, 5) t(v)) TO 's3://lake/out/' STORED AS PARQUET";
    sql(dir.path(), previous, &conf);
    let objects_before = server.list("lake", "out");
    let staged_on_s3 = || {
        server
            .list("lake", "")
            .iter()
            .any(|key| key.contains("ember-staging") && key.ends_with(".parquet"))
    };
    kill_mid_copy(dir.path(), "s3://lake/out/", &conf, staged_on_s3);
    assert_eq!(server.list("lake", "out"), objects_before);
    let count = sql(
        dir.path(),
        "SELECT count(*) AS n FROM 's3://lake/out/'",
        &conf,
    );
    assert_eq!(count, "n\n5\n");
}

/// Every file under `dir`, relative and sorted.
fn list_local(dir: &Path) -> Vec<String> {
    let mut files: Vec<String> = files_under(dir)
        .iter()
        .map(|file| file.strip_prefix(dir).unwrap().display().to_string())
        .collect();
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dataframes_write_through_the_same_atomic_path() {
    use ember::{FileFormatKind, Session, WriteMode};
    let dir = tempfile::tempdir().unwrap();
    let session = Session::builder().master("local[2]").build().unwrap();
    let rows = session
        .sql("SELECT v, v % 2 AS parity FROM generate_series(1, 10) t(v)")
        .await
        .unwrap();
    let target = dir.path().join("parity").display().to_string();
    let written = session
        .write(
            rows.clone(),
            &target,
            FileFormatKind::Parquet,
            WriteMode::ErrorIfExists,
            &["parity"],
        )
        .await
        .unwrap();
    assert_eq!(written, 10);
    assert!(dir.path().join("parity/parity=0").is_dir());
    let again = session
        .write(
            rows,
            &target,
            FileFormatKind::Parquet,
            WriteMode::ErrorIfExists,
            &["parity"],
        )
        .await
        .unwrap_err();
    assert!(again.to_string().contains("already exists"), "{again}");
    let read = session.read(&target).await.unwrap().count().await.unwrap();
    assert_eq!(read, 10);
}
