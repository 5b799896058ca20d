#!/usr/bin/env bash
# A throwaway NFS server for tests: NFS-Ganesha (VFS) with rpcbind, in a
# private network namespace that holds only `lo`, so that neither listens
# on this machine's addresses (rpcbind's TCP port 111 binds every address).
# The clients under test (ferry, its agent, nfs-ls) run in that namespace
# too: `nfs.sh exec STATE_DIR COMMAND...`.
#
#   nfs.sh start STATE_DIR   start it, write STATE_DIR/env; prints it
#   nfs.sh stop STATE_DIR    stop both, remove the namespace and STATE_DIR;
#                            works after a start that failed halfway
#   nfs.sh down STATE_DIR    kill ganesha (a server gone mid-transfer),
#                            keep its exports
#   nfs.sh up STATE_DIR      start that ganesha again
#   nfs.sh exec STATE_DIR COMMAND [ARG...]
#                            run COMMAND in the server's namespace
#
# STATE_DIR/env, written once the export answers a listing:
#   FERRY_TEST_NFS_NETNS=...          the namespace (ip netns exec NAME ...)
#   FERRY_TEST_NFS_HOST=127.0.0.1
#   FERRY_TEST_NFS_EXPORT=/export     FERRY_TEST_NFS_DIR=STATE_DIR/export
#     read-write, root is root (No_Root_Squash)
#   FERRY_TEST_NFS_SQUASH_EXPORT=/squash  FERRY_TEST_NFS_SQUASH_DIR=...
#     read-write, root squashed to nobody (65534); holds, from the start,
#     open.txt (0644) and secret.txt (0600, unreadable over NFS)
#
# The packages (nfs-ganesha, nfs-ganesha-vfs, rpcbind, libnfs-utils) are
# installed by scripts/setup.sh when missing.
set -euo pipefail

usage() {
  echo "usage: $0 start|stop|down|up STATE_DIR | exec STATE_DIR COMMAND..." >&2
  exit 2
}
[ $# -ge 2 ] || usage
cmd=$1
state=$(realpath -m "$2")
shift 2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# One namespace per state folder.
ns=ferrynfs$(printf '%s' "$state" | cksum | cut -d' ' -f1)
in_ns=(ip netns exec "$ns")
# The daemons run in the namespace with a /run of their own: rpcbind keeps
# its lock and socket in /run, which namespaces of the network do not
# separate, so a second server (or the machine's own rpcbind) would clash.
# ganesha then finds its rpcbind over TCP, on the namespace's 127.0.0.1.
daemon=("${in_ns[@]}" unshare -m --propagation private sh -c
  'mount -t tmpfs tmpfs /run && mkdir -p /run/rpcbind && exec "$@"' daemon)

say() { echo "nfs.sh: $*" >&2; }

. "$here/lib.sh"

stop() {
  [ -f "$state/ganesha.pid" ] && stop_pid "$(cat "$state/ganesha.pid")"
  [ -f "$state/rpcbind.pid" ] && stop_pid "$(cat "$state/rpcbind.pid")"
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$state"
}

# Waits until something in the namespace accepts TCP on 127.0.0.1:$1.
wait_port() {
  local port=$1 pid=$2 i
  for ((i = 0; i < 300; i++)); do
    if "${in_ns[@]}" bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null; then
      return 0
    fi
    running "$pid" || break
    sleep 0.1
  done
  return 1
}

run_ganesha() {
  local i
  "${daemon[@]}" ganesha.nfsd -F -f "$state/ganesha.conf" \
    -L "$state/log/ganesha.log" -p "$state/run/ganesha.nfsd.pid" -N NIV_EVENT \
    >>"$state/log/ganesha.out" 2>&1 &
  echo $! >"$state/ganesha.pid"
  for ((i = 0; i < 300; i++)); do
    if "${in_ns[@]}" nfs-ls nfs://127.0.0.1/export >/dev/null 2>&1; then
      return 0
    fi
    running "$(cat "$state/ganesha.pid")" || break
    sleep 0.1
  done
  say "ganesha did not serve /export"
  tail -30 "$state/log/ganesha.log" >&2 || true
  return 1
}

down() {
  local pid
  pid=$(cat "$state/ganesha.pid")
  kill -KILL "$pid" 2>/dev/null || true
  while running "$pid"; do sleep 0.05; done
}

start() {
  if ! command -v ganesha.nfsd >/dev/null || ! command -v rpcbind >/dev/null ||
    ! command -v nfs-ls >/dev/null; then
    "$repo/scripts/setup.sh" test
  fi
  stop
  mkdir -p "$state"/{export,squash,recov,log,run}
  chmod 0777 "$state/squash"
  echo "open to all" >"$state/squash/open.txt"
  echo "root's alone" >"$state/squash/secret.txt"
  chmod 0644 "$state/squash/open.txt"
  chmod 0600 "$state/squash/secret.txt"
  cat >"$state/ganesha.conf" <<CONF
NFS_CORE_PARAM {
    # No Bind_addr: the namespace holds only lo (and 127.0.0.1 fails there).
    NFS_Port = 2049; MNT_Port = 20048;
    Protocols = 3, 4;
    Enable_NLM = false; Enable_RQUOTA = false; Enable_UDP = false;
    # NFSv3 mounts the pseudo path (/export), as NFSv4 does.
    Mount_Path_Pseudo = true;
}
NFS_KRB5 { Active_krb5 = false; }
# Owners as numbers, as Linux's knfsd sends them under AUTH_SYS: Ganesha's
# default (names, user@domain) reads as 65534 through libnfs, which maps a
# name only where this host's getpwnam knows it.
NFSV4 {
    Graceless = true; RecoveryBackend = fs; RecoveryRoot = $state/recov;
    Only_Numeric_Owners = true;
}
EXPORT {
    Export_Id = 1; Path = $state/export; Pseudo = /export;
    Protocols = 3, 4; Transports = TCP; Access_Type = RW;
    Squash = No_Root_Squash; SecType = sys;
    FSAL { Name = VFS; }
}
EXPORT {
    Export_Id = 2; Path = $state/squash; Pseudo = /squash;
    Protocols = 3, 4; Transports = TCP; Access_Type = RW;
    Squash = Root_Squash; Anonymous_Uid = 65534; Anonymous_Gid = 65534;
    SecType = sys;
    FSAL { Name = VFS; }
}
LOG { Default_Log_Level = EVENT; }
CONF
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  # Ganesha registers NFSv3 with a portmapper, or exits.
  "${daemon[@]}" rpcbind -f >>"$state/log/rpcbind.out" 2>&1 &
  echo $! >"$state/rpcbind.pid"
  if ! wait_port 111 "$(cat "$state/rpcbind.pid")"; then
    say "rpcbind did not listen"
    cat "$state/log/rpcbind.out" >&2 || true
    return 1
  fi
  run_ganesha
  cat >"$state/env" <<ENV
FERRY_TEST_NFS_NETNS=$ns
FERRY_TEST_NFS_HOST=127.0.0.1
FERRY_TEST_NFS_EXPORT=/export
FERRY_TEST_NFS_DIR=$state/export
FERRY_TEST_NFS_SQUASH_EXPORT=/squash
FERRY_TEST_NFS_SQUASH_DIR=$state/squash
ENV
  cat "$state/env"
}

case $cmd in
  start)
    if ! start; then
      stop
      exit 1
    fi
    ;;
  stop) stop ;;
  down) down ;;
  up) run_ganesha ;;
  exec)
    [ $# -ge 1 ] || usage
    exec "${in_ns[@]}" "$@"
    ;;
  *) usage ;;
esac
