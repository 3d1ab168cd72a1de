//! `ember submit`: runs an application the way `spark-submit` does — here a `.sql` script whose
//! statements run in order on the configured master, stopping at the first failure (reported
//! with the statement's line), with `${name}` variables from `--var`.

use std::collections::HashMap;
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};

use clap::Args;
use ember::script::substitute_variables;

use crate::exit::Failure;
use crate::output::OutputFormat;
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
    /// Do not print timings to stderr.
    #[arg(short, long, conflicts_with = "verbose")]
    quiet: bool,
    /// Print the master and each statement's scan statistics to stderr.
    #[arg(short, long)]
    verbose: bool,
    /// The application: a `.sql` script.
    #[arg(value_name = "APP")]
    app: PathBuf,
    /// Arguments of the application (a SQL script takes none: use --var).
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
    let script = read_script(&args.app, &args.app_args)?;
    let script = substitute_variables(&script, &variables)
        .map_err(|e| Failure::Usage(format!("{}: {e}", args.app.display())))?;
    let mut conf = args.conf.clone();
    if let Some(name) = &args.name {
        conf.push(format!("{JOB_NAME}={name}"));
    }
    let config = runtime::load_config_with(&conf, args.master.as_deref(), &properties)?;
    if args.verbose {
        eprintln!(
            "-- submitting {} to {}",
            args.app.display(),
            config.master()
        );
    }
    let (runtime, session) = runtime::start(config)?;
    let out = Box::new(BufWriter::new(io::stdout().lock()));
    let mut runner = StatementRunner::new(session, args.format, out, args.quiet, args.verbose);
    runtime.block_on(runner.run_script(&script))
}

/// The text of the SQL script `app`; a usage error for anything else, or for arguments given
/// to a script.
fn read_script(app: &Path, app_args: &[String]) -> Result<String, Failure> {
    if app.extension().is_none_or(|extension| extension != "sql") {
        return Err(Failure::Usage(format!(
            "{}: APP must be a .sql script (running programs is not supported yet)",
            app.display()
        )));
    }
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
