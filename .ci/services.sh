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
  apt-get install -y -qq --no-install-recommends postgresql chromium >/dev/null
  # pebble: Let's Encrypt's test CA. tests/certs start their own on free ports, pointed at the
  # local cloud's DNS server (-dnsserver), so nothing is started here.
  apt-get install -y -qq --no-install-recommends pebble >/dev/null
  slurm_install
  PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
}

start_postgres() {
  local d=$GK_SVC_DIR/pg
  mkdir -p "$d" && chown postgres:postgres "$d"
  if [ ! -f "$d/data/PG_VERSION" ]; then
    runuser -u postgres -- "$PGBIN/initdb" -D "$d/data" -U postgres -A trust -E UTF8 --no-locale >/dev/null
  fi
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$d/data" status >/dev/null 2>&1 || \
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$d/data" -l "$d/pg.log" \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $d -c fsync=off -c max_connections=200" -w start >/dev/null
  echo "export GK_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:$PG_PORT/postgres" >> "$GK_SERVICES_ENV"
}

stop_postgres() {
  [ -f "$GK_SVC_DIR/pg/data/postmaster.pid" ] && \
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$GK_SVC_DIR/pg/data" -m fast -w stop >/dev/null || true
}

# --- SLURM (owned by the slurm helper; see gateway_kit/slurm and deploy/slurm) -------------------
# A single-node cluster on loopback: munged (as user munge), slurmctld and slurmd (as root),
# config under $GK_SVC_DIR/slurm (SLURM_CONF points at it; /etc/slurm is not touched).
# One static node "gknode1" (CPUs=8 via config_overrides, 2 fake GPUs from touched files),
# partitions debug (default) and gpu, and two State=CLOUD nodes (partition "cloud") whose
# ResumeProgram/SuspendProgram delegate to $GK_SVC_DIR/slurm/power/{resume,suspend}.hook when a
# test installs them (otherwise they only log).
slurm_install() {
  command -v slurmctld >/dev/null && command -v munged >/dev/null && return 0
  apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
}

_slurm_conf() {
  local d=$1
  cat <<EOF
ClusterName=gkci
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$d/log/jobcomp.txt
MpiDefault=none
MailProg=/bin/true
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=100
EnforcePartLimits=ALL
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
SlurmdParameters=config_overrides
ReturnToService=2
KillWait=2
MessageTimeout=5
GresTypes=gpu
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool-%n
SlurmctldPidFile=$d/slurmctld.pid
SlurmdPidFile=$d/slurmd-%n.pid
SlurmctldLogFile=$d/log/slurmctld.log
SlurmdLogFile=$d/log/slurmd-%n.log
ResumeProgram=$d/power/resume.sh
SuspendProgram=$d/power/suspend.sh
SuspendTime=15
SuspendExcNodes=gknode1
SuspendTimeout=20
ResumeTimeout=60
ResumeRate=0
SuspendRate=0
SlurmctldParameters=idle_on_node_suspend
PrivateData=cloud
NodeName=gknode1 NodeAddr=127.0.0.1 NodeHostname=localhost CPUs=8 RealMemory=8000 Gres=gpu:2 State=UNKNOWN
NodeName=gkcloud1 CPUs=1 RealMemory=1000 Feature=small State=CLOUD Port=6831
NodeName=gkcloud2 CPUs=1 RealMemory=1000 Feature=small State=CLOUD Port=6832
PartitionName=debug Nodes=gknode1 Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=gknode1 MaxTime=INFINITE State=UP
PartitionName=cloud Nodes=gkcloud[1-2] MaxTime=INFINITE State=UP
EOF
}

_slurm_power_script() {  # $1 = resume|suspend, $2 = dir
  cat <<EOF
#!/bin/bash
# Called by slurmctld (as SlurmUser) with a hostlist; delegates to a hook a test installs.
echo "\$(date +%T.%N) ${1^^} \$*" >> $2/log/power.log
[ -x $2/power/$1.hook ] && exec $2/power/$1.hook "\$@"
exit 0
EOF
}

start_slurm() {
  local d=$GK_SVC_DIR/slurm i
  export SLURM_CONF=$d/slurm.conf
  mkdir -p "$d/state" "$d/log" "$d/power" "$d/dev" "$d/jobs" /run/munge /var/lib/munge /var/log/munge
  chown munge:munge /run/munge /var/lib/munge /var/log/munge
  touch "$d/dev/gpu0" "$d/dev/gpu1"
  _slurm_conf "$d" > "$d/slurm.conf"
  echo "NodeName=gknode1 Name=gpu File=$d/dev/gpu[0-1]" > "$d/gres.conf"
  _slurm_power_script resume "$d" > "$d/power/resume.sh"
  _slurm_power_script suspend "$d" > "$d/power/suspend.sh"
  chmod 755 "$d/power/resume.sh" "$d/power/suspend.sh"
  chmod 1777 "$d/jobs"
  if [ ! -s /etc/munge/munge.key ]; then
    mungekey -c -f -k /etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key; chmod 600 /etc/munge/munge.key
  fi
  # Idempotent: reuse a munged / slurmctld / slurmd that is already running.
  if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    runuser -u munge -- /usr/sbin/munged
    touch "$d/munged.ours"  # stop_slurm stops munged only if we started it
  fi
  if ! { [ -f "$d/slurmctld.pid" ] && kill -0 "$(cat "$d/slurmctld.pid")" 2>/dev/null; }; then
    /usr/sbin/slurmctld -i
  fi
  if ! { [ -f "$d/slurmd-gknode1.pid" ] && kill -0 "$(cat "$d/slurmd-gknode1.pid")" 2>/dev/null; }; then
    /usr/sbin/slurmd -N gknode1
  fi
  for i in $(seq 1 100); do
    if sinfo -h -n gknode1 -o %T 2>/dev/null | grep -Eqx 'idle|mixed|allocated'; then
      {
        echo "export GK_TEST_SLURM=1"
        echo "export SLURM_CONF=$d/slurm.conf"
        echo "export GK_TEST_SLURM_DIR=$d"
      } >> "$GK_SERVICES_ENV"
      return 0
    fi
    sleep 0.1
  done
  echo "start_slurm: node gknode1 never became idle; see $d/log" >&2
  return 1
}

stop_slurm() {
  local d=$GK_SVC_DIR/slurm f pid
  for f in "$d"/slurmd-*.pid "$d/slurmctld.pid"; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$f"
  done
  if [ -f "$d/munged.ours" ] && [ -f /run/munge/munged.pid ]; then
    kill "$(cat /run/munge/munged.pid)" 2>/dev/null || true
    rm -f "$d/munged.ours"
  fi
  return 0
}

services_start() {
  mkdir -p "$GK_SVC_DIR"; : > "$GK_SERVICES_ENV"
  start_postgres
  start_slurm
}

services_stop() {
  stop_slurm
  stop_postgres
}
