//! The memory budget of a process: how much memory its queries and fits may hold before they
//! spill to `ember.local.dir`, from `ember.memory.limit` and the memory of the machine.
//!
//! The default is [`DEFAULT_MEMORY_SHARE`] of the machine's memory, where the machine's memory is
//! its physical memory or, inside a container, the cgroup's limit when that is lower. Why 70%:
//! the pool accounts for what operators hold (hash tables, sort buffers, the training cache),
//! not for the batches flowing between operators, Parquet decoding buffers, thread stacks or the
//! allocator's slack, which measured 20-40% over the pool on TPC-H under tight budgets; 30%
//! headroom keeps the process clear of the OOM killer. Spark reserves about as much (its
//! unified memory region is 60% of the heap), DuckDB 20% (its default limit is 80%).

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

/// The share of the machine's memory the default budget takes, in percent.
pub const DEFAULT_MEMORY_SHARE: u8 = 70;

/// `ember.memory.limit` as written: a size, a share of the machine's memory, or no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryLimit {
    /// A size in bytes (`4g`, `512m`).
    Bytes(u64),
    /// A percentage, 1 to 100, of the machine's memory (`70%`).
    Share(u8),
    /// No limit (`unlimited`): operators never spill and a query may use all the memory there
    /// is.
    Unlimited,
}

impl FromStr for MemoryLimit {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("unlimited") {
            return Ok(MemoryLimit::Unlimited);
        }
        if let Some(percent) = text.strip_suffix('%') {
            return match percent.trim().parse::<u8>() {
                Ok(share @ 1..=100) => Ok(MemoryLimit::Share(share)),
                _ => Err("a share of memory is a whole percentage from 1% to 100%".into()),
            };
        }
        parse_byte_size(text)
            .map(MemoryLimit::Bytes)
            .map_err(|reason| format!("{reason}, a share such as 70%, or unlimited"))
    }
}

impl fmt::Display for MemoryLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemoryLimit::Bytes(bytes) => f.write_str(&format_byte_size(*bytes)),
            MemoryLimit::Share(share) => write!(f, "{share}%"),
            MemoryLimit::Unlimited => f.write_str("unlimited"),
        }
    }
}

/// The memory a process's queries and fits may hold, resolved from a [`MemoryLimit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryBudget {
    /// The limit it was resolved from.
    pub limit: MemoryLimit,
    /// The machine's memory when the limit is a share of it (`None`: unknown or not needed).
    pub machine: Option<u64>,
    /// The budget in bytes; `None` when there is none.
    pub bytes: Option<u64>,
}

impl MemoryBudget {
    /// `limit` resolved against `machine` bytes of memory. A share of a machine whose memory
    /// could not be read leaves no limit (said by [`fmt::Display`]).
    pub fn resolve(limit: MemoryLimit, machine: Option<u64>) -> Self {
        let (machine, bytes) = match limit {
            MemoryLimit::Bytes(bytes) => (None, Some(bytes)),
            MemoryLimit::Share(share) => (
                machine,
                machine.map(|memory| (memory as u128 * share as u128 / 100) as u64),
            ),
            MemoryLimit::Unlimited => (None, None),
        };
        Self {
            limit,
            machine,
            bytes,
        }
    }

    /// The budget as `ember.memory.limit` would take it: a size, or `unlimited`.
    pub fn setting(&self) -> String {
        match self.bytes {
            Some(bytes) => format_byte_size(bytes),
            None => MemoryLimit::Unlimited.to_string(),
        }
    }
}

/// What a user reads at start: `memory budget 11468m (70% of 16g)`.
impl fmt::Display for MemoryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.limit, self.machine, self.bytes) {
            (MemoryLimit::Share(share), Some(machine), Some(bytes)) => write!(
                f,
                "{} ({share}% of {})",
                format_byte_size(bytes),
                format_byte_size(machine)
            ),
            (MemoryLimit::Share(share), _, None) => write!(
                f,
                "unlimited (the machine's memory could not be read for {share}%; \
                 set ember.memory.limit to a size)"
            ),
            (MemoryLimit::Bytes(bytes), _, _) => f.write_str(&format_byte_size(bytes)),
            _ => f.write_str("unlimited (ember.memory.limit=unlimited: nothing spills)"),
        }
    }
}

/// Caps glibc malloc at one arena per core (at least 2) instead of its default of 8 per core,
/// unless `MALLOC_ARENA_MAX` is set (the user's choice wins). Call it first thing in `main`,
/// before threads start; it does nothing on other platforms and allocators.
///
/// Why: a query's memory is freed by the thread that drops it, often not the one that allocated
/// it, and each arena keeps the memory freed into it for reuse, so with 8 arenas per core a
/// process's resident memory grows far past what its memory pool accounts for. Measured on TPC-H
/// SF 10 (22 queries, 2 executors with `--cores 1 --memory 512m`, 2 cores): executor peak RSS
/// 1.20-1.48 GB with glibc's default of 16 arenas (2 runs), 1.10-1.16 GB with 8, 0.93-1.03 GB
/// with 2 (3 runs), all in 38.9-40.6 s; mimalloc or jemalloc (preloaded) reached 0.86-1.09 GB
/// but took 43.7-46.6 s.
pub fn limit_allocator_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        let arenas = libc::c_int::try_from(cores.max(2)).unwrap_or(libc::c_int::MAX);
        // SAFETY: mallopt only sets a tunable of glibc's allocator, which it reads under its own
        // lock; it takes no pointers.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, arenas);
        }
    }
}

/// Hands the memory that glibc malloc keeps after it was freed back to the operating system
/// (`malloc_trim`); does nothing on other platforms and allocators. For the end of a phase that
/// freed much of the budget at once, such as a cache moving its rows to spill files: malloc
/// keeps freed blocks for reuse, so without it the process stays as large as before the spill.
pub fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages of malloc's own heaps; it takes no pointers.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The memory of this machine, read once per process: its physical memory, or the memory limit
/// of its cgroup (a container's limit) when that is lower; `None` when neither can be read.
pub fn machine_memory() -> Option<u64> {
    static MEMORY: OnceLock<Option<u64>> = OnceLock::new();
    *MEMORY.get_or_init(|| {
        let mut system = sysinfo::System::new();
        system.refresh_memory_specifics(sysinfo::MemoryRefreshKind::nothing().with_ram());
        let physical = Some(system.total_memory()).filter(|&bytes| bytes > 0);
        let cgroup = system
            .cgroup_limits()
            .map(|limits| limits.total_memory)
            .filter(|&bytes| bytes > 0);
        match (physical, cgroup) {
            (Some(physical), Some(cgroup)) => Some(physical.min(cgroup)),
            (physical, cgroup) => physical.or(cgroup),
        }
    })
}

/// Parses sizes like `1048576`, `512k`, `512m`, `4g`, `4gb`, `2GiB`, `1t` (binary multiples).
pub fn parse_byte_size(value: &str) -> Result<u64, String> {
    let text = value.trim().to_ascii_lowercase();
    let digits_end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits_end);
    let number: f64 = number
        .parse()
        .map_err(|_| "expected a size such as 512m, 4g or 1073741824".to_string())?;
    let multiplier: u64 = match unit.trim() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        other => return Err(format!("unknown size unit '{other}' (use k, m, g or t)")),
    };
    let bytes = number * multiplier as f64;
    if bytes < 1.0 {
        return Err("must be at least 1 byte".into());
    }
    if bytes >= u64::MAX as f64 {
        return Err("is larger than any machine's memory".into());
    }
    Ok(bytes as u64)
}

/// `bytes` in the largest binary unit that keeps it whole to the mebibyte, in a form
/// [`parse_byte_size`] reads back: `4g`, `11468m`, or whole bytes under a mebibyte.
pub fn format_byte_size(bytes: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 40, "t"), (1 << 30, "g"), (1 << 20, "m")];
    for (unit, suffix) in UNITS {
        if bytes >= unit && bytes.is_multiple_of(unit) {
            return format!("{}{suffix}", bytes / unit);
        }
    }
    if bytes >= 1 << 20 {
        format!("{}m", bytes >> 20)
    } else {
        bytes.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse_as_sizes_shares_or_unlimited() {
        assert_eq!("4g".parse(), Ok(MemoryLimit::Bytes(4 << 30)));
        assert_eq!(" 70% ".parse(), Ok(MemoryLimit::Share(70)));
        assert_eq!("Unlimited".parse(), Ok(MemoryLimit::Unlimited));
        for bad in ["0%", "101%", "lots", "0", "1e30g", "-1g"] {
            assert!(bad.parse::<MemoryLimit>().is_err(), "{bad}");
        }
        for limit in [
            MemoryLimit::Bytes(512 << 20),
            MemoryLimit::Share(5),
            MemoryLimit::Unlimited,
        ] {
            assert_eq!(limit.to_string().parse(), Ok(limit));
        }
    }

    #[test]
    fn a_share_resolves_against_the_machine_and_reads_back() {
        let budget = MemoryBudget::resolve(MemoryLimit::Share(70), Some(16 << 30));
        assert_eq!(budget.bytes, Some(12_025_908_428));
        assert_eq!(budget.to_string(), "11468m (70% of 16g)");
        assert_eq!(budget.setting(), "11468m");
        assert_eq!(
            budget.setting().parse(),
            Ok(MemoryLimit::Bytes(11468 << 20))
        );
        let unknown = MemoryBudget::resolve(MemoryLimit::Share(70), None);
        assert_eq!(unknown.bytes, None);
        assert!(unknown.to_string().contains("could not be read"));
        assert_eq!(
            MemoryBudget::resolve(MemoryLimit::Unlimited, Some(1 << 30)).setting(),
            "unlimited"
        );
        assert_eq!(
            MemoryBudget::resolve(MemoryLimit::Bytes(3 << 30), None).to_string(),
            "3g"
        );
    }

    #[test]
    fn this_machine_has_memory() {
        assert!(machine_memory().is_some_and(|bytes| bytes > 1 << 20));
    }
}
