#!/usr/bin/env bash
# Headless Chromium (Debian's package) for the tests that load the Temporal Web UI and the API's pages.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
if command -v chromium >/dev/null; then
  say "chromium present"
else
  say "installing chromium"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
