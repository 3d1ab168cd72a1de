//! Planning over a big Hive-partitioned dataset: 1,000 Parquet files generated here; a selective
//! query must read one file and one of its row groups, asserted from the plan's scan metrics, and
//! planning must list only the directory of the partition its filters fix.

use std::sync::{Arc, Mutex};

use ember::datafusion::arrow::array::AsArray;
use ember::datafusion::arrow::datatypes::Int64Type;
use ember::datafusion::physical_plan::collect;
use ember::{ScanStats, Session};
use futures::stream::BoxStream;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult,
};

use crate::common::{run_ember, stderr, stdout};

/// Rows per partition file: 2,000 in row groups of 500, ordered by `v`.
const WRITE_EVENTS: &str = "COPY (SELECT v, (v / 20) % 50 AS day, v % 20 AS region \
     FROM generate_series(0, 1999999) t(v) ORDER BY v) TO '{}' STORED AS PARQUET \
     PARTITIONED BY (day, region) OPTIONS (max_row_group_size 500)";

/// A local-file store that records every prefix listed, to show which directories planning
/// visited.
#[derive(Debug, Default)]
struct ListingRecorder {
    inner: LocalFileSystem,
    listed: Mutex<Vec<String>>,
}

impl ListingRecorder {
    fn record(&self, prefix: Option<&ObjectPath>) {
        let prefix = prefix.map(|p| p.to_string()).unwrap_or_default();
        self.listed.lock().unwrap().push(prefix);
    }

    /// The prefixes listed since the last call.
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut self.listed.lock().unwrap())
    }
}

impl std::fmt::Display for ListingRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ListingRecorder({})", self.inner)
    }
}

#[async_trait::async_trait]
impl ObjectStore for ListingRecorder {
    async fn put_opts(
        &self,
        location: &ObjectPath,
        payload: PutPayload,
        options: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.inner.put_opts(location, payload, options).await
    }

    async fn put_multipart_opts(
        &self,
        location: &ObjectPath,
        options: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, options).await
    }

    async fn get_opts(
        &self,
        location: &ObjectPath,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<ObjectPath>>,
    ) -> BoxStream<'static, object_store::Result<ObjectPath>> {
        self.inner.delete_stream(locations)
    }

    fn list(
        &self,
        prefix: Option<&ObjectPath>,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.record(prefix);
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(
        &self,
        prefix: Option<&ObjectPath>,
    ) -> object_store::Result<ListResult> {
        self.record(prefix);
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &ObjectPath,
        to: &ObjectPath,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

/// Runs `sql` and returns its first value as an integer, with the scan statistics of its plan.
async fn run_with_stats(session: &Session, sql: &str) -> (i64, ScanStats) {
    let frame = session.sql(sql).await.unwrap();
    let task = Arc::new(frame.task_ctx());
    let plan = frame.create_physical_plan().await.unwrap();
    let batches = collect(Arc::clone(&plan), task).await.unwrap();
    let value = batches[0].column(0).as_primitive::<Int64Type>().value(0);
    (value, ScanStats::of(&plan))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_selective_query_reads_one_of_a_thousand_files_and_one_row_group() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events");
    let session = Session::builder().master("local[2]").build().unwrap();
    let write = WRITE_EVENTS.replace("{}", &events.display().to_string());
    session.sql(&write).await.unwrap().collect().await.unwrap();
    session
        .register_table("events", events.to_str().unwrap())
        .await
        .unwrap();
    let recorder = Arc::new(ListingRecorder::default());
    let local_files = url::Url::parse("file://").unwrap();
    session
        .context()
        .register_object_store(&local_files, Arc::clone(&recorder) as Arc<dyn ObjectStore>);

    // (A filter, so that the count comes from a scan rather than from file statistics.)
    let everything = "SELECT count(*) FROM events WHERE v >= 0";
    let (rows, full) = run_with_stats(&session, everything).await;
    assert_eq!(rows, 2_000_000);
    assert_eq!(full.files, 1000, "{full}");

    // Partition day=7/region=3 holds v = 20 * (50k + 7) + 3 for k in 0..2000, 500 per row group;
    // k in [100, 200) lies in its first row group.
    let selective = "SELECT count(*) FROM events WHERE day = 7 AND region = 3 \
                     AND v >= 20 * (50 * 100 + 7) + 3 AND v < 20 * (50 * 200 + 7) + 3";
    recorder.take();
    let (rows, stats) = run_with_stats(&session, selective).await;
    assert_eq!(rows, 100);
    let listed = recorder.take();
    assert!(
        !listed.is_empty() && listed.iter().all(|p| p.ends_with("events/day=7/region=3")),
        "planning listed only the matching partition's directory: {listed:?}"
    );
    assert_eq!(stats.files, 1, "partition pruning: {stats}");
    assert_eq!(stats.row_groups_matched, 1, "row-group pruning: {stats}");
    assert_eq!(stats.row_groups_pruned, 3, "row-group pruning: {stats}");
    assert!(
        stats.bytes_scanned > 0 && stats.bytes_scanned * 2 < stats.file_bytes,
        "bytes: {stats}"
    );
    assert!(
        stats.bytes_scanned * 500 < full.file_bytes,
        "read {} of {} bytes",
        stats.bytes_scanned,
        full.file_bytes
    );

    // A filter on the inner partition column only: the table is listed once, recursively (no
    // prefix is fixed), and the files of other partitions are dropped before any is opened.
    let inner_only = "SELECT count(*) FROM events WHERE region = 3 AND v >= 0";
    let (rows, stats) = run_with_stats(&session, inner_only).await;
    assert_eq!(rows, 100_000);
    assert_eq!(stats.files, 50, "{stats}");
    assert_eq!(recorder.take().len(), 1);

    // `ember sql --stats` prints the same figures.
    let output = run_ember(
        dir.path(),
        [
            "sql",
            "--stats",
            "--format",
            "csv",
            "--table",
            "events=events",
            "-e",
            selective,
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "count(*)\n100\n");
    assert!(
        stderr(&output)
            .contains("scanned 1 file (0 pruned by statistics), 1 of 4 row groups (3 pruned)"),
        "{}",
        stderr(&output)
    );
}
