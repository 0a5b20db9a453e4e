#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster for the tests (Debian's postgresql
# package: initdb + pg_ctl, no system service) in a temporary folder, on a
# Unix socket only, and prints the libpq string the tests take in
# HERALD_TEST_POSTGRES. Stop it with: pg_ctl -D <folder>/data stop.
#
#   export HERALD_TEST_POSTGRES="$(.ci/postgres.sh)"
set -euo pipefail
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$bin" ]; then
  echo "no PostgreSQL server found: apt-get install postgresql" >&2
  exit 1
fi
dir=$(mktemp -d /tmp/herald-pg.XXXXXX)
chmod 755 "$dir"
# initdb refuses to run as root: the package's postgres user runs it.
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    chown postgres "$dir"
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}
as_owner "$bin/initdb" -D "$dir/data" --auth=trust -U herald -E UTF8 --no-sync >"$dir/initdb.log"
# A test cluster: durability off (fsync), room for several instances per test.
as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
  -o "-k $dir -c listen_addresses= -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400" \
  start >/dev/null
echo "host=$dir user=herald dbname=postgres"
