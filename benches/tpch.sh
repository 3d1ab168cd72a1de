#!/usr/bin/env bash
# TPC-H benchmark: Ember local[2] against DuckDB with 2 threads, on the same Parquet files.
#
#   benches/tpch.sh SCALE [ITERATIONS] [-- extra runner flags, e.g. --conf key=value]
#
# Builds the release binaries, generates tpch-data/sfSCALE if absent, installs DuckDB into
# .bench-venv (skipped with a message when PyPI is unreachable), checks answers when the repo has
# them for SCALE, and prints per-query and total times with the ember/duckdb ratio.
. "$(dirname "$0")/prepare.sh" "$@"

read -ra peer <<< "$(duckdb_peer)"

"$tpch" --data "$data" --queries "$root/tests/data/tpch/queries" \
  --master 'local[2]' --iterations "$iterations" "${answers[@]}" "${peer[@]}" "${extra[@]}"
