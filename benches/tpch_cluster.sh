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

work=$(mktemp -d)
trap 'kill $(cat "$work/pids" 2>/dev/null) 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

# Starts `ember ARGS...` in the background (its pid goes to $work/pids, as this runs in a
# subshell) and prints the address from its `listening on` line.
start() {
  local log
  log=$(mktemp "$work/daemon.XXXX")
  "$ember" "$@" > "$log.out" 2> "$log.err" &
  echo $! >> "$work/pids"
  for _ in $(seq 300); do
    if grep -q '^listening on ' "$log.out"; then
      sed -n 's/^listening on //p' "$log.out"
      return
    fi
    sleep 0.1
  done
  echo "ember $* did not start; its log:" >&2
  cat "$log.err" >&2
  exit 1
}

# Starts a scheduler and one executor per core count given; prints the master URL.
cluster() {
  local scheduler
  scheduler=$(start scheduler --port 0)
  for cores in "$@"; do
    start executor --scheduler "$scheduler" --port 0 --cores "$cores" --work-dir "$(mktemp -d "$work/shuffle.XXXX")" > /dev/null
  done
  echo "ember://$scheduler"
}

one_executor=$(cluster 2)
two_executors=$(cluster 1 1)
"$tpch" --data "$data" --queries "$root/tests/data/tpch/queries" --iterations "$iterations" \
  "${answers[@]}" --master 'local[2]' --master "$one_executor" --master "$two_executors" "${extra[@]}"
