#!/usr/bin/env bash
# Brings the whole Backflow stack up on this machine and runs the service: libvirt/QEMU, Temporal
# (dev server + Web UI), PostgreSQL with the catalog, the control worker, this host's worker, the API.
# Idempotent: what is already up is left alone.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

bash "$ROOT/scripts/libvirt.sh"
bash "$ROOT/scripts/temporal.sh"
bash "$ROOT/scripts/node-deps.sh"
bash "$ROOT/scripts/postgres.sh"

mkdir -p "$BACKFLOW_STATE_DIR"
cd "$ROOT"
start control-worker node dist/workers/control.js
start host-worker node dist/workers/host.js
start api node dist/api/server.js

api="http://127.0.0.1:$BACKFLOW_API_PORT"
# Green means every component: the control worker polling its queue, and this host's worker registered and polling.
healthy() { curl -fsS "$api/health" | node -e 'const h=JSON.parse(require("fs").readFileSync(0,"utf8")); process.exit(h.status==="ok" && h.controlWorker?.ok===true && h.hosts.length>0 && h.hosts.every((x)=>x.ok) ? 0 : 1)'; }
wait_for "the API and every component to report healthy at $api/health" 180 healthy
say "all green: $(curl -fsS "$api/health")"
say "API:              $api  (GET /health, /v1/...)"
say "Temporal Web UI:  http://127.0.0.1:$(( ${TEMPORAL_ADDRESS##*:} + 1000 ))"
if [ -f "$BACKFLOW_STATE_DIR/admin-key" ]; then say "root admin key:   $(cat "$BACKFLOW_STATE_DIR/admin-key")  (from $BACKFLOW_STATE_DIR/admin-key)"
elif [ -n "${BACKFLOW_ADMIN_KEY:-}" ]; then say "root admin key:   the BACKFLOW_ADMIN_KEY you set"
else say "root admin key:   shown when this database was first started (kept in that checkout's .state/admin-key); set BACKFLOW_ADMIN_KEY to add one of your own"; fi
say "stop with: scripts/down.sh"
