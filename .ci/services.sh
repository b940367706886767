#!/usr/bin/env bash
# Install and start the real services the test suites need, on loopback, without systemd.
# Usage: source .ci/services.sh; services_install; services_start; ...; services_stop
# Each service writes the environment variables the tests read into $GK_SERVICES_ENV.
set -euo pipefail

GK_SVC_DIR=${GK_SVC_DIR:-/tmp/gk-services}
GK_SERVICES_ENV=$GK_SVC_DIR/env.sh
PG_PORT=${PG_PORT:-55432}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)

services_install() {
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
}

start_postgres() {
  local d=$GK_SVC_DIR/pg
  mkdir -p "$d" && chown postgres:postgres "$d"
  if [ ! -f "$d/data/PG_VERSION" ]; then
    runuser -u postgres -- "$PGBIN/initdb" -D "$d/data" -U postgres -A trust -E UTF8 --no-locale >/dev/null
  fi
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$d/data" -l "$d/pg.log" \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $d -c fsync=off -c max_connections=200" -w start >/dev/null
  echo "export GK_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:$PG_PORT/postgres" >> "$GK_SERVICES_ENV"
}

stop_postgres() {
  [ -f "$GK_SVC_DIR/pg/data/postmaster.pid" ] && \
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$GK_SVC_DIR/pg/data" -m fast -w stop >/dev/null || true
}

services_start() {
  mkdir -p "$GK_SVC_DIR"; : > "$GK_SERVICES_ENV"
  start_postgres
}

services_stop() {
  stop_postgres
}
