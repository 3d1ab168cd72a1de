//! Master URLs: where a session's work runs.

use std::fmt;
use std::str::FromStr;

/// Where a session runs: embedded in this process, or on an Ember cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Master {
    /// Embedded execution with `cores` threads and as many partitions
    /// (`local` and `local[*]`: every core; `local[N]`: N).
    Local {
        /// Threads and default partitions.
        cores: usize,
    },
    /// A cluster scheduler at `ember://host:port`.
    Cluster {
        /// Scheduler host.
        host: String,
        /// Scheduler port.
        port: u16,
    },
}

impl Master {
    /// The number of cores this process should use to drive the session: the local core count,
    /// or every local core for a cluster client.
    pub fn cores(&self) -> usize {
        match self {
            Master::Local { cores } => *cores,
            Master::Cluster { .. } => available_cores(),
        }
    }
}

/// The most threads `local[N]` may ask for: each is an OS thread with its own stack and task
/// queue, so `local[100000]` would exhaust the process before the first query; a thousand is
/// more than any one machine's cores.
pub const MAX_LOCAL_CORES: usize = 1024;

/// The cores of this machine (at least 1).
pub fn available_cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// A master URL that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid master '{given}': {}", self.explain())]
pub struct InvalidMaster {
    /// The text as given.
    pub given: String,
    /// What is wrong with it.
    pub reason: String,
}

impl InvalidMaster {
    /// What is wrong and what a master looks like, without the text given.
    pub fn explain(&self) -> String {
        format!(
            "{} (expected local, local[N], local[*] or ember://host:port)",
            self.reason
        )
    }
}

impl FromStr for Master {
    type Err = InvalidMaster;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = |reason: &str| InvalidMaster {
            given: text.to_string(),
            reason: reason.to_string(),
        };
        let text = text.trim();
        if text == "local" || text == "local[*]" {
            return Ok(Master::Local {
                cores: available_cores(),
            });
        }
        if let Some(count) = text
            .strip_prefix("local[")
            .and_then(|t| t.strip_suffix(']'))
        {
            return match count.parse::<usize>() {
                Ok(0) => Err(invalid("the core count must be at least 1")),
                Ok(cores) if cores > MAX_LOCAL_CORES => Err(invalid(&format!(
                    "the core count must be at most {MAX_LOCAL_CORES} (this machine has {})",
                    available_cores()
                ))),
                Ok(cores) => Ok(Master::Local { cores }),
                Err(_) => Err(invalid("the core count must be a positive integer or *")),
            };
        }
        if let Some(address) = text.strip_prefix("ember://") {
            let (host, port) = address
                .trim_end_matches('/')
                .rsplit_once(':')
                .ok_or_else(|| invalid("the cluster address needs a port"))?;
            if host.is_empty() {
                return Err(invalid("the cluster address needs a host"));
            }
            let port = port
                .parse::<u16>()
                .map_err(|_| invalid("the port must be a number from 1 to 65535"))?;
            return Ok(Master::Cluster {
                host: host.to_string(),
                port,
            });
        }
        Err(invalid("unknown scheme"))
    }
}

impl fmt::Display for Master {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Master::Local { cores } => write!(f, "local[{cores}]"),
            Master::Cluster { host, port } => write!(f, "ember://{host}:{port}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_local_masters() {
        assert_eq!("local[3]".parse(), Ok(Master::Local { cores: 3 }));
        let all = Master::Local {
            cores: available_cores(),
        };
        assert_eq!("local".parse(), Ok(all.clone()));
        assert_eq!("local[*]".parse(), Ok(all));
    }

    #[test]
    fn parses_cluster_masters() {
        assert_eq!(
            "ember://10.0.0.5:50050".parse(),
            Ok(Master::Cluster {
                host: "10.0.0.5".into(),
                port: 50050
            })
        );
    }

    #[test]
    fn rejects_bad_masters_with_reason() {
        for (text, reason) in [
            ("local[0]", "at least 1"),
            ("local[100000]", "at most 1024"),
            ("local[two]", "positive integer"),
            ("ember://host", "needs a port"),
            ("ember://:1", "needs a host"),
            ("ember://h:99999", "port must be"),
            ("yarn", "unknown scheme"),
        ] {
            let err = text.parse::<Master>().unwrap_err().to_string();
            assert!(err.contains(reason) && err.contains(text), "{text}: {err}");
        }
    }
}
