-- Ember quickstart: a few questions over TPC-H SF 0.1.

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

-- Each region's share of 1996 revenue, with a window function over the grouped result.
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
ORDER BY revenue DESC;
