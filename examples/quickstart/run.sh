#!/usr/bin/env bash
# Ember quickstart: generates TPC-H SF 0.1 (once) and runs a few queries embedded, with local[2].
#
#   examples/quickstart/run.sh [MASTER]
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
tables=()
for table in customer lineitem nation orders part partsupp region supplier; do
  tables+=(--table "$table=$data/$table.parquet")
done
"$ember" sql --master "$master" "${tables[@]}" -f examples/quickstart/queries.sql
