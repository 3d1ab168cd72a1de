#!/usr/bin/env bash
# Scan throughput: a full scan of TPC-H lineitem (every column) with Ember from local disk and from
# an S3-compatible server on 127.0.0.1, and with DuckDB (2 threads) from local disk.
#
#   benches/scan.sh SCALE [ITERATIONS]
#
# Builds the release binaries, generates tpch-data/sfSCALE if absent, installs DuckDB into
# .bench-venv (skipped with a message when PyPI is unreachable), and prints MB/s, rows/s and
# each reader's time relative to Ember's local-disk scan.
. "$(dirname "$0")/prepare.sh" "$@"
read -ra peer <<< "$(duckdb_peer)"
"$scan" --data "$data" --iterations "$iterations" "${peer[@]}"
