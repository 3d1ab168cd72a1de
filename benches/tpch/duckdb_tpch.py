"""DuckDB peer for the TPC-H benchmark: runs the queries over the same Parquet files.

usage: duckdb_tpch.py DATA_DIR QUERIES_DIR THREADS ITERATIONS QUERY,QUERY,... [MEMORY_LIMIT TEMP_DIR]
Prints one line per query: "NUMBER BEST_SECONDS". With MEMORY_LIMIT (e.g. 512MB), DuckDB runs
under that memory_limit and spills to TEMP_DIR.
"""
import os
import sys
import time

import duckdb

TABLES = ["customer", "lineitem", "nation", "orders", "part", "partsupp", "region", "supplier"]


def table_source(data, table):
    single = os.path.join(data, f"{table}.parquet")
    if os.path.exists(single):
        return single
    return os.path.join(data, table, "*.parquet")


def main():
    data, queries, threads, iterations, only = sys.argv[1:6]
    con = duckdb.connect()
    con.execute(f"SET threads = {int(threads)}")
    if len(sys.argv) > 7:
        limit, temp = sys.argv[6], sys.argv[7].replace("'", "''")
        con.execute(f"SET memory_limit = '{limit}'")
        con.execute(f"SET temp_directory = '{temp}'")
    for table in TABLES:
        source = table_source(data, table).replace("'", "''")
        con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{source}')")
    for query in [int(q) for q in only.split(",")]:
        with open(os.path.join(queries, f"q{query:02d}.sql")) as f:
            sql = f.read()
        best = float("inf")
        for _ in range(int(iterations)):
            started = time.perf_counter()
            con.execute(sql).fetchall()
            best = min(best, time.perf_counter() - started)
        print(f"{query} {best:.6f}", flush=True)


if __name__ == "__main__":
    main()
