#!/bin/bash
# gateway-kit: PostgreSQL for the `database` role, its data directory on a Cinder volume.
#
# Run by cloud-init (postgres-on-volume.yaml.j2) on every boot; running it again changes nothing.
#   1. waits for the volume by its device id (/dev/disk/by-id/virtio-<first 20 chars of its id>);
#   2. formats it ONLY if blkid finds no filesystem and no partition table on it -- an existing
#      filesystem is never touched, whatever it holds;
#   3. mounts it (fstab entry by device id, nofail) and initialises PostgreSQL there once.
#      A device path that is a directory is a file system already (the local cloud's data plane
#      links its volumes in as directories): it is used as it is, never formatted or mounted;
#   4. listens only on the private address, pg_hba.conf allows only the web VMs (scram-sha-256)
#      to the gateway's database as the gateway's role; everything else is refused;
#   5. creates that role and database, with the password from GK_PASSWORD_FILE (generated there,
#      0600, if absent) and writes the web VMs' DATABASE_URL to GK_DATABASE_URL_FILE (0600).
#
# The password never appears on a command line, in this script's output, or in the server's
# log: SQL that carries it goes to psql on stdin, with log_statement and
# log_min_error_statement turned off for that session. Never add `set -x` here.
#
# Settings (environment): GK_VOLUME_ID or GK_DEVICE, GK_PRIVATE_IP, GK_WEB_HOSTS (addresses or
# CIDRs, space-separated), GK_DB_NAME (gateway), GK_DB_USER (gateway), GK_PG_PORT (5432),
# GK_ROOT ("", put before each default path below and the unit's: the local cloud's data plane
# gives its instance root), GK_MOUNTPOINT (/srv/gateway-kit/pgvolume), GK_PASSWORD_FILE
# (/etc/gateway-kit/db-password), GK_DATABASE_URL_FILE (/etc/gateway-kit/database-url),
# GK_PG_BIN (newest /usr/lib/postgresql/*/bin), GK_SOCKET_DIR (/var/run/postgresql; @NAME: an
# abstract socket, no directory), GK_FSTAB (/etc/fstab; "" to skip), GK_SERVICE (systemd |
# pg_ctl). The commands below are overridable so that tests can use
# a directory stand-in for the volume: GK_BLKID, GK_MKFS, GK_MOUNT, GK_IS_MOUNTED, GK_RUNAS,
# GK_SYSTEMCTL.
set -euo pipefail
umask 077

log() { printf 'gk-postgres: %s\n' "$*"; }
die() { printf 'gk-postgres: ERROR: %s\n' "$*" >&2; exit 1; }

ROOT="${GK_ROOT:-}"
VOLUME_ID="${GK_VOLUME_ID:-}"
DEVICE="${GK_DEVICE:-}"
if [ -z "$DEVICE" ]; then
  [ -n "$VOLUME_ID" ] || die "set GK_VOLUME_ID (the Cinder volume's id) or GK_DEVICE"
  DEVICE="$ROOT/dev/disk/by-id/virtio-${VOLUME_ID:0:20}"
fi
PRIVATE_IP="${GK_PRIVATE_IP:?set GK_PRIVATE_IP (the address on the deployment network)}"
WEB_HOSTS="${GK_WEB_HOSTS:?set GK_WEB_HOSTS (the web VMs addresses)}"
DB_NAME="${GK_DB_NAME:-gateway}"
DB_USER="${GK_DB_USER:-gateway}"
PORT="${GK_PG_PORT:-5432}"
MOUNTPOINT="${GK_MOUNTPOINT:-$ROOT/srv/gateway-kit/pgvolume}"
PASSWORD_FILE="${GK_PASSWORD_FILE:-$ROOT/etc/gateway-kit/db-password}"
URL_FILE="${GK_DATABASE_URL_FILE:-$ROOT/etc/gateway-kit/database-url}"
SOCKET_DIR="${GK_SOCKET_DIR:-$ROOT/var/run/postgresql}"
FSTAB="${GK_FSTAB-$ROOT/etc/fstab}"
SERVICE="${GK_SERVICE:-systemd}"
PG_BIN="${GK_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}"
[ -x "$PG_BIN/initdb" ] || die "no PostgreSQL server binaries in '$PG_BIN' (set GK_PG_BIN)"
read -r -a BLKID <<< "${GK_BLKID:-blkid}"
read -r -a MKFS <<< "${GK_MKFS:-mkfs.ext4 -q -L gk-pgdata}"
read -r -a MOUNT <<< "${GK_MOUNT:-mount}"
read -r -a IS_MOUNTED <<< "${GK_IS_MOUNTED:-mountpoint -q}"
read -r -a RUNAS <<< "${GK_RUNAS:-runuser -u postgres --}"
read -r -a SYSTEMCTL <<< "${GK_SYSTEMCTL:-systemctl}"

[[ "$DB_NAME" =~ ^[a-z_][a-z0-9_]{0,62}$ ]] || die "GK_DB_NAME must be a plain identifier"
[[ "$DB_USER" =~ ^[a-z_][a-z0-9_]{0,62}$ ]] || die "GK_DB_USER must be a plain identifier"

changed=0
# write_if_changed PATH MODE OWNER: stdin becomes PATH's content, only if it differs.
write_if_changed() {
  local path="$1" mode="$2" owner="$3" tmp
  tmp="$(mktemp "${path}.XXXXXX")"
  cat > "$tmp"
  if [ -f "$path" ] && cmp -s "$tmp" "$path"; then
    rm -f "$tmp"
    return 1
  fi
  chmod "$mode" "$tmp"
  [ -z "$owner" ] || chown "$owner" "$tmp"
  mv -f "$tmp" "$path"
  changed=1
  log "wrote $path"
  return 0
}

# 1. The device.
for _ in $(seq 1 120); do [ -e "$DEVICE" ] && break; sleep 1; done
[ -e "$DEVICE" ] || die "volume device $DEVICE did not appear"

if [ -d "$DEVICE" ]; then
  # 2-3. A directory: the volume is already a file system (the local cloud's data plane).
  MOUNTPOINT="$(readlink -f "$DEVICE")"
  log "$DEVICE is a directory: using it as it is (not formatting, not mounting)"
else
  # 2. Format only a blank device. blkid exits 2 when it finds nothing; -p also reports
  #    partition tables, so a partitioned disk counts as not blank either.
  fstype="$("${BLKID[@]}" -p -o value -s TYPE "$DEVICE" 2>/dev/null || true)"
  ptable="$("${BLKID[@]}" -p -o value -s PTTYPE "$DEVICE" 2>/dev/null || true)"
  if [ -z "$fstype" ] && [ -z "$ptable" ]; then
    log "$DEVICE is blank: creating a filesystem"
    "${MKFS[@]}" "$DEVICE"
    changed=1
  else
    log "$DEVICE already holds ${fstype:-a partition table ($ptable)}: not formatting"
  fi

  # 3. Mount by device id.
  mkdir -p "$MOUNTPOINT"
  if [ -n "$FSTAB" ] && ! grep -qsF "$DEVICE $MOUNTPOINT " "$FSTAB"; then
    printf '%s %s auto defaults,nofail,x-systemd.device-timeout=120 0 2\n' \
      "$DEVICE" "$MOUNTPOINT" >> "$FSTAB"
    log "added $MOUNTPOINT to $FSTAB"
  fi
  if ! "${IS_MOUNTED[@]}" "$MOUNTPOINT"; then
    "${MOUNT[@]}" "$DEVICE" "$MOUNTPOINT"
    log "mounted $DEVICE on $MOUNTPOINT"
  fi
fi

DATA="$MOUNTPOINT/postgresql/data"
mkdir -p "$MOUNTPOINT/postgresql"
chown postgres: "$MOUNTPOINT/postgresql"
chmod 0700 "$MOUNTPOINT/postgresql"
case "$SOCKET_DIR" in @*) ;; *) mkdir -p "$SOCKET_DIR" && chown postgres: "$SOCKET_DIR" ;; esac
if [ ! -s "$DATA/PG_VERSION" ]; then
  log "initialising PostgreSQL in $DATA"
  "${RUNAS[@]}" "$PG_BIN/initdb" -D "$DATA" -E UTF8 --locale=C --auth-local=peer \
    --auth-host=scram-sha-256 >/dev/null
  changed=1
fi

# 4. Configuration: our own file, included once from postgresql.conf.
if ! grep -qsF "include_if_exists = 'gateway-kit.conf'" "$DATA/postgresql.conf"; then
  printf "\n# Added by gateway-kit\ninclude_if_exists = 'gateway-kit.conf'\n" >> "$DATA/postgresql.conf"
  changed=1
fi
write_if_changed "$DATA/gateway-kit.conf" 0600 postgres: <<CONF || true
# Managed by gateway-kit (postgres-on-volume.sh); edits are overwritten.
listen_addresses = '$PRIVATE_IP'
port = $PORT
unix_socket_directories = '$SOCKET_DIR'
password_encryption = scram-sha-256
log_connections = on
CONF
{
  echo "# Managed by gateway-kit (postgres-on-volume.sh); edits are overwritten."
  echo "# TYPE  DATABASE  USER  ADDRESS  METHOD"
  echo "local   all       postgres          peer"
  for host in $WEB_HOSTS; do
    case "$host" in */*) cidr="$host" ;; *:*) cidr="$host/128" ;; *) cidr="$host/32" ;; esac
    echo "host    $DB_NAME  $DB_USER  $cidr  scram-sha-256"
  done
  echo "# Nothing else: every other connection is refused."
} | write_if_changed "$DATA/pg_hba.conf" 0600 postgres: || true

# Start (or reload after a configuration change).
if [ "$SERVICE" = systemd ]; then
  mkdir -p "$ROOT/etc/systemd/system"
  write_if_changed "$ROOT/etc/systemd/system/gateway-kit-postgres.service" 0644 "" <<UNIT || true
[Unit]
Description=PostgreSQL for gateway-kit (data on the Cinder volume)
After=network-online.target local-fs.target
RequiresMountsFor=$MOUNTPOINT

[Service]
Type=notify
User=postgres
ExecStart=$PG_BIN/postgres -D $DATA
ExecReload=/bin/kill -HUP \$MAINPID
KillMode=mixed
KillSignal=SIGINT
TimeoutSec=300

[Install]
WantedBy=multi-user.target
UNIT
  "${SYSTEMCTL[@]}" daemon-reload
  "${SYSTEMCTL[@]}" enable --now gateway-kit-postgres.service >/dev/null 2>&1
  [ "$changed" = 0 ] || "${SYSTEMCTL[@]}" reload gateway-kit-postgres.service
else
  if "${RUNAS[@]}" "$PG_BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    [ "$changed" = 0 ] || "${RUNAS[@]}" "$PG_BIN/pg_ctl" -D "$DATA" reload >/dev/null
  else
    "${RUNAS[@]}" "$PG_BIN/pg_ctl" -D "$DATA" -l "$MOUNTPOINT/postgresql/server.log" -w \
      -t 60 start >/dev/null
    log "PostgreSQL started"
  fi
fi

psql_admin() {
  "${RUNAS[@]}" "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCKET_DIR" -p "$PORT" \
    -d postgres "$@"
}
for _ in $(seq 1 60); do psql_admin -c 'SELECT 1' >/dev/null 2>&1 && break; sleep 1; done

# 5. The gateway's role and database. The password: given (file), else generated once.
mkdir -p "$(dirname "$PASSWORD_FILE")" "$(dirname "$URL_FILE")"
if [ ! -s "$PASSWORD_FILE" ]; then
  ( umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$PASSWORD_FILE" )
  log "generated the database password in $PASSWORD_FILE"
fi
chmod 0600 "$PASSWORD_FILE"
PASSWORD="$(tr -d '\n' < "$PASSWORD_FILE")"
[[ "$PASSWORD" =~ ^[A-Za-z0-9_.~-]{16,}$ ]] || die "$PASSWORD_FILE must hold 16+ URL-safe characters"
# Only a digest of the password is kept, to tell whether the role needs it set again (setting
# the same password again would store a new salted hash: a change).
STAMP="$MOUNTPOINT/postgresql/.gk-role-password.sha256"
digest="$(printf '%s' "$PASSWORD" | sha256sum | cut -d' ' -f1)"
role_exists="$(psql_admin -tA -c "SELECT 1 FROM pg_roles WHERE rolname = '$DB_USER'")"
if [ "$role_exists" != 1 ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$digest" ]; then
  verb=ALTER
  [ "$role_exists" = 1 ] || verb=CREATE
  psql_admin <<SQL >/dev/null
SET log_statement = 'none';
SET log_min_error_statement = 'panic';
$verb ROLE $DB_USER LOGIN PASSWORD '$PASSWORD';
SQL
  printf '%s\n' "$digest" > "$STAMP"
  log "role $DB_USER: ${verb,,}d with the password from $PASSWORD_FILE"
fi
if [ "$(psql_admin -tA -c "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'")" != 1 ]; then
  psql_admin -c "CREATE DATABASE $DB_NAME OWNER $DB_USER" >/dev/null
  log "database $DB_NAME created"
fi
printf 'postgresql+psycopg://%s:%s@%s:%s/%s\n' "$DB_USER" "$PASSWORD" "$PRIVATE_IP" "$PORT" \
  "$DB_NAME" | write_if_changed "$URL_FILE" 0600 "" || true
log "ready: $DB_NAME on $PRIVATE_IP:$PORT for ${WEB_HOSTS}"
