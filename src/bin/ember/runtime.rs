//! Building a session and the Tokio runtime it runs on from command-line configuration.

use std::path::Path;

use ember::config::MASTER;
use ember::{ConfigOrigin, EmberConfig, Session};

use crate::exit::Failure;

pub use ember::config::DEFAULT_PROPERTIES_FILE;

/// Loads configuration from `EMBER_*` variables, the default properties file and `conf` pairs
/// (`key=value`, highest precedence), with `master` (the `--master` flag) over all of them.
pub fn load_config(conf: &[String], master: Option<&str>) -> Result<EmberConfig, Failure> {
    load_config_with(conf, master, Path::new(DEFAULT_PROPERTIES_FILE))
}

/// [`load_config`] with `properties_file` (read when present) instead of the default one.
pub fn load_config_with(
    conf: &[String],
    master: Option<&str>,
    properties_file: &Path,
) -> Result<EmberConfig, Failure> {
    let pairs = conf
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) => Ok((key.trim().to_string(), value.trim().to_string())),
            None => Err(Failure::Usage(format!("--conf '{pair}' is not key=value"))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut config = EmberConfig::load(
        std::env::vars(),
        Some(properties_file),
        &pairs,
        ConfigOrigin::CommandLine,
    )
    .map_err(|e| Failure::Usage(e.to_string()))?;
    if let Some(master) = master {
        config
            .set(MASTER, master, ConfigOrigin::Flag("--master"))
            .map_err(|e| Failure::Usage(e.to_string()))?;
    }
    Ok(config)
}

/// The stack of every thread the `ember` process plans or runs queries on: the thread each
/// subcommand runs on and the Tokio runtimes' threads. Planning and evaluating an expression
/// recurses once per level of its nesting (DataFusion's `Expr::clone` among others), and a
/// statement may nest `ember::parse::MAX_EXPRESSION_DEPTH` levels: a debug build needed more than
/// 4 MiB and at most 8 MiB for that. The system commits only the pages a thread touches.
pub const THREAD_STACK: usize = 16 << 20;

/// A multi-threaded Tokio runtime with one worker per core of `config`'s master, and the session
/// built inside it.
pub fn start(config: EmberConfig) -> Result<(tokio::runtime::Runtime, Session), Failure> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.master().cores())
        .thread_stack_size(THREAD_STACK)
        .enable_all()
        .build()
        .map_err(|e| Failure::Job(format!("cannot start the runtime: {e}")))?;
    let session = {
        let _guard = runtime.enter();
        Session::builder().with_config(config).build()?
    };
    Ok((runtime, session))
}
