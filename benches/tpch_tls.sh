#!/usr/bin/env bash
# What authentication costs a cluster: TPC-H on a scheduler + one 2-core executor without TLS, then
# on the same kind of cluster whose members share an `ember.cluster.secret` (mutual TLS on every
# connection), in one run and on the same Parquet files, each against local[2] (the first
# column of both tables, so the two runs can be compared):
#
#   benches/tpch_tls.sh SCALE [ITERATIONS] [-- extra runner flags]
#
# Builds the release binaries, generates tpch-data/sfSCALE if absent, starts both clusters on
# 127.0.0.1 with free ports, and checks answers when the repo has them for SCALE.
. "$(dirname "$0")/prepare.sh" "$@"

work=$(mktemp -d)
trap 'kill $(cat "$work/pids" 2>/dev/null) 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
secret=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')

# Starts `ember ARGS...` in the background and prints the address from its `listening on` line.
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

# Starts a scheduler and one 2-core executor, both with the extra flags given; prints the master.
cluster() {
  local scheduler
  scheduler=$(start scheduler --port 0 "$@")
  start executor --scheduler "$scheduler" --port 0 --cores 2 --work-dir "$(mktemp -d "$work/shuffle.XXXX")" "$@" > /dev/null
  echo "ember://$scheduler"
}

plain=$(cluster)
with_secret=$(EMBER_CLUSTER_SECRET=$secret cluster)
echo "== without TLS"
"$tpch" --data "$data" --queries "$root/tests/data/tpch/queries" --iterations "$iterations" \
  "${answers[@]}" --master 'local[2]' --master "$plain" "${extra[@]}"
echo "== mutual TLS from ember.cluster.secret"
# The runner builds its sessions from flags, not the environment (a throwaway secret on its
# command line is fine here).
"$tpch" --data "$data" --queries "$root/tests/data/tpch/queries" --iterations "$iterations" \
  "${answers[@]}" --master 'local[2]' --master "$with_secret" --conf "ember.cluster.secret=$secret" \
  "${extra[@]}"
