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
. "$(dirname "$0")/daemons.sh"
secret=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')

plain=$(cluster 2)
with_secret=$(EMBER_CLUSTER_SECRET=$secret cluster 2)
echo "== without TLS"
"$tpch" --data "$data" --queries "$root/tests/data/tpch/queries" --iterations "$iterations" \
  "${answers[@]}" --master 'local[2]' --master "$plain" "${extra[@]}"
echo "== mutual TLS from ember.cluster.secret"
# The runner builds its sessions from flags, not the environment (a throwaway secret on its
# command line is fine here).
"$tpch" --data "$data" --queries "$root/tests/data/tpch/queries" --iterations "$iterations" \
  "${answers[@]}" --master 'local[2]' --master "$with_secret" --conf "ember.cluster.secret=$secret" \
  "${extra[@]}"
