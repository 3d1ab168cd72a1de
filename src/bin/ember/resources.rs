//! `spark-submit`'s resource flags, mapped onto Ember's configuration.
//!
//! In local mode the process is the one executor, so all three flags apply: cores become
//! `local[N]` (threads and default partitions) and memory becomes `ember.memory.limit`.
//!
//! On a cluster, executors are long-lived daemons shared by every job (as in Ballista): each
//! keeps the cores and memory it was started with (`ember executor --cores N --memory SIZE`),
//! and Ballista has no per-job share of an executor. So `--executor-cores` and
//! `--executor-memory` are usage errors there, saying where those are set, rather than flags
//! that would be silently ignored. `--total-executor-cores N` caps the job's parallelism:
//! `ember.sql.shuffle.partitions=N`, so no stage runs more than N partitions at once.

use clap::Args;
use ember::config::{parse_byte_size, MEMORY_LIMIT, SHUFFLE_PARTITIONS};
use ember::Master;

use crate::exit::Failure;

/// The resource flags of `ember submit`.
#[derive(Debug, Args)]
pub struct ResourceArgs {
    /// Local mode: memory for query execution, beyond which operators spill (e.g. 4g). A
    /// cluster's executors keep the memory they were started with.
    #[arg(long, value_name = "SIZE", value_parser = parse_byte_size)]
    executor_memory: Option<u64>,
    /// Local mode: threads (local[N]). A cluster's executors keep the cores they were started
    /// with.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    executor_cores: Option<u32>,
    /// The most cores the application uses at once: local[N] locally; on a cluster, at most N
    /// partitions per stage (ember.sql.shuffle.partitions).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    total_executor_cores: Option<u32>,
}

/// What the resource flags amount to.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Resources {
    /// The master to use instead of the configured one.
    pub master: Option<String>,
    /// `key=value` settings, to apply over the other configuration.
    pub conf: Vec<String>,
}

impl ResourceArgs {
    /// The settings these flags stand for on `master`; `master_flag` is `--master` as given.
    ///
    /// # Errors
    /// A usage error naming the flag: a per-executor flag on a cluster, or a core count that
    /// contradicts `--master local[N]` or the other core flag.
    pub fn resolve(
        &self,
        master: &Master,
        master_flag: Option<&str>,
    ) -> Result<Resources, Failure> {
        let mut resources = Resources::default();
        match master {
            Master::Local { .. } => {
                if let Some(cores) = self.local_cores()? {
                    let wanted = format!("local[{cores}]");
                    if let Some(given) = master_flag.filter(|given| is_sized_local(given)) {
                        if given.replace(' ', "") != wanted {
                            return Err(Failure::Usage(format!(
                                "--master {given} and {cores} executor cores disagree; local \
                                 mode has one executor, so give one of them"
                            )));
                        }
                    }
                    resources.master = Some(wanted);
                }
                if let Some(bytes) = self.executor_memory {
                    resources.conf.push(format!("{MEMORY_LIMIT}={bytes}"));
                }
            }
            Master::Cluster { .. } => {
                if let Some(cores) = self.executor_cores {
                    return Err(Failure::Usage(format!(
                        "--executor-cores {cores}: executors on {master} keep the cores they \
                         were started with (ember executor --cores N); cap this application \
                         with --total-executor-cores"
                    )));
                }
                if self.executor_memory.is_some() {
                    return Err(Failure::Usage(format!(
                        "--executor-memory: executors on {master} keep the memory they were \
                         started with (ember executor --memory SIZE)"
                    )));
                }
                if let Some(cores) = self.total_executor_cores {
                    resources.conf.push(format!("{SHUFFLE_PARTITIONS}={cores}"));
                }
            }
        }
        Ok(resources)
    }

    /// The thread count the core flags ask for in local mode (one executor: both flags mean
    /// the same and must agree).
    fn local_cores(&self) -> Result<Option<u32>, Failure> {
        match (self.executor_cores, self.total_executor_cores) {
            (Some(each), Some(total)) if each != total => Err(Failure::Usage(format!(
                "--executor-cores {each} and --total-executor-cores {total} disagree; local \
                 mode has one executor, so give one of them"
            ))),
            (each, total) => Ok(each.or(total)),
        }
    }
}

/// Whether `master` is `local[N]` with a number (not `local` or `local[*]`).
fn is_sized_local(master: &str) -> bool {
    master
        .trim()
        .strip_prefix("local[")
        .and_then(|rest| rest.strip_suffix(']'))
        .is_some_and(|count| count.trim().parse::<u32>().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(memory: Option<u64>, each: Option<u32>, total: Option<u32>) -> ResourceArgs {
        ResourceArgs {
            executor_memory: memory,
            executor_cores: each,
            total_executor_cores: total,
        }
    }

    fn cluster() -> Master {
        "ember://127.0.0.1:50050".parse().unwrap()
    }

    #[test]
    fn local_mode_takes_cores_as_threads_and_memory_as_the_limit() {
        let local = Master::Local { cores: 8 };
        let resources = flags(Some(1 << 30), Some(3), None)
            .resolve(&local, Some("local[*]"))
            .unwrap();
        assert_eq!(resources.master.as_deref(), Some("local[3]"));
        assert_eq!(resources.conf, vec![format!("{MEMORY_LIMIT}=1073741824")]);
        let total = flags(None, None, Some(2)).resolve(&local, None).unwrap();
        assert_eq!(total.master.as_deref(), Some("local[2]"));
        let agreeing = flags(None, Some(4), Some(4)).resolve(&local, Some("local[4]"));
        assert_eq!(agreeing.unwrap().master.as_deref(), Some("local[4]"));
        assert_eq!(
            flags(None, None, None).resolve(&local, None).unwrap(),
            Resources::default()
        );
    }

    #[test]
    fn contradicting_core_counts_are_usage_errors() {
        let local = Master::Local { cores: 2 };
        let error = |args: ResourceArgs, master_flag| match args.resolve(&local, master_flag) {
            Err(Failure::Usage(message)) => message,
            other => panic!("expected a usage error, got {other:?}"),
        };
        let master = error(flags(None, Some(4), None), Some("local[2]"));
        assert!(
            master.contains("--master local[2] and 4 executor cores"),
            "{master}"
        );
        let both = error(flags(None, Some(4), Some(2)), None);
        assert!(
            both.contains("--executor-cores 4 and --total-executor-cores 2"),
            "{both}"
        );
    }

    #[test]
    fn a_cluster_caps_total_cores_and_refuses_per_executor_sizes() {
        let total = flags(None, None, Some(6))
            .resolve(&cluster(), None)
            .unwrap();
        assert_eq!(total.master, None);
        assert_eq!(total.conf, vec![format!("{SHUFFLE_PARTITIONS}=6")]);
        for (args, needle) in [
            (flags(None, Some(2), None), "ember executor --cores N"),
            (
                flags(Some(1 << 30), None, None),
                "ember executor --memory SIZE",
            ),
        ] {
            match args.resolve(&cluster(), None) {
                Err(Failure::Usage(message)) => assert!(message.contains(needle), "{message}"),
                other => panic!("expected a usage error, got {other:?}"),
            }
        }
    }
}
