//! The README's DataFrame program (`examples/dataframe.rs`) runs and agrees with the same
//! question asked in SQL.

#[allow(dead_code)] // the example's `main` is not called here
#[path = "../examples/dataframe.rs"]
mod dataframe;

use ember::datafusion::arrow::util::pretty::pretty_format_batches;
use ember::Session;

use crate::common::generate_tpch;

#[tokio::test]
async fn dataframe_example_matches_sql_and_writes_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("tpch");
    generate_tpch(&data, "0.01", &[]);
    let out = dir.path().join("revenue");

    let from_program = dataframe::revenue_by_segment(&data, &out).await.unwrap();

    let session = Session::builder().master("local[2]").build().unwrap();
    for table in ["orders", "customer"] {
        let path = data.join(format!("{table}.parquet"));
        session
            .register_table(table, path.to_str().unwrap())
            .await
            .unwrap();
    }
    let from_sql = session
        .sql(
            "SELECT c_mktsegment, count(o_orderkey) AS orders, sum(o_totalprice) AS revenue \
             FROM orders JOIN customer ON o_custkey = c_custkey \
             WHERE o_orderdate >= DATE '1995-01-01' AND o_orderdate < DATE '1996-01-01' \
             GROUP BY c_mktsegment ORDER BY c_mktsegment",
        )
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let program_text = pretty_format_batches(&from_program).unwrap().to_string();
    assert_eq!(
        program_text,
        pretty_format_batches(&from_sql).unwrap().to_string()
    );
    assert_eq!(
        program_text.lines().count(),
        5 + 4,
        "five market segments:\n{program_text}"
    );

    let written = session
        .read_parquet(out.to_str().unwrap())
        .await
        .unwrap()
        .sort_by(vec![ember::datafusion::prelude::col("c_mktsegment")])
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(
        pretty_format_batches(&written).unwrap().to_string(),
        program_text
    );
}
