# Sourced by the TPC-H benchmark scripts with their arguments, `SCALE [ITERATIONS] [-- FLAGS]`:
# sets `scale`, `iterations`, `extra` (the runner flags after `--`) and `root` (the repository, made
# the working directory), builds the release binaries and generates tpch-data/sf$scale if absent.
# Sets `ember`, `tpch`, `scan`, `data` and `answers` (the runner's --answers flag when the repo has answers
# for that scale).
set -euo pipefail
scale=${1:-1}
iterations=${2:-1}
extra=("${@:3}")
[ "${extra[0]:-}" = "--" ] && extra=("${extra[@]:1}")
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
. benches/build.sh
ember=$target/release/ember
tpch=$target/release/tpch
scan=$target/release/scan
data=$root/tpch-data/sf$scale
if [ ! -d "$data" ]; then
  "$ember" gen tpch --scale "$scale" --out "$data"
fi
answers=()
[ -d "$root/tests/data/tpch/answers/sf$scale" ] && answers=(--answers "$root/tests/data/tpch/answers/sf$scale")

# Prints the DuckDB peer's flags for the runners (`--duckdb-python PATH --duckdb-threads 2`), or
# nothing when DuckDB cannot be installed.
duckdb_peer() {
  local python
  read -ra python <<< "$(python_peer duckdb duckdb)"
  [ ${#python[@]} -eq 2 ] && echo --duckdb-python "${python[1]}" --duckdb-threads 2
  return 0
}
