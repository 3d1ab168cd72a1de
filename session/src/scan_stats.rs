//! `ScanStats`: how much of its datasets an executed plan read, and how much it skipped — files,
//! Parquet row groups and pages, bytes — summed over every scan of the plan from DataFusion's
//! scan metrics, and [`spilled_bytes`], what its operators spilled. `ember sql --stats` prints both
//! after each statement.
//!
//! Files in partitions that Hive-column predicates ruled out are never listed, so they appear in
//! no count: `files` counts the files the scans were planned over.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::physical_plan::metrics::MetricValue;
use datafusion::physical_plan::ExecutionPlan;

/// What the scans of one executed plan read and skipped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanStats {
    /// Files the scans were planned over (after partition pruning).
    pub files: usize,
    /// Their total size in bytes.
    pub file_bytes: u64,
    /// Files (or file ranges) skipped whole by their statistics.
    pub files_pruned: usize,
    /// Parquet row groups read.
    pub row_groups_matched: usize,
    /// Parquet row groups skipped by statistics or bloom filters.
    pub row_groups_pruned: usize,
    /// Rows skipped inside read row groups by the page index.
    pub page_rows_pruned: usize,
    /// Bytes actually read from storage.
    pub bytes_scanned: u64,
    /// Rows the scans have produced so far.
    pub rows_read: usize,
}

impl ScanStats {
    /// The sums over every file scan in `plan`, which must have run (metrics are filled while
    /// it executes).
    pub fn of(plan: &Arc<dyn ExecutionPlan>) -> Self {
        let mut stats = Self::default();
        stats.add(plan);
        stats
    }

    fn add(&mut self, plan: &Arc<dyn ExecutionPlan>) {
        if let Some(scan) = plan.downcast_ref::<DataSourceExec>() {
            if let Some(config) = scan.data_source().downcast_ref::<FileScanConfig>() {
                // A large file split into byte ranges appears once per range.
                let files: HashMap<_, _> = config
                    .file_groups
                    .iter()
                    .flat_map(|group| group.iter())
                    .map(|file| (&file.object_meta.location, file.object_meta.size))
                    .collect();
                self.files += files.len();
                self.file_bytes += files.values().sum::<u64>();
            }
            for metric in plan.metrics().iter().flat_map(|set| set.iter()) {
                self.add_metric(metric.value());
            }
        }
        for child in plan.children() {
            self.add(child);
        }
    }

    /// What the scans have read so far, for progress lines: `120000 rows, 4.1 MiB read`.
    pub fn read_summary(&self) -> String {
        format!(
            "{} rows, {} read",
            self.rows_read,
            human_bytes(self.bytes_scanned)
        )
    }

    fn add_metric(&mut self, value: &MetricValue) {
        match value {
            MetricValue::OutputRows(count) => self.rows_read += count.value(),
            MetricValue::Count { name, count } if name == "bytes_scanned" => {
                self.bytes_scanned += count.value() as u64
            }
            MetricValue::PruningMetrics {
                name,
                pruning_metrics,
            } => {
                let (pruned, matched) = (pruning_metrics.pruned(), pruning_metrics.matched());
                match name.as_ref() {
                    "files_ranges_pruned_statistics" => self.files_pruned += pruned,
                    "row_groups_pruned_statistics" => {
                        self.row_groups_pruned += pruned;
                        self.row_groups_matched += matched;
                    }
                    // Bloom filters test the row groups statistics kept.
                    "row_groups_pruned_bloom_filter" => {
                        self.row_groups_pruned += pruned;
                        self.row_groups_matched -= pruned.min(self.row_groups_matched);
                    }
                    "page_index_rows_pruned" => self.page_rows_pruned += pruned,
                    _ => {}
                }
            }
            _ => {}
        }
    }
}

impl fmt::Display for ScanStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "scanned {} file{} ({} pruned by statistics), {} of {} row groups ({} pruned), \
             {} rows pruned by page index, {} read of {} in files",
            self.files,
            if self.files == 1 { "" } else { "s" },
            self.files_pruned,
            self.row_groups_matched,
            self.row_groups_matched + self.row_groups_pruned,
            self.row_groups_pruned,
            self.page_rows_pruned,
            human_bytes(self.bytes_scanned),
            human_bytes(self.file_bytes),
        )
    }
}

/// Bytes the operators of `plan`, which has run, spilled to disk (sorts, aggregations, joins:
/// DataFusion's `spilled_bytes` metric, summed over the plan).
pub fn spilled_bytes(plan: &Arc<dyn ExecutionPlan>) -> u64 {
    let own: usize = plan
        .metrics()
        .iter()
        .flat_map(|set| set.iter())
        .map(|metric| match metric.value() {
            MetricValue::SpilledBytes(count) => count.value(),
            _ => 0,
        })
        .sum();
    own as u64 + plan.children().into_iter().map(spilled_bytes).sum::<u64>()
}

/// `1536` -> `1.5 KiB`: how `ember sql --stats` prints sizes.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    match unit {
        0 => format!("{bytes} B"),
        _ => format!("{value:.1} {}", UNITS[unit]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes_read_like_humans_write_them() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
    }
}
