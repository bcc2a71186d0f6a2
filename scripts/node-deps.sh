#!/usr/bin/env bash
# Installs the npm dependencies (when the lockfile changed) and compiles the TypeScript.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
stamp=node_modules/.backflow-lock
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  say "installing npm dependencies"
  # npm install, not npm ci: npm 11 leaves other platforms' optional swc binaries out of the lockfile, which npm ci rejects.
  npm install --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi
# Compile only when a source changed since the last build, so a second run changes nothing.
built=dist/.build-stamp
if [ -f "$built" ] && [ -z "$(find api cli activities workflows workers common migrations package-lock.json tsconfig*.json -newer "$built" -print -quit)" ]; then
  say "build is up to date"
else
  say "compiling TypeScript"
  npx --no-install tsc -p tsconfig.build.json
  touch "$built"
fi
