#!/usr/bin/env bash
# The benchmark, side by side with virtnbdbackup and a raw copy, in one run:
#   bash bench/run.sh [--disk-gib 4] [--quick-gib 1,8,32] [--vms 200] [--smoke] [--only compression|hashing]
# Results: printed, and written to bench/results/<date>-<host>.md and .png (--only compression:
# bench/results/<date>-compression.md; --only hashing: bench/results/<date>-hashing.md).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
bash "$ROOT/scripts/libvirt.sh"
bash "$ROOT/scripts/temporal.sh" --install-only
bash "$ROOT/scripts/postgres.sh" --server-only
bash "$ROOT/scripts/bench-tools.sh"
bash "$ROOT/scripts/node-deps.sh"
cd "$ROOT"
npx --no-install tsc -p bench/tsconfig.json
exec node dist-bench/bench/cli.js "$@"
