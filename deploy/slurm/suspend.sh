#!/bin/bash
# slurm.conf: SuspendProgram=/opt/gateway/deploy/slurm/suspend.sh (runs as SlurmUser, argument: hostlist)
set -euo pipefail
export PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin
export GATEWAY_KIT_CONFIG=${GATEWAY_KIT_CONFIG:-/opt/gateway/instance/gateway.toml}
export OS_CLIENT_CONFIG_FILE=${OS_CLIENT_CONFIG_FILE:-/opt/gateway/clouds.yaml}
exec /opt/gateway/.venv/bin/gateway-kit slurm suspend "$1" --log-file /var/log/slurm/gateway-power.log
