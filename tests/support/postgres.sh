#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests, listening on 127.0.0.1 only.
#
#   postgres.sh start STATE_DIR   initdb, start on a free port, create the
#                                 database ferry_test; prints its URL
#   postgres.sh stop STATE_DIR    stop the server, remove the cluster and
#                                 STATE_DIR
#
# The cluster lives in a fresh directory under ${TMPDIR:-/tmp} (its Unix
# socket too); STATE_DIR/cluster names it and STATE_DIR/url holds the URL.
# Run as root, the server runs as the `postgres` account. The server binaries
# are taken from $FERRY_PG_BINDIR, the initdb on PATH, or
# /usr/lib/postgresql/*/bin (newest); without them start fails, saying so.
set -euo pipefail

usage() {
  echo "usage: $0 start|stop STATE_DIR" >&2
  exit 2
}
[ $# -eq 2 ] || usage
cmd=$1
state=$(realpath -m "$2")
# The server runs as another account, which may not be allowed into the
# caller's working directory.
cd /

find_bindir() {
  if [ -n "${FERRY_PG_BINDIR:-}" ]; then
    [ -x "$FERRY_PG_BINDIR/initdb" ] && echo "$FERRY_PG_BINDIR" && return 0
    return 1
  fi
  local initdb
  if initdb=$(command -v initdb 2>/dev/null); then
    dirname "$(readlink -f "$initdb")"
    return 0
  fi
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -rV); do
    [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && echo "$d" && return 0
  done
  return 1
}

# Runs a server binary as the account that owns the cluster.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

free_port() {
  python3 - <<'PY' 2>/dev/null || echo $((20000 + RANDOM % 30000))
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
PY
}

stop() {
  [ -f "$state/cluster" ] || {
    rm -rf "$state"
    return 0
  }
  local cluster bindir
  cluster=$(cat "$state/cluster")
  if [ -f "$cluster/data/postmaster.pid" ] && bindir=$(find_bindir); then
    as_owner "$bindir/pg_ctl" -D "$cluster/data" -m immediate -w -t 30 stop \
      >/dev/null 2>&1 || true
  fi
  case $cluster in
    */ferry-pg.*) rm -rf "$cluster" ;;
  esac
  rm -rf "$state"
}

start() {
  local bindir
  if ! bindir=$(find_bindir); then
    echo "postgres.sh: PostgreSQL server binaries (initdb, pg_ctl) not found:" \
      "install the postgresql package (scripts/setup.sh does) or set" \
      "FERRY_PG_BINDIR" >&2
    exit 1
  fi
  if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
    echo "postgres.sh: running as root needs the 'postgres' account to run" \
      "the server" >&2
    exit 1
  fi
  stop  # a cluster a crashed run left behind
  mkdir -p "$state"
  local cluster
  cluster=$(mktemp -d "${TMPDIR:-/tmp}/ferry-pg.XXXXXX")
  echo "$cluster" >"$state/cluster"
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres: "$cluster"
  fi
  if ! as_owner "$bindir/initdb" -D "$cluster/data" -U postgres -A trust \
    -E UTF8 --locale=C.UTF-8 --no-sync >"$cluster/initdb.log" 2>&1; then
    echo "postgres.sh: initdb failed:" >&2
    cat "$cluster/initdb.log" >&2
    stop
    exit 1
  fi
  local port attempt
  for attempt in 1 2 3 4 5; do
    port=$(free_port)
    if as_owner "$bindir/pg_ctl" -D "$cluster/data" -l "$cluster/server.log" \
      -w -t 30 -o "-c listen_addresses=127.0.0.1 -p $port -k $cluster \
      -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
      -c max_connections=100" start >/dev/null 2>&1; then
      break
    fi
    port=""
  done
  if [ -z "$port" ]; then
    echo "postgres.sh: the server did not start:" >&2
    tail -20 "$cluster/server.log" >&2 || true
    stop
    exit 1
  fi
  if ! "$bindir/createdb" -h 127.0.0.1 -p "$port" -U postgres ferry_test \
    >"$cluster/createdb.log" 2>&1; then
    echo "postgres.sh: createdb failed:" >&2
    cat "$cluster/createdb.log" >&2
    stop
    exit 1
  fi
  local url="postgresql://postgres@127.0.0.1:$port/ferry_test"
  echo "$url" >"$state/url"
  echo "$url"
}

case $cmd in
  start) start ;;
  stop) stop ;;
  *) usage ;;
esac
