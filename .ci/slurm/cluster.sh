#!/usr/bin/env bash
# Start/stop the one-node test cluster that .ci/slurm/setup.sh configured (as root).
#   bash .ci/slurm/cluster.sh start    munged, slurmctld, slurmd; waits until the node is idle
#   bash .ci/slurm/cluster.sh stop     cancels every job, stops the daemons started here by their pids
#   bash .ci/slurm/cluster.sh status
# Every start begins from empty state; pids in $MCDETECT_SLURM_DIR/run/*.pid.
set -euo pipefail
DIR=${MCDETECT_SLURM_DIR:-/var/tmp/mcdetect-slurm}
RUN=$DIR/run
DAEMONS=(slurmd slurmctld munged)   # stop order

pid_of() {  # pid of a daemon started here and still alive (its pid file, and the right command)
    local f=$RUN/$1.pid pid
    [ -s "$f" ] || return 1
    pid=$(tr -dc 0-9 < "$f")
    [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ] && echo "$pid"
}

children() {  # pids whose parent is $1, from /proc (procps may be missing)
    local parent=$1 stat line fields
    for stat in /proc/[0-9]*/stat; do
        read -r line < "$stat" 2>/dev/null || continue
        read -ra fields <<< "${line##*) }"   # after "pid (comm) ": state ppid ...
        [ "${fields[1]}" = "$parent" ] && { stat=${stat#/proc/}; echo "${stat%/stat}"; }
    done
    return 0
}

wait_gone() {  # wait_gone SECONDS PID...: 0 once every pid has exited
    local end=$((SECONDS + $1)) pid alive
    shift
    while :; do
        alive=0
        for pid in "$@"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && return 0
        [ $SECONDS -ge $end ] && return 1
        sleep 0.5
    done
}

stop() {
    local name pid kids
    if pid_of slurmctld >/dev/null; then
        scancel --quiet --user root 2>/dev/null || true
        for _ in $(seq 30); do
            [ -z "$(squeue -h -t PD,R,CG -o %i 2>/dev/null)" ] && break
            sleep 1
        done
    fi
    for name in "${DAEMONS[@]}"; do
        pid=$(pid_of "$name") || { rm -f "$RUN/$name.pid"; continue; }
        kids=$(children "$pid")   # slurmstepd of jobs still running
        kill -TERM "$pid" $kids 2>/dev/null || true
        if ! wait_gone 30 "$pid" $kids; then
            echo "cluster.sh: $name ($pid) ignored SIGTERM, killing" >&2
            kill -KILL "$pid" $kids 2>/dev/null || true
            wait_gone 10 "$pid" $kids || echo "cluster.sh: $name ($pid) still alive" >&2
        fi
        rm -f "$RUN/$name.pid"
        echo "cluster.sh: stopped $name ($pid)"
    done
}

start() {
    grep -q '^# mcdetect-test-cluster' /etc/slurm/slurm.conf 2>/dev/null ||
        { echo "cluster.sh: /etc/slurm/slurm.conf is not the test cluster's: run .ci/slurm/setup.sh" >&2; exit 1; }
    local name
    for name in "${DAEMONS[@]}"; do
        if pid_of "$name" >/dev/null; then echo "cluster.sh: $name already running: stop first" >&2; exit 1; fi
    done
    rm -rf "$DIR/state" "$DIR/spool" "$DIR/log" "$DIR/munge" "$RUN" "$DIR/jobcomp.log"
    mkdir -p "$DIR/state" "$DIR/spool" "$DIR/log" "$DIR/munge" "$RUN"
    chmod 755 "$DIR" "$RUN"
    trap 'echo "cluster.sh: start failed; logs in $DIR/log" >&2; stop' ERR

    mungekey --create --keyfile="$DIR/munge/munge.key" 2>/dev/null ||
        dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1024 count=1 status=none
    chown -R munge:munge "$DIR/munge" && chmod 755 "$DIR/munge" && chmod 400 "$DIR/munge/munge.key"
    runuser -u munge -- munged --socket="$DIR/munge/munge.socket" --key-file="$DIR/munge/munge.key" \
        --pid-file="$DIR/munge/munged.pid" --log-file="$DIR/munge/munged.log" \
        --seed-file="$DIR/munge/munged.seed"
    for _ in $(seq 50); do [ -s "$DIR/munge/munged.pid" ] && break; sleep 0.2; done
    cp "$DIR/munge/munged.pid" "$RUN/munged.pid"
    pid_of munged >/dev/null || { echo "cluster.sh: munged did not start" >&2; false; }

    slurmctld -c   # -c: no state from an earlier run
    for _ in $(seq 100); do pid_of slurmctld >/dev/null && break; sleep 0.2; done
    slurmd
    for _ in $(seq 100); do pid_of slurmd >/dev/null && break; sleep 0.2; done
    pid_of slurmctld >/dev/null && pid_of slurmd >/dev/null ||
        { echo "cluster.sh: slurmctld/slurmd did not start" >&2; tail -n 20 "$DIR"/log/*.log >&2; false; }
    local state=""
    for _ in $(seq 120); do
        state=$(sinfo -h -N -o %T 2>/dev/null | head -n 1)
        [ "$state" = idle ] && break
        sleep 0.5
    done
    [ "$state" = idle ] || { echo "cluster.sh: node state '$state', not idle" >&2; tail -n 20 "$DIR"/log/*.log >&2; false; }
    trap - ERR
    echo "cluster.sh: started munged $(pid_of munged), slurmctld $(pid_of slurmctld), slurmd $(pid_of slurmd)"
}

status() {
    local name
    for name in munged slurmctld slurmd; do
        echo "$name: $(pid_of "$name" || echo "not running")"
    done
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
