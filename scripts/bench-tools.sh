#!/usr/bin/env bash
# What the benchmark needs beside the stack: gnuplot for the chart (virtnbdbackup comes with scripts/libvirt.sh).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
if ! command -v gnuplot >/dev/null; then
  say "installing gnuplot-nox"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gnuplot-nox >/dev/null
fi
