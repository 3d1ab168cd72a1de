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
target=${CARGO_TARGET_DIR:-$root/target}
cargo build --release --bin ember --bin tpch --bin scan -p ember -p ember-benches
ember=$target/release/ember
tpch=$target/release/tpch
scan=$target/release/scan
data=$root/tpch-data/sf$scale
if [ ! -d "$data" ]; then
  "$ember" gen tpch --scale "$scale" --out "$data"
fi
answers=()
[ -d "$root/tests/data/tpch/answers/sf$scale" ] && answers=(--answers "$root/tests/data/tpch/answers/sf$scale")

# Prints the DuckDB peer's flags for the runners (`--duckdb-python PATH --duckdb-threads 2`), with
# DuckDB installed into .bench-venv on first use; prints nothing, and says so, when it cannot be.
duckdb_peer() {
  local venv=$root/.bench-venv
  if [ -x "$venv/bin/python" ] || { python3 -m venv "$venv" && "$venv/bin/pip" install -q duckdb; } >&2; then
    if "$venv/bin/python" -c "import duckdb" 2>/dev/null; then
      echo --duckdb-python "$venv/bin/python" --duckdb-threads 2
      return
    fi
  fi
  echo "DuckDB is not installed; the peer run is skipped" >&2
}
