#!/usr/bin/env bash
# TPC-H on clusters against one process, in one run and on the same Parquet files:
#   [1] ember local[2]
#   [2] scheduler + one executor with 2 cores
#   [3] scheduler + two executors with 1 core each
#
#   benches/tpch_cluster.sh SCALE [ITERATIONS] [-- extra runner flags]
#
# Builds the release binaries, generates tpch-data/sfSCALE if absent, starts both clusters on
# 127.0.0.1 with free ports (logs under a temporary directory, removed on exit), checks answers when
# the repo has them for SCALE, and prints per-query and total times with each cluster's ratio to
# local[2].
. "$(dirname "$0")/prepare.sh" "$@"
. "$(dirname "$0")/daemons.sh"

one_executor=$(cluster 2)
two_executors=$(cluster 1 1)
"$tpch" --data "$data" --queries "$root/tests/data/tpch/queries" --iterations "$iterations" \
  "${answers[@]}" --master 'local[2]' --master "$one_executor" --master "$two_executors" "${extra[@]}"
