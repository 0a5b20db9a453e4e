#!/usr/bin/env bash
# The whole test suite: `cargo test --locked`, with a throwaway PostgreSQL
# cluster for the shared-store tests (tests/scale_out.rs and the halves of
# the shared suites that run on PostgreSQL). Installs Debian's postgresql
# package when the server is missing (as root), starts the cluster in a
# temp folder with .ci/postgres.sh, points the tests at it through
# HERALD_TEST_POSTGRES, and stops it at the end. Extra arguments go to
# cargo test. An already set HERALD_TEST_POSTGRES is used as it is.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${HERALD_TEST_POSTGRES:-}" ]; then
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    else
      echo "PostgreSQL server missing: sudo apt-get install postgresql" >&2
      exit 1
    fi
  fi
  HERALD_TEST_POSTGRES="$(.ci/postgres.sh)"
  export HERALD_TEST_POSTGRES
  pg_folder=$(printf '%s\n' "$HERALD_TEST_POSTGRES" | sed -n 's/^host=\([^ ]*\) .*/\1/p')
  stop_postgres() {
    local pg_ctl
    pg_ctl="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)/pg_ctl"
    if [ "$(id -u)" = 0 ]; then
      runuser -u postgres -- "$pg_ctl" -D "$pg_folder/data" -m fast stop >/dev/null || true
    else
      "$pg_ctl" -D "$pg_folder/data" -m fast stop >/dev/null || true
    fi
    rm -rf "$pg_folder"
  }
  trap stop_postgres EXIT
fi
echo "PostgreSQL for the tests: $HERALD_TEST_POSTGRES" >&2
cargo test --locked "$@"
