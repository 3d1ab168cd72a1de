#!/usr/bin/env bash
# A GBT fit on a cluster that loses an executor: the same fit (100 trees, depth 6, 31 leaves) of
# the `ml` benchmark's training file, first undisturbed, then with one of the two `--cores 1`
# executors SIGKILLed at 40% of the undisturbed time and a new executor started at once.
# Prints both times, their ratio, the fit's warning about the replacement, and whether the two
# saved models are byte-for-byte equal.
#
#   benches/ml.sh --only gbt --work /tmp/mlwork        # writes the data once
#   benches/tree_fit_kill.sh /tmp/mlwork/trees-train-1000000x28.parquet
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
. benches/build.sh
data=$1
ember=$target/release/ember
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
conf=(--conf ember.cluster.executor.timeout=5s --conf ember.cluster.heartbeat.interval=1s)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$ember" scheduler --port "$port" "${conf[@]}" >/dev/null 2>&1 &
sleep 1
executor() {
  "$ember" executor --scheduler "127.0.0.1:$port" --cores 1 --port 0 "${conf[@]}" >/dev/null 2>&1 &
}
executor; first=$!
executor
sleep 2
fit() {
  "$ember" sql --master "ember://127.0.0.1:$port" --table "d=$data" \
    --conf "ember.ml.model.dir=$work/$1" -q -e "CREATE MODEL m OPTIONS (model_type = \
'gbt_classifier', label = 'label', num_trees = 100, max_depth = 6, max_leaves = 31) AS SELECT * \
FROM d" >/dev/null 2>"$work/$1.err" || { cat "$work/$1.err" >&2; return 1; }
}
now() { date +%s.%N; }
started=$(now); fit undisturbed
undisturbed=$(python3 -c "print($(now) - $started)")
started=$(now); fit disturbed & fitting=$!
sleep "$(python3 -c "print($undisturbed * 0.4)")"
kill -9 "$first"; executor
wait "$fitting"
disturbed=$(python3 -c "print($(now) - $started)")
printf 'undisturbed %.1f s, disturbed %.1f s: %.2fx\n' "$undisturbed" "$disturbed" \
  "$(python3 -c "print($disturbed / $undisturbed)")"
cat "$work/disturbed.err"
if cmp -s "$work/undisturbed/m/data.arrow" "$work/disturbed/m/data.arrow"; then
  echo "the models are identical"
else
  echo "the models DIFFER"
fi
