#!/usr/bin/env bash
# Installs the Temporal CLI (dev server + Web UI) from the Go module proxy into the cache, then, unless
# --install-only, starts the dev server with a persistent database and Backflow's search attributes.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
TEMPORAL_VERSION=v1.5.1 # releases from v1.6 carry a replace directive, which go install refuses

if [ ! -x "$TEMPORAL_BIN" ]; then
  command -v go >/dev/null || [ -x /usr/local/go/bin/go ] || die "Go is needed to build the Temporal CLI (apt-get install golang-go)"
  GO=$(command -v go || echo /usr/local/go/bin/go)
  say "building Temporal CLI $TEMPORAL_VERSION with go install (first time only, several minutes)"
  CGO_ENABLED=0 GOBIN="$(dirname "$TEMPORAL_BIN")" "$GO" install "github.com/temporalio/cli/cmd/temporal@$TEMPORAL_VERSION"
fi
[ "${1:-}" = "--install-only" ] && exit 0

port=${TEMPORAL_ADDRESS##*:}
if ! alive temporal; then
  start temporal "$TEMPORAL_BIN" server start-dev --ip 127.0.0.1 --port "$port" --ui-port $((port + 1000)) \
    --db-filename "$BACKFLOW_STATE_DIR/temporal.db" --log-level warn \
    --search-attribute VmId=Keyword --search-attribute BackupId=Keyword --search-attribute HostId=Keyword \
    --search-attribute Zone=Keyword --search-attribute Operation=Keyword \
    --dynamic-config-value 'matching.longPollExpirationInterval="10s"' # as TEMPORAL_SERVER_ARGS in common/temporal.ts: /health's 30 s
else
  say "temporal already running"
fi
wait_for "Temporal on $TEMPORAL_ADDRESS" 60 "$TEMPORAL_BIN" operator cluster health --address "$TEMPORAL_ADDRESS"
