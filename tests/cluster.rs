//! Cluster mode end to end: `ember scheduler` and `ember executor` processes on 127.0.0.1 with
//! ephemeral ports, and `ember sql --master ember://...` against them.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::{
    ember_binary, exited_within, files_under, generate_tpch, interrupt, run_ember, stderr, stdout,
    test_data,
};
use crate::tpch::{check_all_queries, run_tpch_query};

/// How long a daemon may take to print its address.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// A daemon process, killed when dropped.
struct Daemon {
    child: Child,
    address: String,
}

impl Daemon {
    /// Starts `ember ARGS` with `env` added to its environment, its diagnostics written to
    /// `log`, and waits for its `listening on HOST:PORT` line.
    fn start(dir: &Path, args: &[&str], env: &[(String, String)], log: &Path) -> Daemon {
        let log = std::fs::File::create(log).expect("a daemon's log file");
        let mut child = Command::new(ember_binary())
            .current_dir(dir)
            .args(args)
            .envs(env.iter().map(|(name, value)| (name, value)))
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("the ember binary starts");
        let stdout = child.stdout.take().unwrap();
        let (lines, received) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let line = received.recv_timeout(STARTUP_TIMEOUT);
        let mut daemon = Daemon {
            child,
            address: String::new(),
        };
        match line {
            Ok(line) => match line.strip_prefix("listening on ") {
                Some(address) => daemon.address = address.to_string(),
                None => panic!("ember {args:?} printed '{line}' instead of its address"),
            },
            Err(_) => panic!("ember {args:?} printed no address within {STARTUP_TIMEOUT:?}"),
        }
        daemon
    }
}

impl Daemon {
    /// Sends SIGTERM (what `kill PID` and service managers send) and waits for the process to
    /// exit; returns whether it exited successfully.
    fn terminate(mut self) -> bool {
        let terminated = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .is_ok_and(|status| status.success());
        assert!(terminated, "kill -TERM failed");
        self.child.wait().is_ok_and(|status| status.success())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Failure detection for the fault test: an executor is lost after 5 s of silence. Only that test
/// uses it: on a loaded CI machine a busy executor could miss heartbeats for that long and be
/// stopped by the scheduler.
const FAST_FAILURE_DETECTION: &[&str] = &[
    "--conf",
    "ember.cluster.executor.timeout=5s",
    "--conf",
    "ember.cluster.heartbeat.interval=1s",
];

/// No extra configuration for a test cluster.
pub(crate) const NO_CONF: &[&str] = &[];

/// A scheduler and its executors of one core each, all started with `conf` flags and the same
/// environment additions, their diagnostics kept in log files.
pub(crate) struct Cluster {
    dir: std::path::PathBuf,
    conf: Vec<String>,
    env: Vec<(String, String)>,
    logs: tempfile::TempDir,
    scheduler: Daemon,
    executors: Vec<Daemon>,
}

impl Cluster {
    /// Starts a scheduler and `executors` one-core executors in `dir`, all with `conf` flags.
    pub(crate) fn start(dir: &Path, executors: usize, conf: &[impl AsRef<str>]) -> Cluster {
        Self::start_with_env(dir, executors, conf, &[])
    }

    /// [`Cluster::start`], with `env` added to every daemon's environment.
    pub(crate) fn start_with_env(
        dir: &Path,
        executors: usize,
        conf: &[impl AsRef<str>],
        env: &[(&str, &str)],
    ) -> Cluster {
        let conf: Vec<String> = conf.iter().map(|flag| flag.as_ref().to_string()).collect();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        let logs = tempfile::tempdir().expect("a directory for the daemons' logs");
        let mut args = vec!["scheduler", "--port", "0"];
        args.extend(conf.iter().map(String::as_str));
        let scheduler = Daemon::start(dir, &args, &env, &logs.path().join("scheduler.log"));
        let mut cluster = Cluster {
            dir: dir.to_path_buf(),
            conf,
            env,
            logs,
            scheduler,
            executors: Vec::new(),
        };
        for _ in 0..executors {
            cluster.add_executor();
        }
        cluster
    }

    /// Everything the daemons have logged so far (started ones and stopped ones).
    pub(crate) fn logs(&self) -> String {
        let mut files = files_under(self.logs.path());
        files.sort();
        files
            .iter()
            .map(|file| std::fs::read_to_string(file).expect("a daemon's log"))
            .collect()
    }

    /// Starts one more executor and waits until it has registered.
    fn add_executor(&mut self) {
        let mut args = vec![
            "executor",
            "--scheduler",
            &self.scheduler.address,
            "--port",
            "0",
            "--cores",
            "1",
        ];
        args.extend(self.conf.iter().map(String::as_str));
        // Numbered by the logs so far: a replacement executor gets a log of its own.
        let started = files_under(self.logs.path()).len();
        let log = self.logs.path().join(format!("executor-{started}.log"));
        let executor = Daemon::start(&self.dir, &args, &self.env, &log);
        self.executors.push(executor);
    }

    /// The `ember://host:port` master URL of the scheduler.
    pub(crate) fn master(&self) -> String {
        format!("ember://{}", self.scheduler.address)
    }

    /// The cluster's task slots, all and free, as the scheduler serves them to tree fits.
    pub(crate) fn task_slots(&self) -> (u64, u64) {
        let url = format!("http://{}/api/ember/slots", self.scheduler.address);
        let slots: serde_json::Value = tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(async { reqwest::get(&url).await.unwrap().json().await.unwrap() });
        (
            slots["total"].as_u64().unwrap(),
            slots["free"].as_u64().unwrap(),
        )
    }

    /// The configuration of every job the scheduler knows, as its REST API serves them to
    /// anyone who can reach its port (JSON text, one object per job).
    pub(crate) fn job_configs(&self) -> String {
        self.rest_answers(&["config"], &[])
    }

    /// Every answer of the scheduler's REST API without TLS: each of `job_paths` under
    /// `/api/job/ID/` (`""`: that URL itself) for every job it knows, then each of `paths` under `/api/`; the answers'
    /// text, one a line.
    pub(crate) fn rest_answers(&self, job_paths: &[&str], paths: &[&str]) -> String {
        let api = format!("http://{}/api", self.scheduler.address);
        let get = |url: String| async move {
            let reply = reqwest::get(&url).await.unwrap();
            assert!(reply.status().is_success(), "GET {url}: {}", reply.status());
            reply.text().await.unwrap()
        };
        tokio::runtime::Runtime::new().unwrap().block_on(async {
            let jobs = get(format!("{api}/jobs")).await;
            let jobs: serde_json::Value = serde_json::from_str(&jobs).unwrap();
            let mut answers = Vec::new();
            for job in jobs.as_array().unwrap() {
                let id = job["job_id"].as_str().unwrap();
                for path in job_paths {
                    let url = format!("{api}/job/{id}/{path}");
                    answers.push(get(url.trim_end_matches('/').to_string()).await);
                }
            }
            for path in paths {
                answers.push(get(format!("{api}/{path}")).await);
            }
            answers.join("\n")
        })
    }
}

#[test]
fn tpch_sf0_1_matches_answers_on_a_two_executor_cluster() {
    let dir = tempfile::tempdir().unwrap();
    generate_tpch(dir.path(), "0.1", &[]);
    let cluster = Cluster::start(dir.path(), 2, NO_CONF);
    check_all_queries(dir.path(), "0.1", &["--master".into(), cluster.master()]);
    // With broadcast joins off, the scheduler turns the joins DataFusion planned to broadcast
    // into shuffle joins; a single aggregate above one then ran once per partition (q14
    // answered 4 rows instead of 1).
    let no_broadcasts = [
        "--master".to_string(),
        cluster.master(),
        "--conf".to_string(),
        "ballista.optimizer.broadcast_join_threshold_bytes=0".to_string(),
    ];
    for query in [14, 19] {
        run_tpch_query(dir.path(), "0.1", query, &no_broadcasts).unwrap();
    }
}

#[test]
fn a_killed_executor_never_yields_a_wrong_answer_and_the_cluster_recovers() {
    let dir = tempfile::tempdir().unwrap();
    generate_tpch(dir.path(), "0.1", &[]);
    let mut cluster = Cluster::start(dir.path(), 2, FAST_FAILURE_DETECTION);
    let master = cluster.master();

    // q18 (several stages over lineitem) runs while one executor is killed with SIGKILL, at a few
    // points of the query: which stages are running, finished or still waiting when the executor
    // dies decides which of Ballista's recovery paths run (a wrong answer came from one of them).
    // Each time a new executor replaces the killed one, so restarted executors rejoin.
    for kill_after in [300, 700, 1100] {
        let running = run_in_background(dir.path(), 18, &master);
        std::thread::sleep(Duration::from_millis(kill_after));
        drop(cluster.executors.remove(0));
        let what = format!("q18 with an executor killed after {kill_after} ms");
        if let Err(failure) = finished_within(running, JOB_TIMEOUT, &what) {
            assert!(
                failure.contains("error: statement") && !failure.contains("panicked"),
                "{what}: a failed job must say so clearly:\n{failure}"
            );
        }
        cluster.add_executor();
    }

    let next = run_in_background(dir.path(), 9, &master);
    finished_within(next, JOB_TIMEOUT, "q09 after the kills").unwrap();
}

#[test]
fn a_terminated_executor_hands_its_work_back_without_waiting_for_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    generate_tpch(dir.path(), "0.1", &[]);
    // Slow failure detection (2 min): a SIGTERMed executor tells the scheduler it is leaving, so
    // its work moves on long before that (about 9 s here, mostly the survivor's retries of
    // fetches from the leaving executor).
    let mut cluster = Cluster::start(
        dir.path(),
        2,
        &["--conf", "ember.cluster.executor.timeout=120s"],
    );
    let master = cluster.master();
    let started = Instant::now();
    let running = run_in_background(dir.path(), 18, &master);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        cluster.executors.remove(0).terminate(),
        "an executor must exit cleanly on SIGTERM"
    );
    let what = "q18 with an executor terminated";
    if let Err(failure) = finished_within(running, JOB_TIMEOUT, what) {
        assert!(
            failure.contains("error: statement") && !failure.contains("panicked"),
            "{what}: a failed job must say so clearly:\n{failure}"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
    let next = run_in_background(dir.path(), 18, &master);
    finished_within(next, JOB_TIMEOUT, "q18 after the termination").unwrap();
}

/// Longest a TPC-H SF 0.1 query may take on the test cluster, executor loss included.
const JOB_TIMEOUT: Duration = Duration::from_secs(90);

/// Runs TPC-H `query` at SF 0.1 against `master` on a thread; the receiver gets its outcome.
fn run_in_background(dir: &Path, query: usize, master: &str) -> mpsc::Receiver<Result<(), String>> {
    let (done, outcome) = mpsc::channel();
    let (dir, extra) = (
        dir.to_path_buf(),
        ["--master".to_string(), master.to_string()],
    );
    std::thread::spawn(move || {
        let _ = done.send(run_tpch_query(&dir, "0.1", query, &extra));
    });
    outcome
}

/// The outcome of a background query; panics if it has not finished within `timeout` (a hang).
fn finished_within(
    outcome: mpsc::Receiver<Result<(), String>>,
    timeout: Duration,
    what: &str,
) -> Result<(), String> {
    outcome
        .recv_timeout(timeout)
        .unwrap_or_else(|_| panic!("{what} did not finish within {timeout:?}"))
}

#[test]
fn explain_shows_stages_spark_functions_run_on_executors_and_status_lists_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), 1, NO_CONF);
    let master = cluster.master();
    // Without TLS the scheduler and executors speak plain gRPC (what the TLS tests check is
    // refused).
    assert!(speaks_plain_http2(&cluster.scheduler.address));
    assert!(speaks_plain_http2(&cluster.executors[0].address));
    // A corrupt page whose reader panics on the executor fails the job naming the file, as in
    // one process (the executor said only what panicked).
    let corrupt = test_data().join("corrupt/dictionary_page_missing.parquet");
    let scan = format!(
        "SELECT count(*), sum(x), max(y), min(s) FROM '{}'",
        corrupt.display()
    );
    let failed = run_ember(dir.path(), ["sql", "--master", &master, "-e", &scan]);
    assert_eq!(failed.status.code(), Some(1), "{}", stderr(&failed));
    assert!(
        stderr(&failed).contains(&format!(
            "reading file://{}: corrupt file",
            corrupt.display()
        )) && stderr(&failed).contains("Decoder for dict"),
        "{}",
        stderr(&failed)
    );
    let explain = run_ember(
        dir.path(),
        [
            "sql",
            "--master",
            &master,
            "--format",
            "tsv",
            "-e",
            "SET ember.sql.shuffle.partitions = 3",
            "-e",
            "EXPLAIN SELECT v % 3 AS k, count(*) FROM (VALUES (1), (2), (3)) AS t(v) GROUP BY 1",
        ],
    );
    assert!(explain.status.success(), "{}", stderr(&explain));
    let plan = stdout(&explain);
    assert!(
        plan.contains("distributed_plan") && plan.contains("ShuffleWriterExec"),
        "{plan}"
    );
    // The SET reached the scheduler: stages shuffle into 3 partitions.
    assert!(
        plan.contains("ShuffleWriterExec: partitioning: Hash([k@0], 3)"),
        "{plan}"
    );

    // sha2 comes from datafusion-spark: the executor must resolve it by name.
    let spark = run_ember(
        dir.path(),
        [
            "sql",
            "--master",
            &master,
            "--format",
            "csv",
            "-e",
            "SELECT sha2(CAST(v AS STRING), 256) AS h FROM (VALUES (1), (2), (3)) AS t(v) ORDER BY v",
        ],
    );
    assert!(spark.status.success(), "{}", stderr(&spark));
    assert!(
        stdout(&spark).contains("6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b"),
        "{}",
        stdout(&spark)
    );

    // `ballista.*` keys reach cluster sessions, checked when the session starts.
    let zstd = run_ember(
        dir.path(),
        [
            "sql",
            "--master",
            &master,
            "--conf",
            "ballista.shuffle.compression.codec=zstd",
            "--format",
            "csv",
            "-e",
            "SELECT v % 2 AS k, count(*) AS n FROM (VALUES (1), (2), (3)) AS t(v) GROUP BY 1 ORDER BY 1",
        ],
    );
    assert_eq!(stdout(&zstd), "k,n\n0,1\n1,2\n", "{}", stderr(&zstd));
    let typo = run_ember(
        dir.path(),
        [
            "sql",
            "--master",
            &master,
            "--conf",
            "ballista.planner.adaptive.enabled=maybe",
            "-e",
            "SELECT 1",
        ],
    );
    assert_eq!(typo.status.code(), Some(2), "{}", stderr(&typo));
    assert!(
        stderr(&typo).contains("invalid value 'maybe' for 'ballista.planner.adaptive.enabled'"),
        "{}",
        stderr(&typo)
    );

    // `ember cluster status` lists the executor and the jobs above.
    let status = run_ember(dir.path(), ["cluster", "status", "--master", &master]);
    assert!(status.status.success(), "{}", stderr(&status));
    let status = stdout(&status);
    assert!(
        status.contains("executors: 1 (1 cores, 1 free)"),
        "{status}"
    );
    assert!(status.contains("Completed"), "{status}");
    let jobs = status.lines().find(|l| l.starts_with("jobs: ")).unwrap();
    let completed: usize = jobs
        .split("completed ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no completed count in {jobs:?}"));
    assert!(completed >= 2, "{status}");
}

#[test]
fn a_submitted_script_runs_on_the_cluster_and_its_jobs_carry_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), 1, NO_CONF);
    let master = cluster.master();
    std::fs::write(
        dir.path().join("count.sql"),
        "SELECT v % ${groups} AS k, count(*) AS n \
         FROM (VALUES (1), (2), (3), (4), (${last})) AS t(v) GROUP BY 1 ORDER BY 1;\n\
         SELECT value AS partitions FROM information_schema.df_settings \
         WHERE name = 'datafusion.execution.target_partitions';",
    )
    .unwrap();
    let submitted = run_ember(
        dir.path(),
        [
            "submit",
            "--master",
            &master,
            "--name",
            "nightly-count",
            "--format",
            "csv",
            "--var",
            "groups=2",
            "--var",
            "last=5",
            "--total-executor-cores",
            "3",
            "count.sql",
        ],
    );
    assert!(submitted.status.success(), "{}", stderr(&submitted));
    assert_eq!(stdout(&submitted), "k,n\n0,2\n1,3\npartitions\n3\n");
    let status = run_ember(dir.path(), ["cluster", "status", "--master", &master]);
    assert!(status.status.success(), "{}", stderr(&status));
    assert!(
        stdout(&status).contains("nightly-count"),
        "{}",
        stdout(&status)
    );
}

/// Runs `ember jobs ARGS...` against `master` in `dir`.
fn jobs(dir: &Path, master: &str, args: &[&str]) -> std::process::Output {
    let mut all = vec!["jobs", "--master", master];
    all.extend_from_slice(args);
    run_ember(dir, all)
}

/// Writes `rows.parquet` (300,000 rows, with a local `ember sql`) and `long.sql`, a self-join
/// of it of about 9e8 rows: minutes on one debug-built core.
fn write_long_job(dir: &Path) {
    let rows = dir.join("rows.parquet");
    let copy = format!(
        "COPY (SELECT v FROM generate_series(1, 300000) AS t(v)) TO '{}' STORED AS PARQUET",
        rows.display()
    );
    let written = run_ember(dir, ["sql", "--master", "local[1]", "-e", &copy]);
    assert!(written.status.success(), "{}", stderr(&written));
    let long = format!(
        "SELECT count(*) FROM '{0}' a JOIN '{0}' b ON a.v % 100 = b.v % 100;",
        rows.display()
    );
    std::fs::write(dir.join("long.sql"), long).unwrap();
}

/// Starts `ember submit --name NAME APP...` (e.g. `long.sql`, see [`write_long_job`]) against
/// `master`, with progress lines every 100 ms, and waits until the cluster runs a job of that
/// name; returns the process and the job's id.
#[expect(
    clippy::zombie_processes,
    reason = "the child is returned; callers wait for it with `exited_within`"
)]
fn submit_running(dir: &Path, master: &str, name: &str, app: &[&str]) -> (Child, String) {
    let mut submitted = Command::new(ember_binary())
        .current_dir(dir)
        .args(["submit", "--master", master, "--name", name])
        .args(["--progress-interval", "100ms"])
        .args(app)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        let listed = stdout(&jobs(dir, master, &[]));
        let running = listed
            .lines()
            .find(|line| line.contains(name) && line.contains("Running"));
        if let Some(line) = running {
            return (
                submitted,
                line.split_whitespace().next().unwrap().to_string(),
            );
        }
        if started.elapsed() > Duration::from_secs(120) {
            submitted.kill().unwrap();
            submitted.wait().unwrap();
            panic!("the job never ran: {listed}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Asserts that job `id` is known to `master` and no longer runs.
fn assert_gone(dir: &Path, master: &str, id: &str) {
    let after = stdout(&jobs(dir, master, &["status", id]));
    assert!(after.contains(id) && !after.contains("Running"), "{after}");
}

#[test]
fn a_running_job_is_listed_by_name_and_cancelled_on_the_cluster() {
    let dir = tempfile::tempdir().unwrap();
    write_long_job(dir.path());
    let cluster = Cluster::start(dir.path(), 1, NO_CONF);
    follow_and_cancel_a_running_job(dir.path(), &cluster.master());
}

/// Submits `long.sql` (see [`write_long_job`]) from `dir` to `master`, follows it with `ember
/// jobs` and the submission's progress lines, cancels it with `ember jobs cancel`, and checks
/// the refusals of cancelling it again and of cancelling an unknown job: everything a user
/// does through the scheduler's REST API.
fn follow_and_cancel_a_running_job(dir: &Path, master: &str) {
    let (submitted, id) = submit_running(dir, master, "long-join", &["long.sql"]);
    // Several progress lines (every 100 ms) while the job runs; it runs for minutes.
    std::thread::sleep(Duration::from_millis(600));
    let status = jobs(dir, master, &["status", &id]);
    assert!(stdout(&status).contains("long-join"), "{}", stderr(&status));
    let cancelled = jobs(dir, master, &["cancel", &id]);
    assert!(cancelled.status.success(), "{}", stderr(&cancelled));
    assert_eq!(stdout(&cancelled), format!("cancelled {id}\n"));
    // The client sees its job end and fails; the job no longer runs on the cluster.
    let output = exited_within(submitted, Duration::from_secs(60));
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stderr(&output).contains("Cancelled"), "{}", stderr(&output));
    // While it ran, its progress lines followed the job on the cluster (in whichever stage: the
    // first can end before the first line, 100 ms in).
    let progress = "-- statement `SELECT count(*)";
    let job_line = stderr(&output)
        .lines()
        .filter(|line| line.starts_with(progress) && line.contains(" running: "))
        .any(|line| line.contains(&format!("job {id}: stages ")) && line.contains(" running, "));
    assert!(job_line, "{}", stderr(&output));
    assert_gone(dir, master, &id);
    let again = jobs(dir, master, &["cancel", &id]);
    assert_eq!(again.status.code(), Some(1), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("cannot be cancelled"),
        "{}",
        stderr(&again)
    );
    let unknown = jobs(dir, master, &["cancel", "nope"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        stderr(&unknown).contains("no job nope"),
        "{}",
        stderr(&unknown)
    );
}

#[test]
fn ctrl_c_cancels_a_submitted_scripts_or_programs_job_on_the_cluster_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    write_long_job(dir.path());
    // A program configured from the environment, as `Session::from_env` is; its job runs for
    // minutes and carries the submission's name.
    let program = dir.path().join("long.sh");
    std::fs::write(&program, "#!/bin/sh\nexec \"$1\" sql --quiet -f long.sql\n").unwrap();
    std::fs::set_permissions(
        &program,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let cluster = Cluster::start(dir.path(), 1, NO_CONF);
    let master = cluster.master();
    for (name, app) in [
        ("interrupted-script", vec!["long.sql"]),
        ("interrupted-program", vec!["./long.sh", ember_binary()]),
    ] {
        interrupt_a_running_submission(dir.path(), &master, name, &app);
    }
}

/// Submits `app` as `name` to `master`, interrupts `ember submit` (Ctrl-C) while its job runs
/// (only `ember submit`: a program ends as its cancelled query fails), and asserts that it
/// cancels the job and exits 130.
fn interrupt_a_running_submission(dir: &Path, master: &str, name: &str, app: &[&str]) {
    let (submitted, id) = submit_running(dir, master, name, app);
    interrupt(&submitted);
    let output = exited_within(submitted, Duration::from_secs(60));
    assert_eq!(
        output.status.code(),
        Some(130),
        "{name}: {}",
        stderr(&output)
    );
    assert!(
        stderr(&output).contains(&format!("cancelled job {id}")),
        "{name}: {}",
        stderr(&output)
    );
    assert_gone(dir, master, &id);
}

#[test]
fn create_table_as_writes_the_scratch_dir_and_the_session_removes_it() {
    let dir = tempfile::tempdir().unwrap();
    let scratch = dir.path().join("scratch");
    let cluster = Cluster::start(dir.path(), 2, NO_CONF);
    let scratch_conf = format!("ember.scratch.dir={}", scratch.display());
    let output = run_ember(
        dir.path(),
        [
            "sql",
            "--master",
            &cluster.master(),
            "--conf",
            &scratch_conf,
            "--format",
            "csv",
            "-e",
            "CREATE TABLE t AS SELECT v, v * v AS sq FROM (VALUES (1), (2), (3), (4)) AS s(v)",
            "-e",
            "SELECT sum(sq) AS total FROM t",
            // Reads the old `t` while replacing it.
            "-e",
            "CREATE OR REPLACE TABLE t AS SELECT v FROM t WHERE v > 2",
            "-e",
            "SELECT count(*) AS n, min(v) AS low FROM t",
            "-e",
            "CREATE TABLE t AS SELECT 1",
        ],
    );
    let (out, err) = (stdout(&output), stderr(&output));
    assert!(out.contains("total\n30\n"), "{out}\n{err}");
    assert!(out.contains("n,low\n2,3\n"), "{out}\n{err}");
    assert!(
        !output.status.success() && err.contains("Table 't' already exists"),
        "{err}"
    );
    let left: Vec<_> = std::fs::read_dir(&scratch).unwrap().collect();
    assert!(
        left.is_empty(),
        "scratch files outlived the session: {left:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_cache_on_a_cluster_reads_parquet_from_the_scratch_dir() {
    let dir = tempfile::tempdir().unwrap();
    let scratch = dir.path().join("scratch");
    let cluster = Cluster::start(dir.path(), 1, NO_CONF);
    let session = ember::Session::builder()
        .master(&cluster.master())
        .config("ember.scratch.dir", &scratch.display().to_string())
        .build()
        .unwrap();
    let rows = session
        .sql("SELECT v FROM (VALUES (1), (2), (3)) AS s(v) WHERE v > 1")
        .await
        .unwrap();
    let cached = session.cache(rows).await.unwrap();
    assert_eq!(cached.clone().count().await.unwrap(), 2);
    assert_eq!(cached.count().await.unwrap(), 2);
    let parquet_files = files_under(&scratch)
        .into_iter()
        .filter(|path| path.extension().is_some_and(|e| e == "parquet"))
        .count();
    assert!(
        parquet_files > 0,
        "no Parquet files under {}",
        scratch.display()
    );
    drop(session);
    assert!(
        files_under(&scratch).is_empty(),
        "scratch files outlived the session"
    );
}

/// Writes `NAME.crt` and `NAME.key` (PEM) into `dir` for a certificate valid for 127.0.0.1 and
/// localhost, as client and server, signed by `issuer`.
fn write_leaf(dir: &Path, name: &str, issuer: &rcgen::Issuer<'_, rcgen::KeyPair>) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params
        .subject_alt_names
        .push(rcgen::SanType::IpAddress("127.0.0.1".parse().unwrap()));
    params.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let cert = params.signed_by(&key, issuer).unwrap();
    std::fs::write(dir.join(format!("{name}.crt")), cert.pem()).unwrap();
    std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
}

/// A certificate authority: its certificate is written to `dir/NAME.crt`.
fn write_ca(dir: &Path, name: &str) -> rcgen::Issuer<'static, rcgen::KeyPair> {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    std::fs::write(dir.join(format!("{name}.crt")), cert.pem()).unwrap();
    rcgen::Issuer::new(params, key)
}

/// `--conf` flags for mutual TLS with `dir/CERT.crt`, `dir/CERT.key` and `dir/CA.crt`.
fn tls_flags(dir: &Path, cert: &str, ca: &str) -> Vec<String> {
    let file = |name: String| dir.join(name).display().to_string();
    [
        format!("ember.tls.cert={}", file(format!("{cert}.crt"))),
        format!("ember.tls.key={}", file(format!("{cert}.key"))),
        format!("ember.tls.ca={}", file(format!("{ca}.crt"))),
    ]
    .into_iter()
    .flat_map(|pair| ["--conf".to_string(), pair])
    .collect()
}

#[test]
fn mutual_tls_admits_only_clients_with_a_certificate_from_the_ca() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    std::fs::create_dir(&certs).unwrap();
    let ca = write_ca(&certs, "ca");
    write_leaf(&certs, "node", &ca);
    let other_ca = write_ca(&certs, "other-ca");
    write_leaf(&certs, "rogue", &other_ca);

    let cluster = Cluster::start(dir.path(), 2, &tls_flags(&certs, "node", "ca"));
    let master = cluster.master();
    let query = "SELECT v % 2 AS k, count(*) AS n FROM (VALUES (1), (2), (3)) AS t(v) GROUP BY 1 ORDER BY 1";
    let run = |tls: Vec<String>| {
        let mut args = vec!["sql".to_string(), "--master".into(), master.clone()];
        args.extend(tls);
        args.extend(["--format".into(), "csv".into(), "-e".into(), query.into()]);
        run_ember(dir.path(), &args)
    };

    // With a certificate the CA signed: the query runs (its shuffle between executors too).
    let admitted = run(tls_flags(&certs, "node", "ca"));
    assert_eq!(
        stdout(&admitted),
        "k,n\n0,1\n1,2\n",
        "{}",
        stderr(&admitted)
    );

    // The REST API answers over the same TLS, to a certificate from the CA only: the status
    // (tasks are pushed under TLS too) and the jobs. Plain HTTP gets nothing.
    let cluster_status = |tls: Vec<String>| {
        let mut args = vec!["cluster".to_string(), "status".into(), "--master".into()];
        args.push(master.clone());
        args.extend(tls);
        run_ember(dir.path(), &args)
    };
    let status = cluster_status(tls_flags(&certs, "node", "ca"));
    assert!(
        stdout(&status).contains("push-staged") && stdout(&status).contains("jobs: 1 (running 0"),
        "{}{}",
        stdout(&status),
        stderr(&status)
    );
    let rogue_status = cluster_status(tls_flags(&certs, "rogue", "ca"));
    assert_eq!(
        rogue_status.status.code(),
        Some(1),
        "{}",
        stderr(&rogue_status)
    );
    assert_outsiders_get_nothing(&cluster);

    // A tree fit's training tasks reach the client over the same mutual TLS, and the model
    // is the one a local fit makes.
    let points = dir.path().join("points.parquet");
    let copy = format!(
        "COPY (SELECT CAST(v % 7 AS DOUBLE) AS x, CAST(v % 13 AS DOUBLE) AS z, \
         CAST((v % 7) * (v % 13) % 2 AS DOUBLE) AS y FROM generate_series(1, 3000) AS t(v)) \
         TO '{}'",
        points.display()
    );
    let written = run_ember(
        dir.path(),
        ["sql", "-q", "--master", "local[1]", "-e", &copy],
    );
    assert!(written.status.success(), "{}", stderr(&written));
    let fit_and_predict = |master: &str, tls: Vec<String>, models: &str| {
        let mut args = vec!["sql".to_string(), "--master".into(), master.to_string()];
        args.extend(tls);
        let table = format!("d={}", points.display());
        let model_dir = format!("ember.ml.model.dir={}", dir.path().join(models).display());
        args.extend(["--table".into(), table, "--conf".into(), model_dir]);
        args.extend(["--format".into(), "csv".into(), "-q".into()]);
        args.extend([
            "-e".into(),
            "CREATE MODEL m OPTIONS (model_type = 'gbt_classifier', label = 'y', \
             num_trees = 4) AS SELECT * FROM d"
                .into(),
            "-e".into(),
            "SELECT x, z, probability FROM ml_predict('m', 'SELECT DISTINCT x, z FROM d') \
             ORDER BY x, z"
                .into(),
        ]);
        run_ember(dir.path(), &args)
    };
    let on_cluster = fit_and_predict(&master, tls_flags(&certs, "node", "ca"), "cluster-models");
    assert!(on_cluster.status.success(), "{}", stderr(&on_cluster));
    let local = fit_and_predict("local[2]", Vec::new(), "local-models");
    assert!(local.status.success(), "{}", stderr(&local));
    assert_eq!(
        predictions(&local).lines().count(),
        92,
        "{}",
        stdout(&local)
    );
    assert_eq!(predictions(&on_cluster), predictions(&local));

    // Without TLS, or with a certificate from another CA: refused, saying what to set.
    let plain = run(Vec::new());
    assert_eq!(plain.status.code(), Some(1), "{}", stderr(&plain));
    assert!(
        stderr(&plain).contains("refused this client")
            && stderr(&plain).contains("set ember.tls.cert, ember.tls.key and ember.tls.ca"),
        "{}",
        stderr(&plain)
    );
    let rogue = run(tls_flags(&certs, "rogue", "ca"));
    assert_eq!(rogue.status.code(), Some(1), "{}", stderr(&rogue));
    assert!(
        stderr(&rogue).contains("refused this client")
            && stderr(&rogue).contains("TLS handshake failed"),
        "{}",
        stderr(&rogue)
    );

    // An executor without TLS is refused too, and exits.
    let scheduler = master.trim_start_matches("ember://");
    let plain_executor = run_ember(
        dir.path(),
        ["executor", "--scheduler", scheduler, "--port", "0"],
    );
    assert_eq!(plain_executor.status.code(), Some(1));
    assert!(
        stderr(&plain_executor).contains("did not accept a plain connection"),
        "{}",
        stderr(&plain_executor)
    );

    // Half a TLS configuration is a usage error naming what is missing.
    let cert = format!("ember.tls.cert={}", certs.join("node.crt").display());
    let partial = run_ember(
        dir.path(),
        ["scheduler", "--port", "0", "--conf", cert.as_str()],
    );
    assert_eq!(partial.status.code(), Some(2), "{}", stderr(&partial));
    assert!(
        stderr(&partial).contains("missing: ember.tls.key, ember.tls.ca"),
        "{}",
        stderr(&partial)
    );
}

/// The bytes `address` answers `request` with, within 20 s (none when it closes first).
fn plain_reply(address: &str, request: &[u8]) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    // The server may close the connection before the request is written.
    let _ = stream.write_all(request);
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    reply
}

/// Whether `address` speaks gRPC's plain HTTP/2 (what submits jobs to a scheduler and fetches
/// shuffle partitions by path from an executor's Flight service): it answers the client's
/// preface and empty SETTINGS frame with a SETTINGS frame of its own.
fn speaks_plain_http2(address: &str) -> bool {
    let mut request = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    request.extend([0, 0, 0, 4, 0, 0, 0, 0, 0]);
    let reply = plain_reply(address, &request);
    reply.len() >= 9 && reply[3] == 4
}

/// Asserts that the cluster's members admit no one without TLS: plain requests to the
/// scheduler's REST API (listing jobs, cancelling one) get no answer from it, and neither the
/// scheduler nor any executor speaks plain gRPC.
fn assert_outsiders_get_nothing(cluster: &Cluster) {
    let address = &cluster.scheduler.address;
    for request in ["GET /api/jobs", "PATCH /api/job/any-job"] {
        let request = format!("{request} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
        let reply = plain_reply(address, request.as_bytes());
        let reply = String::from_utf8_lossy(&reply);
        assert!(
            !reply.starts_with("HTTP/") && !reply.contains("job_id"),
            "plain HTTP got: {reply}"
        );
    }
    let members = std::iter::once(&cluster.scheduler).chain(&cluster.executors);
    for member in members {
        assert!(
            !speaks_plain_http2(&member.address),
            "{} speaks plain gRPC",
            member.address
        );
    }
}

/// A secret of the length `ember.cluster.secret` asks for.
const CLUSTER_SECRET: &str = "7f3a9c0e5b2d4f6a8c1e3b5d7f9a0c2e";

#[test]
fn a_shared_secret_admits_only_processes_that_know_it_and_its_rest_api_works_over_it() {
    let dir = tempfile::tempdir().unwrap();
    // Every process started in `dir` reads the secret from its properties file, as a
    // deployment would (a command line can be read by every local user).
    std::fs::create_dir(dir.path().join("conf")).unwrap();
    std::fs::write(
        dir.path().join("conf/ember-defaults.conf"),
        format!("ember.cluster.secret {CLUSTER_SECRET}\n"),
    )
    .unwrap();
    write_long_job(dir.path());
    let cluster = Cluster::start(dir.path(), 2, NO_CONF);
    let master = cluster.master();
    let query = "SELECT v % 2 AS k, count(*) AS n FROM (VALUES (1), (2), (3)) AS t(v) GROUP BY 1 ORDER BY 1";
    let sql = |dir: &Path, extra: &[&str]| {
        let mut args = vec!["sql", "--master", &master, "--format", "csv", "-e", query];
        args.extend_from_slice(extra);
        run_ember(dir, args)
    };

    // Members: a query whose shuffle crosses executors, the status and jobs (REST over the
    // derived TLS, tasks pushed), following and cancelling a job.
    let answered = sql(dir.path(), &[]);
    assert_eq!(
        stdout(&answered),
        "k,n\n0,1\n1,2\n",
        "{}",
        stderr(&answered)
    );
    let status = run_ember(dir.path(), ["cluster", "status", "--master", &master]);
    assert!(
        stdout(&status).contains("push-staged") && stdout(&status).contains("executors: 2"),
        "{}{}",
        stdout(&status),
        stderr(&status)
    );
    follow_and_cancel_a_running_job(dir.path(), &master);
    interrupt_a_running_submission(dir.path(), &master, "interrupted", &["long.sql"]);
    // A tree fit: it reads the cluster's free slots over the derived TLS, and its training
    // tasks reach the client over it too.
    let points = write_points(dir.path(), 2, 500);
    let fit = format!(
        "CREATE MODEL m OPTIONS (model_type = 'gbt_classifier', label = 'y', num_trees = 2) \
         AS SELECT * FROM '{}'",
        points.display()
    );
    let fitted = Command::new(ember_binary())
        .current_dir(dir.path())
        .env("RUST_LOG", "warn,ember_mllib=info")
        .args(["sql", "-q", "--master", &master, "-e", &fit])
        .output()
        .unwrap();
    assert!(fitted.status.success(), "{}", stderr(&fitted));
    assert!(
        stderr(&fitted).contains("2 of the cluster's 2 task slots are free"),
        "{}",
        stderr(&fitted)
    );

    // Outsiders, from a directory without the secret: refused, saying what to set.
    let outside = tempfile::tempdir().unwrap();
    let without = sql(outside.path(), &[]);
    assert_eq!(without.status.code(), Some(1), "{}", stderr(&without));
    assert!(
        stderr(&without).contains("did not accept a plain connection")
            && stderr(&without).contains("ember.cluster.secret"),
        "{}",
        stderr(&without)
    );
    let wrong_secret = "ember.cluster.secret=0000000000000000000000000000000000";
    let wrong = sql(outside.path(), &["--conf", wrong_secret]);
    assert_eq!(wrong.status.code(), Some(1), "{}", stderr(&wrong));
    assert!(
        stderr(&wrong).contains("TLS handshake failed"),
        "{}",
        stderr(&wrong)
    );
    let listed = jobs(outside.path(), &master, &[]);
    assert_eq!(listed.status.code(), Some(1), "{}", stderr(&listed));
    assert!(
        stderr(&listed).contains("cannot read the status of the cluster")
            && stderr(&listed).contains("ember.cluster.secret"),
        "{}",
        stderr(&listed)
    );
    assert_outsiders_get_nothing(&cluster);
    let scheduler = master.trim_start_matches("ember://");
    let executor = run_ember(
        outside.path(),
        [
            "executor",
            "--scheduler",
            scheduler,
            "--port",
            "0",
            "--conf",
            wrong_secret,
        ],
    );
    assert_eq!(executor.status.code(), Some(1), "{}", stderr(&executor));
    assert!(
        stderr(&executor).contains("TLS handshake failed"),
        "{}",
        stderr(&executor)
    );
}

#[test]
fn an_unreachable_master_fails_within_the_connect_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let started = Instant::now();
    let output = run_ember(
        dir.path(),
        [
            "sql",
            "--master",
            &format!("ember://127.0.0.1:{port}"),
            "--conf",
            "ember.cluster.connect.timeout=2s",
            "-e",
            "SELECT 1",
        ],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).starts_with(&format!(
            "error: cannot reach the scheduler at ember://127.0.0.1:{port} within 2s:"
        )),
        "{}",
        stderr(&output)
    );
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[test]
fn daemons_reject_bad_addresses_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let bad_scheduler = run_ember(dir.path(), ["executor", "--scheduler", "no-port-here"]);
    assert_eq!(bad_scheduler.status.code(), Some(2));
    assert_eq!(
        stderr(&bad_scheduler).trim(),
        "error: --scheduler 'no-port-here' is not HOST:PORT"
    );

    let nobody = free_port();
    let lonely = run_ember(
        dir.path(),
        [
            "executor",
            "--scheduler",
            &format!("127.0.0.1:{nobody}"),
            "--conf",
            "ember.cluster.connect.timeout=1s",
        ],
    );
    assert_eq!(lonely.status.code(), Some(1));
    assert!(
        stderr(&lonely).starts_with(&format!(
            "error: executor: cannot reach the scheduler at 127.0.0.1:{nobody} within 1s:"
        )),
        "{}",
        stderr(&lonely)
    );

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let busy = run_ember(dir.path(), ["scheduler", "--port", &port]);
    assert_eq!(busy.status.code(), Some(1));
    assert!(
        stderr(&busy).starts_with(&format!(
            "error: scheduler: cannot listen on 127.0.0.1:{port}:"
        )),
        "{}",
        stderr(&busy)
    );
}

/// A port that was free a moment ago: nothing listens there.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The `x,z,probability` rows an `ember sql` run printed after its model's description.
fn predictions(output: &std::process::Output) -> String {
    let text = stdout(output);
    let start = text.find("x,z,probability\n").expect("a prediction header");
    text[start..].to_string()
}

/// Writes `parts` Parquet files of `rows` rows each (columns `x`, `z` and a 0/1 label `y`) into
/// a new directory `points` of `dir`, and returns the directory.
fn write_points(dir: &Path, parts: usize, rows: usize) -> std::path::PathBuf {
    let points = dir.join("points");
    std::fs::create_dir(&points).unwrap();
    for part in 0..parts {
        let copy = format!(
            "COPY (SELECT CAST(v % 7 AS DOUBLE) AS x, CAST(v % 13 AS DOUBLE) AS z, \
             CAST((v % 7) * (v % 13) % 2 AS DOUBLE) AS y \
             FROM generate_series({}, {}) AS t(v)) TO '{}'",
            part * rows,
            (part + 1) * rows - 1,
            points.join(format!("part-{part}.parquet")).display()
        );
        let written = run_ember(dir, ["sql", "-q", "--master", "local[1]", "-e", &copy]);
        assert!(written.status.success(), "{}", stderr(&written));
    }
    points
}

// One file of 8 row groups of equal size, read by two tasks. DataFusion cuts a file into equal
// byte ranges, and the footer lengthens it, so one range holds 5 row groups' starts and the
// other 3; Ember moves the cut to the 4th boundary (`RowGroupBalancedScans`), and the scheduler's
// stage planner must keep that cut instead of cutting the scan again (vendor patch
// `without_scan_splitting`). The scheduler reports each task's input rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_on_the_cluster_gives_its_tasks_equal_shares_of_row_groups() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.parquet");
    let copy = format!(
        "COPY (SELECT random() AS v, random() AS w FROM generate_series(1, 80000)) TO '{}' \
         STORED AS PARQUET OPTIONS ('format.max_row_group_size' '10000')",
        file.display()
    );
    let written = run_ember(
        dir.path(),
        ["sql", "-q", "--master", "local[1]", "-e", &copy],
    );
    assert!(written.status.success(), "{}", stderr(&written));
    let cluster = Cluster::start(dir.path(), 2, NO_CONF);
    let master = cluster.master();
    let table = format!("t={}", file.display());
    let sum = run_ember(
        dir.path(),
        [
            "sql",
            "--master",
            &master,
            "--table",
            &table,
            "-q",
            "-e",
            "SET datafusion.execution.target_partitions = 2",
            "-e",
            "SET datafusion.optimizer.repartition_file_min_size = 0",
            "-e",
            "SELECT sum(v) FROM t",
        ],
    );
    assert!(sum.status.success(), "{}", stderr(&sum));
    let api = format!("http://{}/api", cluster.scheduler.address);
    let get = |path: String| {
        let url = format!("{api}/{path}");
        async move {
            let reply = reqwest::get(url).await.unwrap();
            reply.json::<serde_json::Value>().await.unwrap()
        }
    };
    let mut stages = Vec::new();
    for job in get("jobs".to_string()).await.as_array().unwrap() {
        let id = job["job_id"].as_str().unwrap();
        let job_stages = get(format!("job/{id}/stages")).await;
        stages.extend(job_stages["stages"].as_array().unwrap().iter().cloned());
    }
    let scan = (stages.iter())
        .find(|stage| {
            (stage["stage_plan"].as_str()).is_some_and(|plan| plan.contains("DataSourceExec"))
        })
        .unwrap_or_else(|| panic!("no stage scans the file: {stages:?}"));
    let mut task_rows: Vec<u64> = (scan["tasks"].as_array().unwrap().iter())
        .map(|task| task["input_rows"].as_u64().unwrap())
        .collect();
    task_rows.sort_unstable();
    assert_eq!(task_rows, [40_000, 40_000], "{scan}");
}

#[test]
fn a_tree_fit_over_more_partitions_than_the_cluster_has_slots_runs_on_as_many_as_it_has() {
    let dir = tempfile::tempdir().unwrap();
    let points = write_points(dir.path(), 3, 1000);
    let cluster = Cluster::start(dir.path(), 1, NO_CONF);
    let table = format!("d={}", points.display());
    let master = cluster.master();
    // Three files and three shuffle partitions, on one executor of one core.
    let fit = run_ember(
        dir.path(),
        [
            "sql",
            "--master",
            master.as_str(),
            "--conf",
            "ember.sql.shuffle.partitions=3",
            "--table",
            table.as_str(),
            "--format",
            "csv",
            "-q",
            "-e",
            "CREATE MODEL m OPTIONS (model_type = 'gbt_classifier', label = 'y', num_trees = 3) \
             AS SELECT * FROM d",
            "-e",
            "SELECT count(*) AS n FROM ml_predict('m', 'SELECT * FROM d')",
        ],
    );
    assert!(fit.status.success(), "{}", stderr(&fit));
    assert!(stdout(&fit).ends_with("n\n3000\n"), "{}", stdout(&fit));
}

// A fit on a shared cluster trains on the task slots other jobs leave free: with one of two
// executors' cores running a long query, a fit over three partitions runs one training task
// (before, it planned a task per core of the cluster and waited for the busy one).
#[test]
fn a_tree_fit_on_a_busy_cluster_trains_on_the_slots_left_free() {
    let dir = tempfile::tempdir().unwrap();
    let points = write_points(dir.path(), 3, 1000);
    let cluster = Cluster::start(dir.path(), 2, NO_CONF);
    let master = cluster.master();
    assert_eq!(cluster.task_slots(), (2, 2));
    // One task at a time, for hours: a single-partition join of 200,000 rows with themselves.
    let numbers = dir.path().join("numbers.parquet");
    let copy = format!(
        "COPY (SELECT CAST(v AS DOUBLE) AS v FROM generate_series(1, 200000) AS t(v)) TO '{}'",
        numbers.display()
    );
    let written = run_ember(
        dir.path(),
        ["sql", "-q", "--master", "local[1]", "-e", &copy],
    );
    assert!(written.status.success(), "{}", stderr(&written));
    let numbers = format!("n={}", numbers.display());
    let mut busy = Command::new(ember_binary())
        .current_dir(dir.path())
        .args(["sql", "--master", &master, "--table", &numbers, "-q"])
        .args(["--conf", "datafusion.execution.target_partitions=1"])
        .args([
            "-e",
            "SELECT count(*) FROM n AS a, n AS b WHERE a.v + b.v < 0",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while cluster.task_slots() != (2, 1) {
        assert!(
            Instant::now() < deadline,
            "the long query never took a slot"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let table = format!("d={}", points.display());
    let fit = Command::new(ember_binary())
        .current_dir(dir.path())
        .env("RUST_LOG", "warn,ember_mllib=info")
        .args([
            "sql", "--master", &master, "--table", &table, "-q", "--format", "csv",
        ])
        .args(["--conf", "ember.sql.shuffle.partitions=3"])
        .arg("-e")
        .arg(
            "CREATE MODEL m OPTIONS (model_type = 'gbt_classifier', label = 'y', num_trees = 3) \
             AS SELECT * FROM d",
        )
        .args([
            "-e",
            "SELECT count(*) AS n FROM ml_predict('m', 'SELECT * FROM d')",
        ])
        .output()
        .unwrap();
    busy.kill().unwrap();
    busy.wait().unwrap();
    let log = stderr(&fit);
    assert!(fit.status.success(), "{log}");
    assert!(stdout(&fit).ends_with("n\n3000\n"), "{}", stdout(&fit));
    assert!(
        log.contains("1 of the cluster's 2 task slots are free; training on at most 1 tasks"),
        "{log}"
    );
}

// Ballista would give each task a pool of `budget / cores`; an Ember executor's tasks share one
// pool, and a training task reserves its fit state there. A pass of 100 forest trees needs about
// 48 MB of row state (20,000 rows x 24 bytes per tree), over the executor's 4 MiB: the task
// answers out of memory, and the fit grows fewer trees per pass instead of overrunning the
// executor's memory.
#[test]
fn a_forest_on_a_cluster_grows_as_many_trees_per_pass_as_its_executors_budget_holds() {
    let dir = tempfile::tempdir().unwrap();
    let points = write_points(dir.path(), 1, 20_000);
    let cluster = Cluster::start(dir.path(), 1, &["--conf", "ember.memory.limit=4m"]);
    let table = format!("d={}", points.display());
    let fit = Command::new(ember_binary())
        .current_dir(dir.path())
        .env("RUST_LOG", "warn,ember_mllib=info")
        .args([
            "sql",
            "--master",
            &cluster.master(),
            "--table",
            &table,
            "-q",
        ])
        .arg("-e")
        .arg(
            "CREATE MODEL m OPTIONS (model_type = 'random_forest_classifier', label = 'y', \
             num_trees = 100) AS SELECT * FROM d",
        )
        .output()
        .unwrap();
    let log = stderr(&fit);
    assert!(fit.status.success(), "{log}");
    let per_pass: Vec<usize> = (log.lines())
        .filter_map(|line| line.split("tree fit: growing ").nth(1))
        .filter_map(|rest| rest.split(' ').next()?.parse().ok())
        .collect();
    assert_eq!(per_pass.first(), Some(&100), "{log}");
    assert!(per_pass.last() < Some(&100), "{log}");
    assert!(log.contains("100 of 100 trees grown"), "{log}");
}

// The kill is placed by the fit's progress, not by time (under the suite's parallel load a fit's
// time varies by 2x): the client logs each boosting round at `info`, and one executor is killed
// once 60 of the 200 rounds are done.
#[test]
fn a_tree_fit_survives_a_killed_executor_and_grows_the_same_model() {
    let dir = tempfile::tempdir().unwrap();
    let points = write_points(dir.path(), 2, 20_000);
    let mut cluster = Cluster::start(dir.path(), 2, FAST_FAILURE_DETECTION);
    let master = cluster.master();
    let fit = |models: &str| {
        let table = format!("d={}", points.display());
        let model_dir = format!("ember.ml.model.dir={}", dir.path().join(models).display());
        Command::new(ember_binary())
            .current_dir(dir.path())
            .env("RUST_LOG", "warn,ember_mllib=info")
            .args([
                "sql", "--master", &master, "--table", &table, "--conf", &model_dir,
            ])
            .args(["--format", "csv", "-q", "-e"])
            .arg(
                "CREATE MODEL m OPTIONS (model_type = 'gbt_classifier', label = 'y', \
                 num_trees = 200, max_depth = 4) AS SELECT * FROM d",
            )
            .arg("-e")
            .arg(
                "SELECT x, z, probability FROM ml_predict('m', 'SELECT DISTINCT x, z FROM d') \
                 ORDER BY x, z",
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let limit = Duration::from_secs(300);
    let undisturbed = exited_within(fit("undisturbed"), limit);
    assert!(undisturbed.status.success(), "{}", stderr(&undisturbed));
    assert_eq!(predictions(&undisturbed).lines().count(), 92);

    // SIGKILL one executor mid-fit and start another: once the scheduler declares the first
    // lost, its training task runs again there, bins the same partition, catches up on the 60
    // rounds grown so far, and takes the lost worker's place.
    let mut running = fit("disturbed");
    let log_lines = BufReader::new(running.stderr.take().unwrap()).lines();
    let (reached, round_60) = mpsc::channel();
    let log = std::thread::spawn(move || {
        let mut log = String::new();
        for line in log_lines.map_while(Result::ok) {
            if line.contains(": 60 of 200 boosting rounds done") {
                let _ = reached.send(());
            }
            log.push_str(&line);
            log.push('\n');
        }
        log
    });
    let killed = round_60.recv_timeout(limit).is_ok();
    if killed {
        drop(cluster.executors.remove(0));
        cluster.add_executor();
    }
    let disturbed = exited_within(running, limit);
    let log = log.join().unwrap();
    assert!(killed, "the fit never reported its 60th round: {log}");
    assert!(disturbed.status.success(), "{log}");
    assert!(
        log.contains("took its place"),
        "no replacement was logged: {log}"
    );
    assert_eq!(predictions(&disturbed), predictions(&undisturbed));
}
