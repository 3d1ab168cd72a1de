//! Parquet scans cut at row-group boundaries into partitions of nearly equal rows.
//!
//! Why this exists: DataFusion splits a scan's files into `target_partitions` equal byte ranges,
//! and a row group is read by the range that holds its first page. The cut falls wherever the
//! bytes say, so a partition can get a whole row group more than its share: one file of 8 equal
//! row groups split in two gives 5 and 3, because the footer lengthens the file and moves the
//! middle past the fifth row group's start. A query waits for its busiest partition; a tree fit
//! on a cluster waits for it at every step, since its tasks (one per partition) build
//! histograms in lockstep. Measured on the 1M-row benchmark data (8 row groups of training
//! rows): the cluster's busier task held 500,000 rows against 300,000.
//!
//! The rule keeps DataFusion's partition count and file order and moves each cut to the
//! row-group boundary nearest an equal share of the rows. Row groups are whole units here as in
//! DataFusion (a range reads the row groups that start in it), so the cuts are ranges that
//! begin at a row group's first page. It reads no file: it uses the footers DataFusion read
//! while planning (for statistics) from the runtime's file-metadata cache, and leaves a scan
//! alone when a footer is not there, when the scan keeps an order, or when it would not be
//! better balanced.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::config::ConfigOptions;
use datafusion::datasource::listing::{FileRange, PartitionedFile};
use datafusion::datasource::physical_plan::parquet::metadata::CachedParquetMetaData;
use datafusion::datasource::physical_plan::{
    FileGroup, FileScanConfig, FileScanConfigBuilder, ParquetSource,
};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::Result;
use datafusion::execution::cache::cache_manager::FileMetadataCache;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;

/// Physical optimizer rule; see the module documentation. Runs after DataFusion's
/// `EnforceDistribution`, which splits the scans.
pub struct RowGroupBalancedScans {
    /// The runtime's cache of file footers, which planning filled.
    footers: Arc<FileMetadataCache>,
}

impl RowGroupBalancedScans {
    /// The rule for plans whose files' footers are in `footers`.
    pub fn new(footers: Arc<FileMetadataCache>) -> Self {
        Self { footers }
    }
}

impl fmt::Debug for RowGroupBalancedScans {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RowGroupBalancedScans")
    }
}

impl PhysicalOptimizerRule for RowGroupBalancedScans {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            let Some(scan) = node.downcast_ref::<DataSourceExec>() else {
                return Ok(Transformed::no(node));
            };
            let Some(config) = scan.data_source().downcast_ref::<FileScanConfig>() else {
                return Ok(Transformed::no(node));
            };
            if config
                .file_source()
                .downcast_ref::<ParquetSource>()
                .is_none()
            {
                return Ok(Transformed::no(node));
            }
            let Some(groups) = balanced_groups(config, |file| self.row_groups(file)) else {
                return Ok(Transformed::no(node));
            };
            let config = FileScanConfigBuilder::from(config.clone())
                .with_file_groups(groups)
                .build();
            let scan = scan.clone().with_data_source(Arc::new(config));
            Ok(Transformed::yes(Arc::new(scan) as Arc<dyn ExecutionPlan>))
        })
        .data()
    }

    fn name(&self) -> &str {
        "row_group_balanced_scans"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

impl RowGroupBalancedScans {
    /// `file`'s row groups as the cache knows them (`None` when its footer is not cached or the
    /// file changed since), each as the offset of its first page and its row count.
    fn row_groups(&self, file: &PartitionedFile) -> Option<Vec<RowGroup>> {
        let entry = self.footers.get(&file.object_meta.location)?;
        if !entry.is_valid_for(&file.object_meta) {
            return None;
        }
        let footer = entry
            .file_metadata
            .as_any()
            .downcast_ref::<CachedParquetMetaData>()?;
        footer
            .parquet_metadata()
            .row_groups()
            .iter()
            .map(|group| {
                // The offset DataFusion's Parquet opener assigns a row group to a range by.
                let column = group.columns().first()?;
                let start = column
                    .dictionary_page_offset()
                    .unwrap_or_else(|| column.data_page_offset());
                Some(RowGroup {
                    start: u64::try_from(start).ok()?,
                    rows: u64::try_from(group.num_rows()).ok()?,
                })
            })
            .collect()
    }
}

/// A row group: the offset of its first page and its rows.
#[derive(Debug, Clone, Copy, PartialEq)]
struct RowGroup {
    start: u64,
    rows: u64,
}

/// One row group of a scan, ready to be dealt to a partition.
#[derive(Debug, Clone, Copy)]
struct Piece {
    /// Index into the scan's distinct files.
    file: usize,
    /// Its byte range: from its first page to the next row group's (or the end of the file).
    start: u64,
    end: u64,
    rows: u64,
    /// The partition DataFusion gave it.
    group: usize,
}

/// The file groups of `config` with the same count and file order, cut at row-group
/// boundaries into nearly equal rows; `None` where the scan is not split by byte ranges, keeps
/// an order, has a file whose `row_groups` are unknown, or would not be better balanced.
fn balanced_groups(
    config: &FileScanConfig,
    row_groups: impl Fn(&PartitionedFile) -> Option<Vec<RowGroup>>,
) -> Option<Vec<FileGroup>> {
    let groups = &config.file_groups;
    let split_by_ranges = groups
        .iter()
        .flat_map(FileGroup::iter)
        .any(|file| file.range.is_some());
    if groups.len() < 2 || !split_by_ranges || !config.output_ordering.is_empty() {
        return None;
    }
    let (files, pieces) = pieces_of(groups, row_groups)?;
    let cuts = cuts(&pieces, groups.len())?;
    let most_now = (0..groups.len())
        .map(|group| rows_of(pieces.iter().filter(|p| p.group == group)))
        .max()?;
    let most_balanced = cuts
        .windows(2)
        .map(|w| rows_of(&pieces[w[0]..w[1]]))
        .max()?;
    if most_balanced >= most_now {
        return None;
    }
    Some(
        cuts.windows(2)
            .map(|w| FileGroup::new(ranges(&files, &pieces[w[0]..w[1]])))
            .collect(),
    )
}

/// The rows of `pieces`; saturating, as the counts come from files' footers.
fn rows_of<'a>(pieces: impl IntoIterator<Item = &'a Piece>) -> u64 {
    pieces
        .into_iter()
        .fold(0, |rows, piece| rows.saturating_add(piece.rows))
}

/// The scan's distinct files (in the order they first appear) and its row groups in file
/// order, each tagged with the group that reads it now.
fn pieces_of(
    groups: &[FileGroup],
    row_groups: impl Fn(&PartitionedFile) -> Option<Vec<RowGroup>>,
) -> Option<(Vec<PartitionedFile>, Vec<Piece>)> {
    // Each distinct file with the ranges the groups read of it.
    let mut files: Vec<PartitionedFile> = Vec::new();
    let mut reads: Vec<Vec<(usize, Option<FileRange>)>> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for (group, file) in groups
        .iter()
        .enumerate()
        .flat_map(|(group, files)| files.iter().map(move |file| (group, file)))
    {
        let at = *index
            .entry(file.object_meta.location.to_string())
            .or_insert_with(|| {
                files.push(file.clone());
                reads.push(Vec::new());
                files.len() - 1
            });
        reads[at].push((group, file.range.clone()));
    }
    let mut pieces = Vec::new();
    for (at, file) in files.iter().enumerate() {
        let groups_of_file = row_groups(file)?;
        let size = file.object_meta.size;
        for (i, row_group) in groups_of_file.iter().enumerate() {
            let end = groups_of_file.get(i + 1).map_or(size, |next| next.start);
            if end <= row_group.start || end > size {
                // Not laid out in file order: leave the scan as DataFusion planned it.
                return None;
            }
            let reader = reads[at].iter().find(|(_, range)| match range {
                None => true,
                Some(range) => range.contains(row_group.start as i64),
            });
            if let Some((group, _)) = reader {
                pieces.push(Piece {
                    file: at,
                    start: row_group.start,
                    end,
                    rows: row_group.rows,
                    group: *group,
                });
            }
        }
    }
    Some((files, pieces))
}

/// Where `partitions` contiguous runs of `pieces` begin and end (`partitions + 1` indexes from 0
/// to `pieces.len()`), each cut at the boundary nearest its equal share of the rows and every
/// run holding at least one piece; `None` with fewer pieces than partitions.
fn cuts(pieces: &[Piece], partitions: usize) -> Option<Vec<usize>> {
    if pieces.len() < partitions {
        return None;
    }
    let mut before = vec![0u64; pieces.len() + 1];
    for (i, piece) in pieces.iter().enumerate() {
        before[i + 1] = before[i].saturating_add(piece.rows);
    }
    let total = before[pieces.len()] as u128;
    let mut cuts = vec![0];
    for k in 1..partitions {
        let share = (total * k as u128 / partitions as u128) as u64;
        let earliest = cuts[k - 1] + 1;
        let latest = pieces.len() - (partitions - k);
        let cut = (earliest..=latest).min_by_key(|&at| before[at].abs_diff(share))?;
        cuts.push(cut);
    }
    cuts.push(pieces.len());
    Some(cuts)
}

/// `run` (consecutive pieces) as file ranges: one per file it touches.
fn ranges(files: &[PartitionedFile], run: &[Piece]) -> Vec<PartitionedFile> {
    let mut ranges: Vec<(usize, u64, u64)> = Vec::new();
    for piece in run {
        match ranges.last_mut() {
            Some((file, _, end)) if *file == piece.file && *end == piece.start => *end = piece.end,
            _ => ranges.push((piece.file, piece.start, piece.end)),
        }
    }
    ranges
        .into_iter()
        .map(|(file, start, end)| files[file].clone().with_range(start as i64, end as i64))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::Schema;
    use datafusion::execution::object_store::ObjectStoreUrl;
    use datafusion::physical_plan::collect_partitioned;
    use datafusion::prelude::{SessionConfig, SessionContext};

    use crate::config::EmberConfig;
    use crate::state::session_state;

    /// A file of `size` bytes split as DataFusion would: `groups` lists each partition's ranges.
    fn scan(groups: &[&[(&str, u64, i64, i64)]]) -> FileScanConfig {
        let groups = groups
            .iter()
            .map(|ranges| {
                FileGroup::new(
                    ranges
                        .iter()
                        .map(|&(name, size, start, end)| {
                            PartitionedFile::new(name, size).with_range(start, end)
                        })
                        .collect(),
                )
            })
            .collect();
        let source = Arc::new(ParquetSource::new(Arc::new(Schema::empty())));
        FileScanConfigBuilder::new(ObjectStoreUrl::local_filesystem(), source)
            .with_file_groups(groups)
            .build()
    }

    /// `count` row groups of `rows` rows and `bytes` bytes each after a 4-byte header.
    fn even(count: u64, rows: u64, bytes: u64) -> Vec<RowGroup> {
        (0..count)
            .map(|i| RowGroup {
                start: 4 + i * bytes,
                rows,
            })
            .collect()
    }

    fn read(groups: &[FileGroup]) -> Vec<Vec<(String, i64, i64)>> {
        groups
            .iter()
            .map(|group| {
                group
                    .iter()
                    .map(|file| {
                        let range = file.range.clone().unwrap();
                        (
                            file.object_meta.location.to_string(),
                            range.start,
                            range.end,
                        )
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn a_file_of_eight_row_groups_split_five_to_three_by_bytes_is_split_four_to_four() {
        // 8 row groups of 100 bytes from offset 4, then a 60-byte footer: 864 bytes. Byte
        // ranges [0, 432) and [432, 864) hold the starts of 5 and 3 row groups.
        let config = scan(&[&[("a", 864, 0, 432)], &[("a", 864, 432, 864)]]);
        let groups = balanced_groups(&config, |_| Some(even(8, 100_000, 100))).unwrap();
        assert_eq!(
            read(&groups),
            vec![vec![("a".into(), 4, 404)], vec![("a".into(), 404, 864)]]
        );
    }

    #[test]
    fn cuts_follow_rows_across_files_and_keep_the_partition_count() {
        // File a: 3 row groups of 10 rows; file b: 1 row group of 30 rows. Split by bytes as
        // a = [0, 150) | a = [150, 304), b = [0, 54).
        let config = scan(&[
            &[("a", 304, 0, 150)],
            &[("a", 304, 150, 304), ("b", 54, 0, 54)],
        ]);
        let groups = balanced_groups(&config, |file| {
            Some(match file.object_meta.location.as_ref() {
                "a" => even(3, 10, 100),
                _ => even(1, 30, 40),
            })
        })
        .unwrap();
        // 10 + 10 + 10 | 30 rows: the cut moves to the file boundary.
        assert_eq!(
            read(&groups),
            vec![vec![("a".into(), 4, 304)], vec![("b".into(), 4, 54)]]
        );
    }

    #[test]
    fn a_scan_left_as_balanced_as_it_can_be_or_with_unknown_footers_is_left_alone() {
        // Starts at 4, 104 | 204, 304.
        let config = scan(&[&[("a", 464, 0, 150)], &[("a", 464, 150, 464)]]);
        assert!(balanced_groups(&config, |_| Some(even(4, 10, 100))).is_none());
        let config = scan(&[&[("a", 864, 0, 432)], &[("a", 864, 432, 864)]]);
        assert!(balanced_groups(&config, |_| None).is_none());
        // Fewer row groups than partitions: nothing better to do.
        assert!(balanced_groups(&config, |_| Some(even(1, 10, 800))).is_none());
    }

    /// Rows of each partition of `sql` planned in `ctx`.
    async fn rows_per_partition(ctx: &SessionContext, sql: &str) -> Vec<usize> {
        let plan = ctx
            .sql(sql)
            .await
            .unwrap()
            .create_physical_plan()
            .await
            .unwrap();
        collect_partitioned(plan, ctx.task_ctx())
            .await
            .unwrap()
            .iter()
            .map(|batches| batches.iter().map(|batch| batch.num_rows()).sum())
            .collect()
    }

    #[tokio::test]
    async fn a_planned_scan_of_eight_row_groups_reads_half_of_them_in_each_of_two_partitions() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.parquet");
        let ember =
            SessionContext::new_with_state(session_state(&EmberConfig::default(), 2).unwrap());
        // Random doubles, as in the ML benchmark: row groups of equal bytes, so the footer
        // decides where DataFusion's byte cut falls.
        let copy = format!(
            "COPY (SELECT random() AS v, random() AS w FROM generate_series(1, 80000)) TO '{}' \
             STORED AS PARQUET OPTIONS ('format.max_row_group_size' '10000')",
            file.display()
        );
        ember.sql(&copy).await.unwrap().collect().await.unwrap();
        let datafusion =
            SessionContext::new_with_config(SessionConfig::new().with_target_partitions(2));
        for ctx in [&ember, &datafusion] {
            ctx.sql("SET datafusion.optimizer.repartition_file_min_size = 0")
                .await
                .unwrap();
            // The planned cut, not the run: with work stealing a partition that finishes
            // first may take its sibling's row groups, depending on which task polls first.
            ctx.sql("SET datafusion.execution.enable_file_stream_work_stealing = false")
                .await
                .unwrap();
            ctx.register_parquet("t", file.display().to_string(), Default::default())
                .await
                .unwrap();
        }
        let sql = "SELECT v FROM t";
        let by_bytes = rows_per_partition(&datafusion, sql).await;
        assert!(by_bytes.iter().max().unwrap() > &40_000, "{by_bytes:?}");
        assert_eq!(rows_per_partition(&ember, sql).await, vec![40_000, 40_000]);
    }

    #[test]
    fn every_row_group_is_read_exactly_once_after_balancing() {
        let sizes = [7u64, 1, 1, 1, 9, 2, 2, 2, 2, 5];
        let layout: Vec<RowGroup> = sizes
            .iter()
            .enumerate()
            .map(|(i, &rows)| RowGroup {
                start: 4 + 10 * i as u64,
                rows,
            })
            .collect();
        let config = scan(&[
            &[("a", 120, 0, 40)],
            &[("a", 120, 40, 80)],
            &[("a", 120, 80, 120)],
        ]);
        let groups = balanced_groups(&config, |_| Some(layout.clone())).unwrap();
        assert_eq!(groups.len(), 3);
        let mut read_by: Vec<usize> = Vec::new();
        let mut rows = Vec::new();
        for (partition, group) in groups.iter().enumerate() {
            let mut held = 0;
            for file in group.iter() {
                let range = file.range.clone().unwrap();
                for (i, row_group) in layout.iter().enumerate() {
                    if range.contains(row_group.start as i64) {
                        read_by.push(i);
                        held += sizes[i];
                    }
                }
            }
            assert!(held > 0, "partition {partition} is empty");
            rows.push(held);
        }
        read_by.sort();
        assert_eq!(read_by, (0..sizes.len()).collect::<Vec<_>>());
        // 32 rows in 3: DataFusion's byte ranges held 10, 15 and 7.
        assert_eq!(rows, vec![10, 11, 11]);
    }
}
