#!/usr/bin/env bash
# Ember quickstart: generates TPC-H SF 0.1 (once), then submits quickstart.sql — SQL questions, a
# model trained with CREATE MODEL and evaluated, results written as Parquet under
# quickstart-output/ — embedded with local[2], or on a cluster:
#
#   examples/quickstart/run.sh [MASTER]      # MASTER: local[2] (default) or ember://HOST:PORT
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
master=${1:-local[2]}
cargo build --quiet --bin ember
ember="${CARGO_TARGET_DIR:-$root/target}/debug/ember"
data=$root/tpch-data/sf0.1
if [ ! -d "$data" ]; then
  "$ember" gen tpch --scale 0.1 --out "$data"
fi
out=$root/quickstart-output
mkdir -p "$out"
"$ember" submit --master "$master" --name quickstart \
  --conf "ember.ml.model.dir=$out/models" \
  --var "data=$data" --var "out=$out" \
  examples/quickstart/quickstart.sql
