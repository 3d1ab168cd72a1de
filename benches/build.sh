# Sourced by the benchmark scripts from the repository root: builds the release binaries (always
# this one set, so that cargo reuses one build of DataFusion) and defines `python_peer`.
target=${CARGO_TARGET_DIR:-$root/target}
cargo build --release --bin ember --bin tpch --bin scan --bin ml --bin ml_cluster -p ember -p ember-benches

# `python_peer MODULE PACKAGES...`: prints `--python PATH` for a Python in .bench-venv that can
# import MODULE, installing PACKAGES there on first use; prints nothing, and says so, when it
# cannot.
python_peer() {
  local module=$1 venv=$root/.bench-venv
  shift
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv" >&2 || true
  if ! "$venv/bin/python" -c "import $module" 2>/dev/null; then
    "$venv/bin/pip" install -q "$@" >&2 || true
  fi
  if "$venv/bin/python" -c "import $module" 2>/dev/null; then
    echo --python "$venv/bin/python"
  else
    echo "$module is not installed; its peer run is skipped" >&2
  fi
}
