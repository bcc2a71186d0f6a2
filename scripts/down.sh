#!/usr/bin/env bash
# Stops only the processes scripts/up.sh started (by their recorded pids). libvirtd and PostgreSQL stay.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
for name in api host-worker control-worker temporal; do stop "$name"; done
