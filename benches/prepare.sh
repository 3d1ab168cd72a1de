# Sourced by the TPC-H benchmark scripts with the scale factor as $1: builds the release binaries
# and generates tpch-data/sf$1 if absent. Sets `ember`, `tpch`, `data` and `answers` (the runner's
# --answers flag when the repo has answers for that scale).
target=${CARGO_TARGET_DIR:-$root/target}
cargo build --release --bin ember --bin tpch -p ember -p ember-benches
ember=$target/release/ember
tpch=$target/release/tpch
data=$root/tpch-data/sf$1
if [ ! -d "$data" ]; then
  "$ember" gen tpch --scale "$1" --out "$data"
fi
answers=()
[ -d "$root/tests/data/tpch/answers/sf$1" ] && answers=(--answers "$root/tests/data/tpch/answers/sf$1")
