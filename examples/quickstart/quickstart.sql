-- Ember quickstart: SQL questions over TPC-H, a model trained and evaluated from SQL, results
-- written as Parquet. Run by examples/quickstart/run.sh:
--   ember submit --var data=DIR --var out=DIR examples/quickstart/quickstart.sql

CREATE EXTERNAL TABLE lineitem STORED AS PARQUET LOCATION '${data}/lineitem.parquet';
CREATE EXTERNAL TABLE orders STORED AS PARQUET LOCATION '${data}/orders.parquet';
CREATE EXTERNAL TABLE customer STORED AS PARQUET LOCATION '${data}/customer.parquet';
CREATE EXTERNAL TABLE nation STORED AS PARQUET LOCATION '${data}/nation.parquet';
CREATE EXTERNAL TABLE region STORED AS PARQUET LOCATION '${data}/region.parquet';

-- Pricing summary (TPC-H Q1): revenue by return flag and line status.
SELECT l_returnflag, l_linestatus, count(*) AS lines,
       sum(l_extendedprice * (1 - l_discount)) AS revenue
FROM lineitem
WHERE l_shipdate <= DATE '1998-09-02'
GROUP BY l_returnflag, l_linestatus
ORDER BY l_returnflag, l_linestatus;

-- Top five customers by order value in 1995, with their nation.
SELECT c_name, n_name AS nation, round(sum(o_totalprice), 2) AS total
FROM orders
JOIN customer ON o_custkey = c_custkey
JOIN nation ON c_nationkey = n_nationkey
WHERE o_orderdate BETWEEN DATE '1995-01-01' AND DATE '1995-12-31'
GROUP BY c_name, n_name
ORDER BY total DESC
LIMIT 5;

-- Each region's share of 1996 revenue, written as Parquet.
COPY (
  SELECT r_name AS region,
         round(sum(l_extendedprice * (1 - l_discount)), 2) AS revenue,
         round(100 * sum(l_extendedprice * (1 - l_discount))
               / sum(sum(l_extendedprice * (1 - l_discount))) OVER (), 1) AS share_pct
  FROM lineitem
  JOIN orders ON l_orderkey = o_orderkey
  JOIN customer ON o_custkey = c_custkey
  JOIN nation ON c_nationkey = n_nationkey
  JOIN region ON n_regionkey = r_regionkey
  WHERE o_orderdate >= DATE '1996-01-01' AND o_orderdate < DATE '1997-01-01'
  GROUP BY r_name
) TO '${out}/revenue_by_region.parquet' STORED AS PARQUET;

-- Shipments: will a line arrive after its commit date? Days are counted from the order date.
CREATE VIEW shipments AS
SELECT l_orderkey,
       CAST(l_shipdate AS INT) - CAST(o_orderdate AS INT) AS ship_days,
       CAST(l_commitdate AS INT) - CAST(o_orderdate AS INT) AS commit_days,
       l_quantity, l_discount, o_totalprice,
       CAST(l_receiptdate > l_commitdate AS DOUBLE) AS late
FROM lineitem JOIN orders ON l_orderkey = o_orderkey;
CREATE VIEW train AS SELECT * FROM shipments WHERE l_orderkey % 5 <> 0;
CREATE VIEW test AS SELECT * FROM shipments WHERE l_orderkey % 5 = 0;

-- Gradient-boosted trees, trained on four fifths of the orders.
CREATE OR REPLACE MODEL late_shipments OPTIONS (model_type = 'gbt_classifier', label = 'late',
    features = ['ship_days', 'commit_days', 'l_quantity', 'l_discount', 'o_totalprice'],
    num_trees = 30, max_depth = 4)
AS SELECT * FROM train;

-- Its quality on the other fifth.
SELECT * FROM ml_evaluate('late_shipments', 'test');

-- Predictions for the held-out lines, written as Parquet.
COPY (SELECT l_orderkey, late, prediction, probability FROM ml_predict('late_shipments', 'test'))
TO '${out}/late_predictions.parquet' STORED AS PARQUET;

-- Summary.
SELECT (SELECT count(*) FROM '${out}/revenue_by_region.parquet') AS regions_written,
       (SELECT count(*) FROM '${out}/late_predictions.parquet') AS predictions_written,
       (SELECT round(avg(CAST(prediction = late AS DOUBLE)), 3)
          FROM '${out}/late_predictions.parquet') AS held_out_accuracy;
