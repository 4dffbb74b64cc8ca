#!/usr/bin/env bash
# A real single-node SLURM on localhost, for the workflow's CI test (tests/workflow/test_slurm.py).
# Debian 12 (bookworm), run as root, no systemd, no cgroups. Adapted from the shared CI recipe.
#   .ci/slurm-local.sh up       install (apt, once) + configure + start munged, slurmctld, slurmd; idempotent:
#                               a second `up` with everything running returns in about a second
#   .ci/slurm-local.sh verify   sbatch --wait / srun / squeue / fake-GPU checks
#   .ci/slurm-local.sh status   exit 0 when the node is up and idle (or mixed/allocated), else 1
#   .ci/slurm-local.sh down     stop every daemon it started, by PID file
# Knobs (env):
#   SLURM_PREFIX=/var/tmp/slurm-ci   state, spool, logs, pid files, sockets (all under here)
#   SLURM_ACCOUNTING=0               1 = slurmdbd + MariaDB (real sacct); 0 = none (Snakemake then polls squeue)
#   SLURM_FAKE_GPUS=2                N fake GPUs (gres/gpu on char devices made with mknod); 0 = none
# Side effects outside SLURM_PREFIX: apt packages, and symlinks /etc/slurm/{slurm,gres,slurmdbd}.conf.
# /etc/slurm/slurm.conf MUST exist: snakemake's slurm-jobstep plugin strips every SLURM_* variable
# (SLURM_CONF included) before its nested `srun`, so srun only finds the default path.
# Resource limits are not enforced (no cgroups) and the GPUs are not real: a job that asks for a GPU
# gets CUDA_VISIBLE_DEVICES but no CUDA, and `dca train` falls back to the CPU.
set -euo pipefail

PREFIX=${SLURM_PREFIX:-/var/tmp/slurm-ci}
ACCOUNTING=${SLURM_ACCOUNTING:-0}
FAKE_GPUS=${SLURM_FAKE_GPUS:-2}
NODE=$(hostname -s)
MUNGE_SOCK=$PREFIX/munge/munge.socket.2
DB_SOCK=$PREFIX/mysql/run/mysqld.sock

log() { printf '[slurm-local %(%H:%M:%S)T] %s\n' -1 "$*"; }
wait_for() {  # wait_for DESCRIPTION SECONDS CMD...
  local what=$1 secs=$2; shift 2
  local end=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= end)); then log "TIMEOUT waiting for $what"; return 1; fi
    sleep 0.5
  done
}
pid_alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }
node_ready() { sinfo -h -n "$NODE" -o %T 2>/dev/null | grep -Eqx 'idle|mixed|allocated'; }

install_pkgs() {
  export DEBIAN_FRONTEND=noninteractive
  local pkgs=(munge slurmctld slurmd slurm-client)
  [[ $ACCOUNTING == 1 ]] && pkgs+=(slurmdbd mariadb-server)
  if ! dpkg -s "${pkgs[@]}" >/dev/null 2>&1; then
    log "apt-get install ${pkgs[*]}"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
  fi
  if [[ ! -s /etc/munge/munge.key ]]; then   # the package's postinst normally creates it
    mungekey --create --keyfile=/etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key; chmod 600 /etc/munge/munge.key
  fi
}

# write_file PATH: replace PATH by stdin when different; returns 0 when it changed.
write_file() {
  local tmp; tmp=$(mktemp "$1.XXXX")
  cat >"$tmp"
  if [[ -f $1 ]] && cmp -s "$tmp" "$1"; then rm -f "$tmp"; return 1; fi
  mv "$tmp" "$1"; return 0
}

write_config() {  # sets CONFIG_CHANGED=1 when slurm.conf or gres.conf changed
  CONFIG_CHANGED=0
  mkdir -p "$PREFIX"/{etc,run,log,state,spool,munge,fakegpu}
  chmod 755 "$PREFIX"
  chown munge:munge "$PREFIX/munge"; chmod 755 "$PREFIX/munge"   # munged insists on 755 + owner munge
  local mem_mb hw
  mem_mb=$(( $(free -m | awk '/^Mem:/{print $2}') - 1024 ))      # leave 1 GiB for the OS
  hw=$(slurmd -C | head -1 | sed -E "s/^NodeName=[^ ]+ //; s/RealMemory=[0-9]+/RealMemory=$mem_mb/")
  local gres_node="" gres_types=""
  if ((FAKE_GPUS > 0)); then
    gres_types="GresTypes=gpu"
    gres_node="Gres=gpu:$FAKE_GPUS"
    for ((i = 0; i < FAKE_GPUS; i++)); do   # must be char devices, else no CUDA_VISIBLE_DEVICES
      [[ -c $PREFIX/fakegpu/nvidia$i ]] || mknod "$PREFIX/fakegpu/nvidia$i" c 195 "$i"
    done
    write_file "$PREFIX/etc/gres.conf" <<EOF && CONFIG_CHANGED=1
AutoDetect=off
NodeName=$NODE Name=gpu File=$PREFIX/fakegpu/nvidia[0-$((FAKE_GPUS - 1))]
EOF
  else
    write_file "$PREFIX/etc/gres.conf" </dev/null && CONFIG_CHANGED=1
  fi
  local acct
  if [[ $ACCOUNTING == 1 ]]; then
    acct="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=6819
AccountingStoragePass=$MUNGE_SOCK
AccountingStorageTRES=gres/gpu
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30"
  else
    acct="AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none"
  fi
  write_file "$PREFIX/etc/slurm.conf" <<EOF && CONFIG_CHANGED=1
ClusterName=ci
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCK
CredType=cred/munge
StateSaveLocation=$PREFIX/state
SlurmdSpoolDir=$PREFIX/spool
SlurmctldPidFile=$PREFIX/run/slurmctld.pid
SlurmdPidFile=$PREFIX/run/slurmd.pid
SlurmctldLogFile=$PREFIX/log/slurmctld.log
SlurmdLogFile=$PREFIX/log/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
$gres_types
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# without this a job with no --mem gets ALL node memory and blocks every other job
DefMemPerCPU=1000
SchedulerType=sched/backfill
$acct
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
# completed jobs stay visible to squeue for 5 min: Snakemake's squeue status mode needs them (>= 3 x poll interval)
MinJobAge=300
KillWait=5
Waittime=0
SlurmctldDebug=info
SlurmdDebug=info
NodeName=$NODE NodeAddr=127.0.0.1 $hw $gres_node State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  if [[ $ACCOUNTING == 1 ]]; then
    write_file "$PREFIX/etc/slurmdbd.conf" <<EOF || true
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCK
DbdHost=localhost
DbdPort=6819
SlurmUser=root
LogFile=$PREFIX/log/slurmdbd.log
PidFile=$PREFIX/run/slurmdbd.pid
DebugLevel=info
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=3306
StorageUser=slurm
StoragePass=slurmci
StorageLoc=slurm_acct_db
EOF
    chmod 600 "$PREFIX/etc/slurmdbd.conf"     # slurmdbd refuses a world-readable config
  fi
  mkdir -p /etc/slurm
  for f in slurm.conf gres.conf slurmdbd.conf; do
    [[ -e $PREFIX/etc/$f ]] && ln -sfn "$PREFIX/etc/$f" "/etc/slurm/$f"
  done
  return 0
}

start_all() {
  if ! pid_alive "$PREFIX/munge/munged.pid"; then
    log "starting munged"
    runuser -u munge -- /usr/sbin/munged --socket="$MUNGE_SOCK" --pid-file="$PREFIX/munge/munged.pid" \
      --log-file="$PREFIX/munge/munged.log" --seed-file="$PREFIX/munge/munged.seed"
  fi
  wait_for munge 20 bash -c "munge -n -S '$MUNGE_SOCK' | unmunge -S '$MUNGE_SOCK'"

  if [[ $ACCOUNTING == 1 ]]; then
    if [[ ! -d $PREFIX/mysql/data/mysql ]]; then
      log "initialising MariaDB datadir"
      mkdir -p "$PREFIX/mysql/data" "$PREFIX/mysql/run"; chown -R mysql:mysql "$PREFIX/mysql"
      mariadb-install-db --user=mysql --datadir="$PREFIX/mysql/data" \
        --auth-root-authentication-method=socket --skip-test-db >"$PREFIX/log/mariadb-install.log" 2>&1
    fi
    if ! pid_alive "$PREFIX/mysql/run/mysqld.pid"; then
      log "starting mariadbd"
      setsid nohup mariadbd --user=mysql --datadir="$PREFIX/mysql/data" --socket="$DB_SOCK" \
        --pid-file="$PREFIX/mysql/run/mysqld.pid" --bind-address=127.0.0.1 --port=3306 \
        --log-error="$PREFIX/log/mariadb.err" --innodb-buffer-pool-size=512M \
        --innodb-lock-wait-timeout=900 >/dev/null 2>&1 </dev/null &
    fi
    wait_for mariadb 60 mariadb -S "$DB_SOCK" -e 'SELECT 1'
    mariadb -S "$DB_SOCK" -e "
      CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurmci';
      CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurmci';
      GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
      GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"
    if ! pid_alive "$PREFIX/run/slurmdbd.pid"; then
      log "starting slurmdbd"
      /usr/sbin/slurmdbd
    fi
    wait_for slurmdbd 60 sacctmgr -n show cluster
  fi

  if ! pid_alive "$PREFIX/run/slurmctld.pid"; then
    log "starting slurmctld"
    /usr/sbin/slurmctld
  fi
  wait_for slurmctld 60 bash -c 'scontrol ping | grep -q "is UP"'
  if ! pid_alive "$PREFIX/run/slurmd.pid"; then
    log "starting slurmd"
    /usr/sbin/slurmd
  fi
  if ! wait_for "node $NODE ready" 30 node_ready; then   # e.g. left DOWN/DRAINED by an earlier run
    scontrol update nodename="$NODE" state=resume 2>/dev/null || true
    wait_for "node $NODE ready" 30 node_ready
  fi
  log "SLURM is up"; sinfo -o '%P %a %D %T %N %c %m %G'
}

up() {
  install_pkgs
  write_config
  if ((CONFIG_CHANGED)) && pid_alive "$PREFIX/run/slurmctld.pid"; then
    log "configuration changed: restarting the SLURM daemons"
    stop_pid slurmd "$PREFIX/run/slurmd.pid"
    stop_pid slurmctld "$PREFIX/run/slurmctld.pid"
  fi
  start_all
}

verify() {
  local out=$PREFIX/verify; mkdir -p "$out"; cd "$out"
  sinfo
  scontrol show node "$NODE" | grep -E 'State=|CfgTRES'
  local jid
  jid=$(sbatch --parsable --wait -o "$out/%j.out" --wrap 'hostname; srun -n1 echo step-ok; echo batch-ok')
  grep -q step-ok "$out/$jid.out"
  grep -q batch-ok "$out/$jid.out"
  squeue -t all -j "$jid" -h -o '%i %T' | grep -q COMPLETED
  log "sbatch/srun/squeue OK (job $jid)"
  if ((FAKE_GPUS > 0)); then
    jid=$(sbatch --parsable --wait --gpus=1 -o "$out/%j.out" --wrap 'echo CVD=$CUDA_VISIBLE_DEVICES')
    grep -q 'CVD=0' "$out/$jid.out"
    log "gres/gpu OK (job $jid: $(cat "$out/$jid.out"))"
  fi
  if [[ $ACCOUNTING == 1 ]]; then
    wait_for "sacct record of job $jid" 30 bash -c "sacct -n -X -j $jid -o State | grep -q COMPLETED"
    log "sacct OK"
  fi
}

stop_pid() {  # stop_pid NAME PIDFILE
  local pidf=$2 pid
  [[ -f $pidf ]] || return 0
  pid=$(cat "$pidf")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -0 "$pid" 2>/dev/null && { log "$1 ($pid) did not stop, SIGKILL"; kill -9 "$pid"; }
  fi
  rm -f "$pidf"; log "stopped $1"
}

down() {
  stop_pid slurmd "$PREFIX/run/slurmd.pid"
  stop_pid slurmctld "$PREFIX/run/slurmctld.pid"
  stop_pid slurmdbd "$PREFIX/run/slurmdbd.pid"
  stop_pid mariadbd "$PREFIX/mysql/run/mysqld.pid"
  stop_pid munged "$PREFIX/munge/munged.pid"
}

status() {
  pid_alive "$PREFIX/run/slurmctld.pid" && pid_alive "$PREFIX/run/slurmd.pid" && node_ready
}

case ${1:-up} in
  up) up ;;
  verify) verify ;;
  status) status ;;
  down) down ;;
  *) echo "usage: $0 up|verify|status|down" >&2; exit 2 ;;
esac
