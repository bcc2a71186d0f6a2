#!/usr/bin/env bash
# Debian's Chromium, for the test that loads the API's docs page (/docs) headless through playwright-core
# (which downloads no browser of its own).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
if ! command -v chromium >/dev/null; then
  say "installing chromium"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
