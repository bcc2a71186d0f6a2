#!/usr/bin/env bash
# Uses the PostgreSQL that runs on 127.0.0.1:5432, or installs and starts Debian's; then creates the
# project's database if missing and applies the migrations (node-pg-migrate).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

pg_up() { pg_isready -h 127.0.0.1 -p 5432 -q; }
if ! command -v pg_isready >/dev/null || ! pg_up; then
  if ! command -v pg_ctlcluster >/dev/null; then
    say "installing PostgreSQL from Debian's packages"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  ver=$(ls /etc/postgresql | sort -V | tail -1)
  pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
  wait_for "PostgreSQL" 30 pg_up
  # Trust local TCP connections for the project's role, as the machines here are set up.
  su postgres -c "psql -tAc \"SELECT 1 FROM pg_roles WHERE rolname='root'\"" | grep -q 1 ||
    su postgres -c "createuser --superuser root"
fi
[ "${1:-}" = "--server-only" ] && exit 0

db=${DATABASE_URL##*/}; db=${db%%\?*}
if ! psql -h 127.0.0.1 -U root -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$db'" | grep -q 1; then
  psql -h 127.0.0.1 -U root -d postgres -qc "CREATE DATABASE \"$db\""
  say "database $db created"
fi
cd "$ROOT" && npx --no-install node-pg-migrate up -m migrations --migration-file-language sql -d DATABASE_URL >"$LOGS/migrate.log" 2>&1 || { cat "$LOGS/migrate.log"; die "migrations failed"; }
say "database $db migrated: $(grep -E "Migrations complete|No migrations to run" "$LOGS/migrate.log" | tail -1)"
