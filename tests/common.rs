//! Helpers shared by the end-to-end tests: running the `ember` binary as a process.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

/// The `ember` binary built for this test run.
pub fn ember_binary() -> &'static str {
    env!("CARGO_BIN_EXE_ember")
}

/// Runs `ember` with `args` in `dir` with no `EMBER_*` variables inherited, and returns its
/// output.
pub fn run_ember<I, S>(dir: &Path, args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut command = Command::new(ember_binary());
    command.current_dir(dir).args(args);
    for (name, _) in std::env::vars() {
        if name.starts_with("EMBER_") {
            command.env_remove(name);
        }
    }
    command.output().expect("the ember binary starts")
}

/// Runs `ember sql --quiet --format csv -e query` in `dir` with `extra` flags.
pub fn run_sql(dir: &Path, query: &str, extra: &[String]) -> Output {
    let mut args = vec!["sql", "--quiet", "--format", "csv", "-e", query];
    args.extend(extra.iter().map(String::as_str));
    run_ember(dir, &args)
}

/// The process's stdout as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The process's stderr as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Generates TPC-H data at `scale` into `dir` with `ember gen tpch`, panicking on failure.
pub fn generate_tpch(dir: &Path, scale: &str, extra: &[&str]) {
    std::fs::create_dir_all(dir).expect("data directory can be created");
    let out = dir.to_str().expect("utf-8 temp dir");
    let mut args = vec!["gen", "tpch", "--scale", scale, "--out", out];
    args.extend_from_slice(extra);
    let output = run_ember(dir, &args);
    assert!(
        output.status.success(),
        "ember gen failed: {}",
        stderr(&output)
    );
}

/// The repository's `tests/data` directory.
pub fn test_data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("data")
}

/// The eight TPC-H table names.
pub const TPCH_TABLES: [&str; 8] = [
    "customer", "lineitem", "nation", "orders", "part", "partsupp", "region", "supplier",
];

/// Every file under `dir`, at any depth (none if `dir` does not exist).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// Asserts a failure with `code` and exactly one stderr line containing every one of `needles`.
pub fn assert_one_line_error(output: &Output, code: i32, needles: &[&str]) {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(code), "stderr: {err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one error line expected, got: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    for needle in needles {
        assert!(lines[0].contains(needle), "'{needle}' missing from: {err}");
    }
}

/// The output of `child` once it exits; fails (killing it) if it still runs after `limit`.
pub fn exited_within(mut child: Child, limit: Duration) -> std::process::Output {
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            child.kill().unwrap();
            panic!("the process still ran after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.wait_with_output().unwrap()
}

/// Sends SIGINT to `child` only (not to its process group, as a terminal's Ctrl-C would).
pub fn interrupt(child: &Child) {
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}
