#!/usr/bin/env bash
# A one-node SLURM test cluster on this machine (Debian/Ubuntu, as root) for the test session
# (tests/conftest.py builds its tiny study through it; tests/test_slurm.py checks that build).
#   bash .ci/slurm/setup.sh      install slurm-wlm + munge if missing; write /etc/slurm/{slurm,gres}.conf
#   bash .ci/slurm/cluster.sh start|stop|status      (the test session calls start and stop)
# The node is this host (its hostname, nproc CPUs, 90% of MemTotal) with two stand-in GPUs (GRES
# gpu:2 on /dev/null and /dev/zero, so that two GPU jobs run side by side as on a node with two
# cards), in partition "main"; job status through squeue (MinJobAge=3600), finished jobs
# logged to $MCDETECT_SLURM_DIR/jobcomp.log. State, spool, logs, pids and the munge key/socket live
# in $MCDETECT_SLURM_DIR (default /var/tmp/mcdetect-slurm). slurm.conf must sit at
# /etc/slurm/slurm.conf: the plugin's job step drops SLURM_CONF.
set -euo pipefail
DIR=${MCDETECT_SLURM_DIR:-/var/tmp/mcdetect-slurm}
[ "$(id -u)" = 0 ] || { echo "setup.sh: must run as root" >&2; exit 1; }

missing=()
for pkg in slurm-wlm munge; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    command -v apt-get >/dev/null || { echo "setup.sh: apt-get not found" >&2; exit 1; }
    echo "setup.sh: installing ${missing[*]}"
    # Keep the packages' maintainer scripts from starting daemons of their own (no pid of ours).
    policy=/usr/sbin/policy-rc.d
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy"
        trap 'rm -f "$policy"' EXIT
    fi
    log=$(mktemp)
    export DEBIAN_FRONTEND=noninteractive
    if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends \
               -o Dpkg::Use-Pty=0 "${missing[@]}"; } > "$log" 2>&1; then
        cat "$log" >&2
        echo "setup.sh: installing ${missing[*]} failed" >&2
        exit 1
    fi
    rm -f "$log"
fi

host=$(uname -n)
host=${host%%.*}
cpus=$(nproc)
mem_mb=$(awk '/^MemTotal:/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
mkdir -p /etc/slurm "$DIR"
cat > /etc/slurm/slurm.conf <<CONF
# mcdetect-test-cluster: written by .ci/slurm/setup.sh for the test session (one node, this host)
ClusterName=mcdetect
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=6817
SlurmdPort=6818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$DIR/munge/munge.socket
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
ReturnToService=2
MpiDefault=none
MailProg=/bin/true
# Finished jobs stay visible to squeue (the executor's status command, and the test) for an hour.
MinJobAge=3600
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/jobcomp.log
GresTypes=gpu
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb Gres=gpu:2 State=UNKNOWN
PartitionName=main Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
cat > /etc/slurm/gres.conf <<CONF
# mcdetect-test-cluster: two stand-in GPUs for tests (no device behind them)
NodeName=$host Name=gpu File=/dev/null
NodeName=$host Name=gpu File=/dev/zero
CONF
echo "setup.sh: /etc/slurm/slurm.conf for $host: $cpus CPUs, ${mem_mb} MB, gres gpu:2; state in $DIR"
