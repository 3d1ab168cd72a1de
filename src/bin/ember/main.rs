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

/// Diagnostics go to stderr through `tracing`, filtered by `RUST_LOG` (default: warnings).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
