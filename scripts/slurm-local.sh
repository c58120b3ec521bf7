#!/usr/bin/env bash
# A real single-node Slurm on this (Debian) machine, for the Slurm test and for trying the
# Slurm profile without a cluster. Needs root.
#
#   scripts/slurm-local.sh start DIR   install slurm-wlm + munge if missing (apt), write a
#                                      minimal slurm.conf under DIR, start munged, slurmctld and
#                                      slurmd with all state, logs and PIDs under DIR, wait until
#                                      the node is idle, print the SLURM_CONF to export
#   scripts/slurm-local.sh stop DIR    stop exactly the daemons that `start DIR` started
#   scripts/slurm-local.sh status DIR  sinfo + squeue of that Slurm
#
# Nothing outside DIR is touched, except (1) /run/slurm/conf/slurm.conf: a symlink to DIR's
# config (Slurm 22.05 looks there when the job step plugin has stripped SLURM_CONF), created
# only if absent and removed by `stop` only if it still points into DIR; (2) a fresh
# /tmp/clipfair-munge.XXXXXX for munge's key, socket and log (the munge user must reach them,
# and DIR may sit below folders only root can enter), removed by `stop`.
# No accounting daemon: finished jobs are recorded by jobcomp/filetxt in DIR/jobcomp.log, and
# Snakemake must poll with squeue (`slurm-status-command: squeue`, MinJobAge=300 below).
set -euo pipefail

usage() { echo "usage: $0 start|stop|status DIR" >&2; exit 2; }
[[ $# -eq 2 ]] || usage
action=$1
dir=$(realpath -m "$2")
conf=$dir/slurm.conf
link=/run/slurm/conf/slurm.conf

install_if_missing() {
    if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
        [[ $(id -u) -eq 0 ]] || { echo "installing slurm-wlm needs root" >&2; exit 1; }
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq slurm-wlm munge >/dev/null
    fi
}

write_conf() {
    local host cpus mem
    host=$(hostname -s)
    cpus=$(nproc)
    # leave a quarter of the free memory (MiB) to the system
    mem=$(awk '/MemAvailable/ {printf "%d", $2 / 1024 * 0.75}' /proc/meminfo)
    cat >"$conf" <<CONF
ClusterName=clipfair-local
SlurmctldHost=${host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=${munge}/munge.socket.2
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=${dir}/jobcomp.log
ReturnToService=2
MinJobAge=300
SlurmdParameters=config_overrides
StateSaveLocation=${dir}/state
SlurmdSpoolDir=${dir}/spool
SlurmctldPidFile=${dir}/slurmctld.pid
SlurmdPidFile=${dir}/slurmd.pid
SlurmctldLogFile=${dir}/slurmctld.log
SlurmdLogFile=${dir}/slurmd.log
NodeName=${host} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${mem} State=UNKNOWN
PartitionName=local Nodes=${host} Default=YES MaxTime=INFINITE State=UP
CONF
}

start() {
    install_if_missing
    if [[ -f $dir/slurmctld.pid ]] && kill -0 "$(cat "$dir/slurmctld.pid")" 2>/dev/null; then
        echo "a Slurm from $dir is already running" >&2; exit 1
    fi
    mkdir -p "$dir"/{state,spool}
    munge=$(mktemp -d /tmp/clipfair-munge.XXXXXX)
    echo "$munge" >"$dir/munge.dir"
    write_conf
    # munge: its own key (400), socket folder (755) and files, run as the munge user
    dd if=/dev/urandom of="$munge/munge.key" bs=1024 count=1 status=none
    chown -R munge: "$munge"
    chmod 755 "$munge"
    chmod 400 "$munge/munge.key"
    runuser -u munge -- munged --key-file="$munge/munge.key" \
        --socket="$munge/munge.socket.2" --pid-file="$munge/munged.pid" \
        --log-file="$munge/munged.log" --seed-file="$munge/munge.seed"
    if [[ ! -e $link ]]; then
        mkdir -p "$(dirname "$link")"
        ln -s "$conf" "$link"
    fi
    export SLURM_CONF=$conf
    slurmctld -f "$conf"
    slurmd -f "$conf" -N "$(hostname -s)"
    for _ in $(seq 60); do
        state=$(sinfo -h -o %t 2>/dev/null || true)
        if [[ $state == idle ]]; then
            echo "export SLURM_CONF=$conf"
            return 0
        fi
        sleep 1
    done
    echo "Slurm under $dir did not become idle in 60 s (state: ${state:-none}); logs:" >&2
    tail -n 20 "$dir/slurmctld.log" "$dir/slurmd.log" >&2 || true
    stop
    exit 1
}

stop() {
    local pidfile pid munge=
    [[ -f $dir/munge.dir ]] && munge=$(cat "$dir/munge.dir")
    for pidfile in "$dir/slurmd.pid" "$dir/slurmctld.pid" ${munge:+"$munge/munged.pid"}; do
        [[ -f $pidfile ]] || continue
        pid=$(cat "$pidfile")
        if kill -0 "$pid" 2>/dev/null; then
            kill "$pid"
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
        fi
        rm -f "$pidfile"
    done
    if [[ -L $link && $(readlink "$link") == "$conf" ]]; then
        rm -f "$link"
    fi
    if [[ $munge == /tmp/clipfair-munge.* && -d $munge ]]; then
        rm -rf "$munge"
        rm -f "$dir/munge.dir"
    fi
}

case $action in
    start) start ;;
    stop) stop ;;
    status) SLURM_CONF=$conf sinfo; SLURM_CONF=$conf squeue ;;
    *) usage ;;
esac
