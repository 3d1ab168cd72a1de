//! `ember submit`: runs an application the way `spark-submit` does. A `.sql` script's statements
//! run in order on the configured master, stopping at the first failure (reported with the
//! statement's line), with `${name}` variables from `--var`. Any other APP is a program (one
//! linked with the `ember` crate): it runs with the submitted configuration in its environment,
//! so `ember::Session::from_env()` connects to the same master with the same settings, and its
//! exit code becomes ours.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use std::time::Duration;

use ember::config::MASTER;
use ember::script::substitute_variables;
use ember::{EmberConfig, Master, SchedulerApi};

use crate::exit::Failure;
use crate::output::OutputFormat;
use crate::own_jobs::{ClusterSubmission, OwnJobs};
use crate::program;
use crate::progress::Progress;
use crate::resources::{ResourceArgs, Resources};
use crate::runtime;
use crate::sql::StatementRunner;

/// The Ballista setting that names a cluster session's jobs.
const JOB_NAME: &str = "ballista.job.name";

/// Arguments of `ember submit`.
#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// Where to run: local, local[N], local[*] or ember://HOST:PORT (overrides ember.master).
    #[arg(long)]
    master: Option<String>,
    /// The name the application's jobs carry on a cluster (`ember cluster status` lists it).
    #[arg(long)]
    name: Option<String>,
    /// Configuration KEY=VALUE (ember.* or datafusion.*); repeatable, wins over other sources.
    #[arg(long = "conf", value_name = "KEY=VALUE")]
    conf: Vec<String>,
    /// A properties file of `key=value` lines, instead of conf/ember-defaults.conf.
    #[arg(long, value_name = "FILE")]
    properties_file: Option<PathBuf>,
    /// A value for `${NAME}` in the script; repeatable.
    #[arg(long = "var", value_name = "NAME=VALUE")]
    vars: Vec<String>,
    /// How rows are printed.
    #[arg(long, value_enum, default_value = "table")]
    format: OutputFormat,
    /// Do not print timings or progress to stderr.
    #[arg(short, long, conflicts_with = "verbose")]
    quiet: bool,
    /// While a statement runs and stderr is not a terminal, a progress line this often (e.g.
    /// 2s, 500ms); a terminal gets one live line per statement instead.
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = progress_interval)]
    progress_interval: Duration,
    /// Executor memory and cores (see `resources`).
    #[command(flatten)]
    resources: ResourceArgs,
    /// Print the master and each statement's scan statistics to stderr.
    #[arg(short, long)]
    verbose: bool,
    /// The application: a `.sql` script, or a program's path.
    #[arg(value_name = "APP")]
    app: PathBuf,
    /// Arguments of a program (a SQL script takes none: use --var).
    #[arg(
        value_name = "APP_ARGS",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    app_args: Vec<String>,
}

/// Runs `ember submit`.
pub fn run(args: SubmitArgs) -> Result<(), Failure> {
    let variables = parse_variables(&args.vars)?;
    let properties = match &args.properties_file {
        Some(path) if !path.is_file() => {
            return Err(Failure::Usage(format!(
                "--properties-file {}: no such file",
                path.display()
            )))
        }
        Some(path) => path.clone(),
        None => PathBuf::from(runtime::DEFAULT_PROPERTIES_FILE),
    };
    // Jobs carry the application's name: --name, else the APP's file name.
    let name = args.name.clone().unwrap_or_else(|| {
        args.app.file_name().map_or_else(
            || "ember-submit".into(),
            |n| n.to_string_lossy().into_owned(),
        )
    });
    let (config, conf, master_flag) = submitted_config(&args, &name, &properties)?;
    if args.verbose {
        eprintln!(
            "-- submitting {} to {}",
            args.app.display(),
            config.master()
        );
    }
    // The submission's cluster jobs are followed and cancelled through the scheduler's REST
    // API.
    let cluster = match config.master() {
        master @ Master::Cluster { .. } => Some(ClusterSubmission {
            api: SchedulerApi::from_config(master, &config)?,
            name,
        }),
        _ => None,
    };
    if args
        .app
        .extension()
        .is_some_and(|extension| extension == "sql")
    {
        return run_script(&args, &variables, config, cluster);
    }
    if !variables.is_empty() {
        return Err(Failure::Usage(format!(
            "--var fills in SQL scripts; {} is a program (pass it arguments after its name)",
            args.app.display()
        )));
    }
    let handed_down = handed_down(&properties, &conf, master_flag.as_deref())?;
    program::run(&args.app, &args.app_args, &handed_down, cluster)
}

/// The configuration of a submission named `name`: from `properties` and the flags, with the
/// resource flags applied for the master it names. Also returns the `key=value` pairs given
/// on top of the properties file and the master to use, as a program is handed them.
fn submitted_config(
    args: &SubmitArgs,
    name: &str,
    properties: &Path,
) -> Result<(EmberConfig, Vec<String>, Option<String>), Failure> {
    let mut conf = args.conf.clone();
    conf.push(format!("{JOB_NAME}={name}"));
    let mut master_flag = args.master.clone();
    let config = runtime::load_config_with(&conf, master_flag.as_deref(), properties)?;
    // The resource flags depend on where the application runs, and win over other settings.
    let resources = args
        .resources
        .resolve(config.master(), master_flag.as_deref())?;
    if resources == Resources::default() {
        return Ok((config, conf, master_flag));
    }
    conf.extend(resources.conf);
    master_flag = resources.master.or(master_flag);
    let config = runtime::load_config_with(&conf, master_flag.as_deref(), properties)?;
    Ok((config, conf, master_flag))
}

/// Runs the SQL script `args.app` with `variables` filled in, statement by statement, showing
/// progress; Ctrl-C stops it and cancels its jobs on the `cluster`.
fn run_script(
    args: &SubmitArgs,
    variables: &HashMap<String, String>,
    config: EmberConfig,
    cluster: Option<ClusterSubmission>,
) -> Result<(), Failure> {
    let script = read_script(&args.app, &args.app_args)?;
    let script = substitute_variables(&script, variables)
        .map_err(|e| Failure::Usage(format!("{}: {e}", args.app.display())))?;
    let (runtime, session) = runtime::start(config)?;
    runtime.block_on(async {
        let own_jobs = match cluster {
            Some(submission) => Some(Arc::new(OwnJobs::from_now(submission).await)),
            None => None,
        };
        let progress = Progress::new(args.progress_interval);
        let out = progress.stdout();
        let mut runner = StatementRunner::new(session, args.format, out, args.quiet, args.verbose);
        if !args.quiet {
            runner = runner.with_progress(progress, own_jobs.clone());
        }
        tokio::select! {
            outcome = runner.run_script(&script) => outcome,
            _ = tokio::signal::ctrl_c() => {
                // Dropping the statement stops a local query; a cluster job runs on until the
                // scheduler cancels it (Ballista's client does not on drop).
                if let Some(jobs) = &own_jobs {
                    jobs.cancel().await;
                }
                Err(Failure::Cancelled)
            }
        }
    })
}

/// What a program is handed in [`ember::config::SUBMITTED_CONF_VAR`]: the lines of the
/// `properties` file (when present), then the `conf` pairs, then the `master`.
fn handed_down(
    properties: &Path,
    conf: &[String],
    master: Option<&str>,
) -> Result<String, Failure> {
    let mut lines = match properties.is_file() {
        true => std::fs::read_to_string(properties)
            .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", properties.display())))?,
        false => String::new(),
    };
    lines.push('\n');
    for pair in conf {
        lines.push_str(pair);
        lines.push('\n');
    }
    if let Some(master) = master {
        lines.push_str(&format!("{MASTER}={master}\n"));
    }
    Ok(lines)
}

/// The text of the SQL script `app`; a usage error for arguments given to a script.
fn read_script(app: &Path, app_args: &[String]) -> Result<String, Failure> {
    if let Some(first) = app_args.first() {
        return Err(Failure::Usage(format!(
            "{}: a SQL script takes no arguments (got '{first}'); pass values with --var \
             NAME=VALUE",
            app.display()
        )));
    }
    std::fs::read_to_string(app)
        .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", app.display())))
}

/// A `--progress-interval`: a positive duration.
fn progress_interval(text: &str) -> Result<Duration, String> {
    match ember::config::parse_duration(text)? {
        interval if interval.is_zero() => Err("must be positive".to_string()),
        interval => Ok(interval),
    }
}

/// The `--var NAME=VALUE` pairs; a later value of a name wins.
fn parse_variables(vars: &[String]) -> Result<HashMap<String, String>, Failure> {
    vars.iter()
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) if !name.trim().is_empty() => {
                Ok((name.trim().to_string(), value.to_string()))
            }
            _ => Err(Failure::Usage(format!("--var '{pair}' is not NAME=VALUE"))),
        })
        .collect()
}
