#!/usr/bin/env bash
# What the benchmark needs beside the stack: gnuplot for the chart, zstd, gzip and mkfs.ext4 for the
# compression part (virtnbdbackup comes with scripts/libvirt.sh).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
if ! command -v gnuplot >/dev/null; then
  say "installing gnuplot-nox"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gnuplot-nox >/dev/null
fi
for pair in zstd:zstd gzip:gzip mkfs.ext4:e2fsprogs; do
  if ! command -v "${pair%%:*}" >/dev/null; then
    say "installing ${pair#*:}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pair#*:}" >/dev/null
  fi
done
