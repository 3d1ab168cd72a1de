//! Planning over a big Hive-partitioned dataset: 1,000 Parquet files generated here; a selective
//! query must read one file and one of its row groups, asserted from the plan's scan metrics.

use std::sync::Arc;

use ember::datafusion::arrow::array::AsArray;
use ember::datafusion::arrow::datatypes::Int64Type;
use ember::datafusion::physical_plan::collect;
use ember::{ScanStats, Session};

use crate::common::{run_ember, stderr, stdout};

/// Rows per partition file: 2,000 in row groups of 500, ordered by `v`.
const WRITE_EVENTS: &str = "COPY (SELECT v, (v / 20) % 50 AS day, v % 20 AS region \
     FROM generate_series(0, 1999999) t(v) ORDER BY v) TO '{}' STORED AS PARQUET \
     PARTITIONED BY (day, region) OPTIONS (max_row_group_size 500)";

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

    // (A filter, so that the count comes from a scan rather than from file statistics.)
    let everything = "SELECT count(*) FROM events WHERE v >= 0";
    let (rows, full) = run_with_stats(&session, everything).await;
    assert_eq!(rows, 2_000_000);
    assert_eq!(full.files, 1000, "{full}");

    // Partition day=7/region=3 holds v = 20 * (50k + 7) + 3 for k in 0..2000, 500 per row group;
    // k in [100, 200) lies in its first row group.
    let selective = "SELECT count(*) FROM events WHERE day = 7 AND region = 3 \
                     AND v >= 20 * (50 * 100 + 7) + 3 AND v < 20 * (50 * 200 + 7) + 3";
    let (rows, stats) = run_with_stats(&session, selective).await;
    assert_eq!(rows, 100);
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
