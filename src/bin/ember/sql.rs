//! `ember sql`: runs statements from `-e`, `-f`, piped stdin or an interactive shell, and prints
//! their results.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Read, Write};
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use clap::Args;
use ember::datafusion::physical_plan::{execute_stream, ExecutionPlan};
use ember::scan_stats::{human_bytes, spilled_bytes};
use ember::script::{split_statements, ScriptStatement};
use ember::{ran_out_of_memory, FileFormatKind, Master, ScanStats, Session};
use futures::FutureExt;

use crate::exit::Failure;
use crate::output::{write_result, OutputError, OutputFormat};
use crate::own_jobs::OwnJobs;
use crate::progress::{Progress, RunningPlan, Watched};
use crate::{repl, runtime};

/// Arguments of `ember sql`.
#[derive(Debug, Args)]
pub struct SqlArgs {
    /// SQL to run (one or more statements separated by `;`); repeatable.
    #[arg(short = 'e', long = "execute", value_name = "SQL")]
    execute: Vec<String>,
    /// A SQL script to run: many statements separated by `;`, `--` comments allowed.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<PathBuf>,
    /// Register a dataset as a table: NAME=PATH, or NAME:FORMAT=PATH to name the format
    /// (parquet, csv, json, arrow). PATH may be a file, a directory or a glob. Repeatable.
    #[arg(long = "table", value_name = "NAME[:FORMAT]=PATH")]
    tables: Vec<String>,
    /// How rows are printed.
    #[arg(long, value_enum, default_value = "table")]
    format: OutputFormat,
    /// Write rows to FILE instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Where to run: local, local[N], local[*] (overrides ember.master).
    #[arg(long)]
    master: Option<String>,
    /// Configuration KEY=VALUE (ember.* or datafusion.*); repeatable, wins over other sources.
    #[arg(long = "conf", value_name = "KEY=VALUE")]
    conf: Vec<String>,
    /// Do not print timings to stderr.
    #[arg(short, long)]
    quiet: bool,
    /// After each statement, print to stderr what its scans read and skipped: files, Parquet
    /// row groups and pages, bytes (embedded sessions only).
    #[arg(long)]
    stats: bool,
}

/// Runs `ember sql`.
pub fn run(args: SqlArgs) -> Result<(), Failure> {
    let tables = args
        .tables
        .iter()
        .map(|spec| TableSpec::parse(spec))
        .collect::<Result<Vec<_>, _>>()?;
    let config = runtime::load_config(&args.conf, args.master.as_deref())?;
    let (runtime, session) = runtime::start(config)?;
    let out = open_output(args.output.as_ref())?;
    let mut runner = StatementRunner::new(session, args.format, out, args.quiet, args.stats);
    runtime.block_on(async {
        for table in &tables {
            runner
                .session
                .register_table_format(&table.name, &table.location, table.format)
                .await
                .map_err(|e| Failure::job(format!("table '{}'", table.name), e))?;
        }
        if !args.execute.is_empty() || args.file.is_some() {
            for sql in &args.execute {
                runner.run_script(sql).await?;
            }
            if let Some(path) = &args.file {
                let script = std::fs::read_to_string(path).map_err(|e| {
                    Failure::Usage(format!("cannot read SQL file {}: {e}", path.display()))
                })?;
                runner.run_script(&script).await?;
            }
            Ok(())
        } else if io::stdin().is_terminal() {
            repl::run(&mut runner).await
        } else {
            let mut script = String::new();
            io::stdin()
                .read_to_string(&mut script)
                .map_err(|e| Failure::Usage(format!("cannot read SQL from stdin: {e}")))?;
            runner.run_script(&script).await
        }
    })
}

/// A `--table` argument.
struct TableSpec {
    name: String,
    format: Option<FileFormatKind>,
    location: String,
}

impl TableSpec {
    fn parse(spec: &str) -> Result<Self, Failure> {
        let usage = || {
            Failure::Usage(format!(
                "--table '{spec}' is not NAME=PATH or NAME:FORMAT=PATH"
            ))
        };
        let (head, location) = spec.split_once('=').ok_or_else(usage)?;
        let (name, format) = match head.split_once(':') {
            Some((name, format)) => (
                name,
                Some(
                    format
                        .parse::<FileFormatKind>()
                        .map_err(|e| Failure::Usage(format!("--table '{spec}': {e}")))?,
                ),
            ),
            None => (head, None),
        };
        if name.trim().is_empty() || location.trim().is_empty() {
            return Err(usage());
        }
        Ok(Self {
            name: name.trim().to_string(),
            format,
            location: location.trim().to_string(),
        })
    }
}

fn open_output(path: Option<&PathBuf>) -> Result<Box<dyn Write>, Failure> {
    Ok(match path {
        Some(path) => Box::new(BufWriter::new(File::create(path).map_err(|e| {
            Failure::Usage(format!("cannot create output file {}: {e}", path.display()))
        })?)),
        None => Box::new(BufWriter::new(io::stdout().lock())),
    })
}

/// Runs statements one by one and prints their results.
pub struct StatementRunner {
    session: Session,
    format: OutputFormat,
    out: Box<dyn Write>,
    quiet: bool,
    stats: bool,
    /// Progress of running statements, when shown.
    progress: Option<Progress>,
    /// On a cluster, the jobs progress reports on (none in local mode).
    cluster_jobs: Option<Arc<OwnJobs>>,
}

impl StatementRunner {
    /// Runs statements on `session`, printing rows to `out` in `format`; timings to stderr
    /// unless `quiet`, scan statistics when `stats`.
    pub fn new(
        session: Session,
        format: OutputFormat,
        out: Box<dyn Write>,
        quiet: bool,
        stats: bool,
    ) -> Self {
        Self {
            session,
            format,
            out,
            quiet,
            stats,
            progress: None,
            cluster_jobs: None,
        }
    }

    /// Shows `progress` while a statement runs: its elapsed time and, in local mode, what its
    /// scans have read; on a cluster, how far `cluster_jobs` have got.
    pub fn with_progress(mut self, progress: Progress, cluster_jobs: Option<Arc<OwnJobs>>) -> Self {
        self.progress = Some(progress);
        self.cluster_jobs = cluster_jobs;
        self
    }

    /// What the scans of `plan`, which has run, read and skipped, and what it spilled; on a
    /// cluster the plan ran on executors, whose metrics do not come back to the client.
    fn scan_summary(&self, plan: &Arc<dyn ExecutionPlan>) -> String {
        match self.session.master() {
            Master::Local { .. } => format!(
                "{}; spilled {}",
                ScanStats::of(plan),
                human_bytes(spilled_bytes(plan))
            ),
            Master::Cluster { .. } => "scan statistics are not available on a cluster".into(),
        }
    }

    /// Splits `script` into statements and runs them in order, stopping at the first failure.
    pub async fn run_script(&mut self, script: &str) -> Result<(), Failure> {
        let statements = split_statements(script)
            .map_err(|e| Failure::Job(format!("cannot split SQL into statements: {e}")))?;
        let count = statements.len();
        for (index, statement) in statements.iter().enumerate() {
            self.run_statement(statement, index + 1, count).await?;
        }
        Ok(())
    }

    async fn run_statement(
        &mut self,
        statement: &ScriptStatement,
        number: usize,
        count: usize,
    ) -> Result<(), Failure> {
        let started = Instant::now();
        let context = || {
            let position = if count > 1 {
                format!("statement {number} (line {}) ", statement.line)
            } else {
                "statement ".to_string()
            };
            format!("{position}`{}`", statement.summary(60))
        };
        // The plan, once made: progress reads its live scan metrics. Model statements run
        // their fits while they are planned, so the whole statement is watched.
        let planned = RunningPlan::default();
        let running = execute_statement(
            &self.session,
            &statement.text,
            self.format,
            &mut self.out,
            &planned,
        );
        let outcome = match &self.progress {
            None => running.await,
            Some(progress) => {
                // A session on a cluster is given its jobs ([`Self::with_progress`]).
                let watched = match &self.cluster_jobs {
                    Some(jobs) => Watched::Cluster(jobs),
                    None => Watched::Local(&planned),
                };
                progress.watch(&context(), watched, running).await
            }
        };
        let Executed {
            rows,
            plan,
            reran_with_spillable_plans,
        } = match outcome {
            Ok(done) => done,
            Err(StatementError::Output(e)) if e.is_broken_pipe() => {
                return Err(Failure::StdoutClosed)
            }
            Err(StatementError::Output(e)) => return Err(Failure::job(context(), e)),
            Err(StatementError::Plan(e)) => return Err(Failure::job(context(), e)),
        };
        if self.stats {
            eprintln!("-- {}", self.scan_summary(&plan));
        }
        if !self.quiet {
            if reran_with_spillable_plans {
                eprintln!(
                    "-- ran out of memory (ember.memory.limit); ran the statement again with \
                     plans that spill: sort-merge joins except for small build sides, one sort \
                     per ORDER BY, no top-k"
                );
            }
            let plural = if rows == 1 { "" } else { "s" };
            eprintln!(
                "-- {rows} row{plural} in {:.3} s",
                started.elapsed().as_secs_f64()
            );
        }
        Ok(())
    }
}

/// Why a statement failed: while it was planned, or while its rows were produced and written.
enum StatementError {
    /// The statement could not be planned or started (the error's text).
    Plan(String),
    /// Its rows could not be produced or written.
    Output(OutputError),
}

impl StatementError {
    /// Whether the statement failed because an operator did not fit in the memory budget.
    fn ran_out_of_memory(&self) -> bool {
        match self {
            StatementError::Plan(message) => ran_out_of_memory(message),
            StatementError::Output(OutputError::Query(error)) => {
                ran_out_of_memory(&error.to_string())
            }
            StatementError::Output(_) => false,
        }
    }
}

/// What a statement that ran produced.
struct Executed {
    /// Rows written.
    rows: usize,
    /// The plan that ran.
    plan: Arc<dyn ExecutionPlan>,
    /// Whether the statement ran out of memory first, so it ran again with plans that spill.
    reran_with_spillable_plans: bool,
}

/// Plans and runs `sql` on `session`, writing its rows to `out` in `format`; the plan goes in
/// `planned` as soon as it exists.
///
/// When the statement runs out of the memory budget before anything was written, runs it again
/// with plans that spill ([`Session::sql_with_spillable_plans`]).
async fn execute_statement(
    session: &Session,
    sql: &str,
    format: OutputFormat,
    out: &mut dyn Write,
    planned: &RunningPlan,
) -> Result<Executed, StatementError> {
    let mut counted = CountedWrites { out, bytes: 0 };
    let reserved_before = session.memory_reserved();
    let first = run_once(session, sql, Plans::Fastest, format, &mut counted, planned).await;
    let reran_with_spillable_plans = match &first {
        Err(error) => counted.bytes == 0 && error.ran_out_of_memory(),
        Ok(_) => false,
    };
    let (rows, plan) = if reran_with_spillable_plans {
        planned.clear();
        session.memory_released_to(reserved_before).await;
        run_once(session, sql, Plans::Spillable, format, out, planned).await?
    } else {
        first?
    };
    Ok(Executed {
        rows,
        plan,
        reran_with_spillable_plans,
    })
}

/// How a statement is planned.
#[derive(Clone, Copy)]
enum Plans {
    /// As the session plans it, for speed.
    Fastest,
    /// For the least memory ([`Session::sql_with_spillable_plans`]).
    Spillable,
}

/// Plans and runs `sql` once as `plans` says; returns the rows written and the plan.
///
/// A panic while it plans or runs (a library's bug that some input reaches: arrow-ipc panics on
/// a Parquet footer whose embedded Arrow schema has an integer of width 0) fails the statement
/// like any error instead of the process. Its message still goes to stderr through the panic
/// hook, whose location helps the report.
async fn run_once(
    session: &Session,
    sql: &str,
    plans: Plans,
    format: OutputFormat,
    out: &mut dyn Write,
    planned: &RunningPlan,
) -> Result<(usize, Arc<dyn ExecutionPlan>), StatementError> {
    let run = async {
        let frame = match plans {
            Plans::Fastest => session.sql(sql).await,
            Plans::Spillable => session.sql_with_spillable_plans(sql).await,
        }
        .map_err(|e| StatementError::Plan(e.to_string()))?;
        let task = Arc::new(frame.task_ctx());
        let plan = frame
            .create_physical_plan()
            .await
            .map_err(|e| StatementError::Plan(e.to_string()))?;
        planned.set(Arc::clone(&plan));
        let stream = execute_stream(Arc::clone(&plan), task)
            .map_err(|e| StatementError::Plan(e.to_string()))?;
        let rows = write_result(stream, format, out)
            .await
            .map_err(StatementError::Output)?;
        Ok::<_, StatementError>((rows, plan))
    };
    AssertUnwindSafe(run)
        .catch_unwind()
        .await
        .unwrap_or_else(|panic| {
            Err(StatementError::Plan(format!(
                "internal error (a bug in Ember or a library it uses; please report it): {}",
                ember_connectors::panic_message(panic.as_ref())
            )))
        })
}

/// A writer that counts the bytes that went through it: a statement that failed before writing
/// any may run again.
struct CountedWrites<'a> {
    out: &'a mut dyn Write,
    bytes: usize,
}

impl Write for CountedWrites<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.out.write(buf)?;
        self.bytes += written;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
