#!/usr/bin/env bash
# ML on a cluster against one process: every estimator of the `ml_cluster` runner fitted from
# the same Parquet files with `local[2]`, on a scheduler with two `--cores 1` executors and on a
# scheduler with one `--cores 2` executor, all on this machine, in one run; prints seconds,
# ratios to `local[2]`, and whether each model agrees with the `local[2]` one.
#
#   benches/ml_cluster.sh [runner flags, e.g. --only gbt,rf --rows 1000000 --work /tmp/mlwork]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
. benches/build.sh
ember=$target/release/ember
trap 'kill $(jobs -p) 2>/dev/null' EXIT
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# `start_cluster EXECUTORS CORES`: starts a scheduler and its executors (in this shell, so the
# trap stops them) and sets `master` to its URL.
start_cluster() {
  local port
  port=$(free_port)
  "$ember" scheduler --port "$port" >/dev/null 2>&1 &
  sleep 1
  for _ in $(seq "$1"); do
    "$ember" executor --scheduler "127.0.0.1:$port" --cores "$2" --port 0 >/dev/null 2>&1 &
  done
  master="ember://127.0.0.1:$port"
}
start_cluster 2 1
two_by_one=$master
start_cluster 1 2
one_by_two=$master
sleep 2
"$target/release/ml_cluster" --master "local[2]=local[2]" \
  --master "2 executors x 1 core=$two_by_one" --master "1 executor x 2 cores=$one_by_two" "$@"
