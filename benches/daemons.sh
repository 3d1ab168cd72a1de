# Sourced by the cluster benchmark scripts: a temporary directory `work` (removed on exit, when the
# daemons started in it are stopped), `start`, which runs one `ember` daemon in the background, and
# `cluster`, which starts a scheduler and its executors.

work=$(mktemp -d)
trap 'kill $(cat "$work/pids" 2>/dev/null) 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

# Starts `ember ARGS...` in the background (its pid goes to $work/pids, as this runs in a
# subshell) and prints the address from its `listening on` line.
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

# Starts a scheduler and one executor per core count given (each with its own shuffle directory),
# all with the environment's settings (EMBER_*); prints the master URL.
cluster() {
  local scheduler
  scheduler=$(start scheduler --port 0)
  for cores in "$@"; do
    start executor --scheduler "$scheduler" --port 0 --cores "$cores" --work-dir "$(mktemp -d "$work/shuffle.XXXX")" > /dev/null
  done
  echo "ember://$scheduler"
}
