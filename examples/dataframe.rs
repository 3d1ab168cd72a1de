//! A DataFrame program: read TPC-H Parquet, filter, join, aggregate, write Parquet.
//!
//! ```text
//! ember gen tpch --scale 0.1 --out tpch-data/sf0.1
//! cargo run --example dataframe -- tpch-data/sf0.1 /tmp/revenue-by-segment
//! ```

use std::path::Path;

use ember::datafusion::arrow::array::RecordBatch;
use ember::datafusion::arrow::datatypes::DataType;
use ember::datafusion::dataframe::DataFrameWriteOptions;
use ember::datafusion::functions_aggregate::expr_fn::{count, sum};
use ember::datafusion::prelude::{cast, col, lit, JoinType};
use ember::Session;

/// Revenue and order count per market segment for orders placed in 1995, written as Parquet
/// under `out`; returns the same rows.
pub async fn revenue_by_segment(data: &Path, out: &Path) -> ember::Result<Vec<RecordBatch>> {
    let session = Session::builder().master("local[2]").build()?;
    let path = |table: &str| data.join(format!("{table}.parquet")).display().to_string();

    let orders = session.read_parquet(&path("orders")).await?.filter(
        col("o_orderdate")
            .gt_eq(cast(lit("1995-01-01"), DataType::Date32))
            .and(col("o_orderdate").lt(cast(lit("1996-01-01"), DataType::Date32))),
    )?;
    let customers = session
        .read_parquet(&path("customer"))
        .await?
        .select_columns(&["c_custkey", "c_mktsegment"])?;

    let summary = orders
        .join(
            customers,
            JoinType::Inner,
            &["o_custkey"],
            &["c_custkey"],
            None,
        )?
        .aggregate(
            vec![col("c_mktsegment")],
            vec![
                count(col("o_orderkey")).alias("orders"),
                sum(col("o_totalprice")).alias("revenue"),
            ],
        )?
        .sort(vec![col("c_mktsegment").sort(true, false)])?;

    summary
        .clone()
        .write_parquet(
            &out.display().to_string(),
            DataFrameWriteOptions::new(),
            None,
        )
        .await?;
    Ok(summary.collect().await?)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let data = args.next().unwrap_or_else(|| "tpch-data/sf0.1".to_string());
    let out = args
        .next()
        .unwrap_or_else(|| "revenue-by-segment".to_string());
    let rows = revenue_by_segment(Path::new(&data), Path::new(&out)).await?;
    println!(
        "{}",
        ember::datafusion::arrow::util::pretty::pretty_format_batches(&rows)?
    );
    println!("written to {out}");
    Ok(())
}
