#!/usr/bin/env bash
# Larger than memory: TPC-H under a memory budget, Ember local[2] against DuckDB (2 threads, the
# same memory_limit), one process per query as a user runs them, on the same Parquet files.
#
#   benches/memory.sh SCALE LIMIT [-- extra runner flags]     e.g. benches/memory.sh 10 512m
#
# LIMIT is a size as ember.memory.limit takes it (512m, 4g) or `default` (Ember's default budget,
# DuckDB's default memory_limit). Builds the release binaries, generates tpch-data/sfSCALE if
# absent, installs DuckDB into .bench-venv (skipped with a message when PyPI is unreachable), checks
# Ember's answers when the repo has them for SCALE, and prints per query: seconds, peak RSS in MiB
# (/usr/bin/time), and for Ember the bytes its operators spilled; then the totals and the
# largest peak RSS. A query that fails prints its error's first line in place of the numbers.
. "$(dirname "$0")/prepare.sh" "$1" 1 "${@:3}"
limit=${2:?usage: benches/memory.sh SCALE LIMIT}
spill=$(mktemp -d "${TMPDIR:-/tmp}/ember-memory-bench.XXXXXX")
trap 'rm -rf "$spill"' EXIT
budget=()
duckdb_limit=()
if [ "$limit" != default ]; then
  budget=(--conf "ember.memory.limit=$limit")
  # DuckDB reads 512m as 512 MB (10^6); give it the same bytes as Ember's binary units.
  duckdb_limit=("$("$ember" sql --quiet --format csv "${budget[@]}" -e 'SHOW ember.memory.limit' |
    tail -1 | cut -d, -f2 | sed -E 's/^([0-9]+)m$/\1MiB/; s/^([0-9]+)g$/\1GiB/')" "$spill/duckdb")
fi
read -ra python <<< "$(python_peer duckdb duckdb)"

# `measure LOG COMMAND...`: runs COMMAND, its stderr to LOG; prints "SECONDS PEAK_RSS_MIB".
measure() {
  local log=$1
  shift
  /usr/bin/time -o "$log.time" -f "%e %M" "$@" > /dev/null 2> "$log" || true
  # The last line: time puts "Command exited with non-zero status N" before it on failure.
  tail -1 "$log.time" | awk '{ printf "%s %d", $1, $2 / 1024 }'
}

printf 'TPC-H SF %s under %s, local[2] vs DuckDB 2 threads, one process per query\n' "$scale" "$limit"
printf '%-5s %10s %10s %12s   %10s %10s\n' query ember_s rss_mib spilled_mib duckdb_s rss_mib
for query in $(seq 1 22); do
  log=$spill/q$query.log
  read -r seconds rss <<< "$(measure "$log" "$tpch" --data "$data" --queries "$root/tests/data/tpch/queries" \
    --master 'local[2]' --only "$query" --conf "ember.local.dir=$spill/ember" "${budget[@]}" \
    "${answers[@]}" "${extra[@]}")"
  spilled=$(sed -nE 's/.*spilled ([0-9]+) bytes.*/\1/p' "$log")
  if [ -z "$spilled" ]; then
    ember_cells=$(printf '%10s %10s %12s' failed "$rss" 0)
  else
    ember_cells=$(printf '%10s %10s %12d' "$seconds" "$rss" $((spilled / 1048576)))
  fi
  duckdb_cells="skipped"
  if [ ${#python[@]} -eq 2 ]; then
    read -r dseconds drss <<< "$(measure "$log.duckdb" "${python[1]}" benches/tpch/duckdb_tpch.py \
      "$data" "$root/tests/data/tpch/queries" 2 1 "$query" "${duckdb_limit[@]}")"
    if grep -q . "$log.duckdb"; then
      duckdb_cells=$(printf '%10s %10s' failed "$drss")
    else
      duckdb_cells=$(printf '%10s %10s' "$dseconds" "$drss")
    fi
  fi
  printf 'q%02d   %s   %s\n' "$query" "$ember_cells" "$duckdb_cells"
  [ -n "$spilled" ] || echo "      ember: $(grep -m1 -i error "$log" | cut -c1-150)"
  echo "$ember_cells $duckdb_cells" >> "$spill/rows"
done
# Totals over the queries that ran (a failed one adds nothing but is counted).
awk '{ if ($1 == "failed") ef++; else { es += $1; es_n++ } if ($2 > er) er = $2; em += $3
       if ($4 == "failed") df++; else if ($4 != "skipped") ds += $4; if ($5 > dr) dr = $5 }
     END { printf "total ember %.2f s (%d failed), peak RSS %d MiB, spilled %d MiB; ", es, ef, er, em
           printf "duckdb %.2f s (%d failed), peak RSS %d MiB\n", ds, df, dr }' "$spill/rows"
