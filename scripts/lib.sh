# Shared by the project's scripts: paths, logging, and process bookkeeping by recorded pid.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export BACKFLOW_CACHE="${BACKFLOW_CACHE:-$HOME/.cache/backflow}"
export BACKFLOW_STATE_DIR="${BACKFLOW_STATE_DIR:-$ROOT/.state}"
export TEMPORAL_BIN="${TEMPORAL_BIN:-$BACKFLOW_CACHE/bin/temporal}"
export DATABASE_URL="${DATABASE_URL:-postgres://root@127.0.0.1:5432/backflow}"
export TEMPORAL_ADDRESS="${TEMPORAL_ADDRESS:-127.0.0.1:7233}"
export BACKFLOW_API_PORT="${BACKFLOW_API_PORT:-8080}"
PIDS="$BACKFLOW_STATE_DIR/pids"
LOGS="$BACKFLOW_STATE_DIR/logs"
mkdir -p "$BACKFLOW_CACHE" "$PIDS" "$LOGS"

say() { printf '\033[1m[backflow]\033[0m %s\n' "$*"; }
die() { say "ERROR: $*" >&2; exit 1; }

# alive NAME: the process we recorded under NAME is still running.
alive() { local f="$PIDS/$1.pid"; [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null; }

# start NAME CMD...: starts CMD in the background (own session, log file), records its pid; no-op if alive.
start() {
  local name=$1; shift
  if alive "$name"; then say "$name already running (pid $(cat "$PIDS/$name.pid"))"; return 0; fi
  setsid nohup "$@" >>"$LOGS/$name.log" 2>&1 < /dev/null &
  echo $! >"$PIDS/$name.pid"
  say "$name started (pid $!, log $LOGS/$name.log)"
}

# stop NAME: stops only the process we started under NAME.
stop() {
  local f="$PIDS/$1.pid"
  [ -f "$f" ] || return 0
  local pid; pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    say "$1 stopped"
  fi
  rm -f "$f"
}

# wait_for DESC SECONDS CMD...: polls CMD until it succeeds.
wait_for() {
  local desc=$1 secs=$2; shift 2
  for _ in $(seq $((secs * 2))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  die "timed out after ${secs}s waiting for $desc"
}
