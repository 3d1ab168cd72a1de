#!/usr/bin/env bash
# ML benchmark: Ember's KMeans against scikit-learn (and Spark MLlib when pyspark is installed in
# the venv) on the same generated data, 2 threads each, measured in the same run.
#
#   benches/ml.sh [runner flags, e.g. --rows 1000000 --features 16 --k 32 --iterations 20]
#
# Builds the release binaries, installs scikit-learn, pyarrow and threadpoolctl into .bench-venv
# (the peers are skipped with a message when PyPI is unreachable), and prints fit time and
# inertia with ratios against scikit-learn.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
. benches/build.sh
read -ra peer <<< "$(python_peer sklearn scikit-learn pyarrow threadpoolctl)"
"$target/release/ml" "${peer[@]}" "$@"
