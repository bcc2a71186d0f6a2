#!/usr/bin/env bash
# Installs what the tests need (libvirt/QEMU, the Temporal CLI, PostgreSQL, the test guest, npm packages),
# then runs every test. Each test file starts its own Temporal dev server, database and workers.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bash "$ROOT/scripts/libvirt.sh"
bash "$ROOT/scripts/temporal.sh" --install-only
bash "$ROOT/scripts/postgres.sh" --server-only
bash "$ROOT/scripts/build-guest.sh"
bash "$ROOT/scripts/bench-tools.sh"
bash "$ROOT/scripts/chromium.sh"
bash "$ROOT/scripts/node-deps.sh"
cd "$ROOT"
results="$BACKFLOW_STATE_DIR/jest-results.json"
rm -f "$results"
set +e
npx --no-install jest --maxWorkers=2 --json --outputFile="$results" "$@"
rc=$?
set -e
if [ -f "$results" ]; then
  node -e 'const r=require(process.argv[1]); console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed` + (r.numPendingTests ? `, ${r.numPendingTests} skipped` : ""))' "$results"
else
  echo "0 passed, 1 failed"
fi
exit $rc
