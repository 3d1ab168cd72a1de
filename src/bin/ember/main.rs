//! The `ember` command: a dispatcher. Each subcommand is a module with one entry function; every
//! error comes back here, is printed once on stderr, and picks the exit code (see [`exit`]).

mod cluster;
mod executor;
mod exit;
mod gen;
mod jobs;
mod output;
mod own_jobs;
mod program;
mod progress;
mod repl;
mod resources;
mod runtime;
mod scheduler;
mod sql;
mod submit;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing::Level;
use tracing_subscriber::filter::{EnvFilter, FilterExt, Targets};
use tracing_subscriber::layer::{Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

/// Ember: distributed SQL, DataFrames and classical ML over Parquet, embedded or on a cluster.
#[derive(Debug, Parser)]
#[command(name = "ember", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run SQL: -e statements, -f a script, statements piped on stdin, or an interactive shell.
    Sql(sql::SqlArgs),
    /// Run an application, a .sql script (with ${NAME} variables) or a program, as spark-submit.
    Submit(submit::SubmitArgs),
    /// Generate benchmark datasets.
    #[command(subcommand)]
    Gen(gen::GenCommand),
    /// Run a cluster scheduler (clients connect with --master ember://HOST:PORT).
    Scheduler(scheduler::SchedulerArgs),
    /// Run a cluster executor that takes tasks from a scheduler.
    Executor(executor::ExecutorArgs),
    /// Inspect a running cluster.
    #[command(subcommand)]
    Cluster(cluster::ClusterCommand),
    /// A cluster's jobs: list them, show one (status ID), cancel one (cancel ID).
    Jobs(jobs::JobsArgs),
}

fn main() -> ExitCode {
    // The subcommand runs on a thread of its own, whose stack can be as large as the runtimes'
    // threads' (the main thread's is fixed by the system, 8 MiB on Linux).
    let command = std::thread::Builder::new()
        .name("ember".to_string())
        .stack_size(runtime::THREAD_STACK)
        .spawn(run);
    match command.map(std::thread::JoinHandle::join) {
        Ok(Ok(code)) => code,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(error) => {
            eprintln!("ember: cannot start its main thread: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the subcommand of the command line.
fn run() -> ExitCode {
    ember::memory::limit_allocator_arenas();
    let cli = Cli::parse();
    init_logging();
    let result = match cli.command {
        Command::Sql(args) => sql::run(args),
        Command::Submit(args) => submit::run(args),
        Command::Gen(command) => gen::run(command),
        Command::Scheduler(args) => scheduler::run(args),
        Command::Executor(args) => executor::run(args),
        Command::Cluster(command) => cluster::run(command),
        Command::Jobs(args) => jobs::run(args),
    };
    exit::report(result)
}

/// Library modules whose detailed logs print a job's settings, secrets included when a session
/// sends them (Ballista traces every key and value it sends and receives, and its S3 options),
/// and the most detail they may log whatever `RUST_LOG` asks: a log must not hold a secret.
const SECRET_PRINTING_LOGS: &[(&str, Level)] = &[
    ("ballista_core::extension", Level::DEBUG),
    ("ballista_core::object_store", Level::INFO),
];

/// Diagnostics go to stderr through `tracing`, filtered by `RUST_LOG` (default: warnings), and
/// never in more detail than [`SECRET_PRINTING_LOGS`] allows.
fn init_logging() {
    let asked = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let capped = Targets::new()
        .with_default(Level::TRACE)
        .with_targets(SECRET_PRINTING_LOGS.iter().copied());
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(asked.and(capped)),
        )
        .init();
}
