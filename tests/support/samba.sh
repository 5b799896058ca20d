#!/usr/bin/env bash
# A throwaway SMB server for tests: Samba's smbd with a private
# configuration, listening on 127.0.0.1 only (a free port), one share with a
# random user and password.
#
#   samba.sh start STATE_DIR   start it, write STATE_DIR/env; prints it
#   samba.sh stop STATE_DIR    stop smbd (and samba-dcerpcd, which smbd
#                              spawns for RPC) by PID, remove STATE_DIR;
#                              works after a start that failed halfway
#   samba.sh down STATE_DIR    kill smbd (a server gone mid-transfer), keep
#                              its configuration, account and files
#   samba.sh up STATE_DIR      start that smbd again, on its port
#
# STATE_DIR/env, written once the share answers a logged-on listing:
#   FERRY_TEST_SMB_HOST=127.0.0.1:PORT
#   FERRY_TEST_SMB_SHARE=ferry
#   FERRY_TEST_SMB_USER=...   FERRY_TEST_SMB_PASSWORD=...   (random)
#   FERRY_TEST_SMB_DIR=STATE_DIR/share   (the share's folder on this disk)
#   FERRY_TEST_SMB_PERM_SHARE=perm, FERRY_TEST_SMB_PERM_DIR=STATE_DIR/perm:
#     a second share where the user is itself (no "force user"), so that
#     files this machine's root keeps to itself are unreadable over SMB
#
# FERRY_SMB_PORT, when set, is the port (a test that restarts the server
# keeps it); FERRY_SMB_PASSWORD, the password (default: random);
# FERRY_SMB_NT_ACLS=1 keeps the share's security descriptors in the
# acl_xattr module (package samba-vfs-modules).
#
# The packages (samba, smbclient) are installed by scripts/setup.sh when
# missing. smbd needs a Unix account for its user: ferrysmb is created
# (no home, no shell) when missing.
set -euo pipefail

usage() {
  echo "usage: $0 start|stop|down|up STATE_DIR" >&2
  exit 2
}
[ $# -eq 2 ] || usage
cmd=$1
state=$(realpath -m "$2")
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd /

say() { echo "samba.sh: $*" >&2; }

. "$here/lib.sh"

stop() {
  if [ -f "$state/smbd.pid" ]; then
    stop_pid "$(cat "$state/smbd.pid")"
  fi
  local f
  for f in "$state"/run/pid/*.pid; do
    [ -f "$f" ] && stop_pid "$(cat "$f")"
  done
  rm -rf "$state"
}

# smbd in the background on STATE_DIR's configuration; ready when the
# share answers a logged-on listing.
run_smbd() {
  local port=$1 user=$2 password=$3 i
  smbd --foreground --debug-stdout -s "$state/smb.conf" \
    >>"$state/run/log/smbd.out" 2>&1 &
  echo $! >"$state/smbd.pid"
  for ((i = 0; i < 300; i++)); do
    if smbclient "//127.0.0.1/ferry" -p "$port" -U "$user%$password" \
      -m SMB3 -c ls >/dev/null 2>&1; then
      return 0
    fi
    running "$(cat "$state/smbd.pid")" || break
    sleep 0.1
  done
  say "smbd did not answer on 127.0.0.1:$port"
  tail -30 "$state/run/log/smbd.out" >&2 || true
  return 1
}

env_value() { sed -n "s/^$1=//p" "$state/env"; }

down() {
  local pid
  pid=$(cat "$state/smbd.pid")
  kill -KILL "$pid" 2>/dev/null || true
  # Its children (one per connection) go with it.
  pkill -KILL -f -- "-s $state/smb.conf" 2>/dev/null || true
  while running "$pid"; do sleep 0.05; done
}

up() {
  local host
  host=$(env_value FERRY_TEST_SMB_HOST)
  run_smbd "${host##*:}" "$(env_value FERRY_TEST_SMB_USER)" \
    "$(env_value FERRY_TEST_SMB_PASSWORD)"
}

start() {
  if ! command -v smbd >/dev/null || ! command -v smbclient >/dev/null; then
    "$repo/scripts/setup.sh" test >&2
  fi
  stop
  mkdir -p "$state"/run/{private,lock,state,cache,pid,ncalrpc,log} "$state/share" \
    "$state/perm"
  local port user=ferrysmb password
  port=${FERRY_SMB_PORT:-$(free_port)}
  password=${FERRY_SMB_PASSWORD:-$(head -c 512 /dev/urandom | tr -dc 'A-Za-z0-9' | head -c 20)}
  local nt_acls=
  if [ -n "${FERRY_SMB_NT_ACLS:-}" ]; then
    # Windows security descriptors kept as set (security.NTACL), as a
    # Windows-facing Samba keeps them, instead of mapped onto POSIX ACLs.
    nt_acls="  vfs objects = acl_xattr
  acl_xattr:ignore system acls = yes"
  fi
  cat >"$state/smb.conf" <<EOF
[global]
  netbios name = FERRYTEST
  workgroup = WORKGROUP
  server role = standalone server
  security = user
  map to guest = never
  interfaces = 127.0.0.1
  bind interfaces only = yes
  smb ports = $port
  disable netbios = yes
  server min protocol = SMB2_02
  private dir = $state/run/private
  lock directory = $state/run/lock
  state directory = $state/run/state
  cache directory = $state/run/cache
  pid directory = $state/run/pid
  ncalrpc dir = $state/run/ncalrpc
  log file = $state/run/log/log.%m
  passdb backend = tdbsam:$state/run/private/passdb.tdb
  load printers = no
  printing = bsd
  printcap name = /dev/null
  disable spoolss = yes
[ferry]
  path = $state/share
  read only = no
  valid users = $user
  force user = root
  case sensitive = yes
  preserve case = yes
  short preserve case = yes
$nt_acls
[perm]
  path = $state/perm
  read only = no
  valid users = $user
  case sensitive = yes
EOF
  id "$user" >/dev/null 2>&1 || useradd -M -s /usr/sbin/nologin "$user"
  chown "$user" "$state/perm"
  # smbd (as the user) must reach the share through its parents.
  chmod o+x "$state" 
  printf '%s\n%s\n' "$password" "$password" |
    smbpasswd -c "$state/smb.conf" -s -a "$user" >/dev/null
  # Not --no-process-group: smbd would then signal our whole process group
  # when stopped.
  if ! run_smbd "$port" "$user" "$password"; then
    stop
    return 1
  fi
  cat >"$state/env.tmp" <<EOF
FERRY_TEST_SMB_HOST=127.0.0.1:$port
FERRY_TEST_SMB_SHARE=ferry
FERRY_TEST_SMB_USER=$user
FERRY_TEST_SMB_PASSWORD=$password
FERRY_TEST_SMB_DIR=$state/share
FERRY_TEST_SMB_PERM_SHARE=perm
FERRY_TEST_SMB_PERM_DIR=$state/perm
EOF
  mv "$state/env.tmp" "$state/env"
  cat "$state/env"
}

case $cmd in
  start) start ;;
  stop) stop ;;
  down) down ;;
  up) up ;;
  *) usage ;;
esac
