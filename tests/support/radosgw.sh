#!/usr/bin/env bash
# A throwaway S3 server for tests: a one-node Ceph cluster (one monitor, one
# memstore OSD holding everything in RAM, cephx off) and radosgw (beast) in
# front of it, every socket on 127.0.0.1 only. radosgw checks SigV4 for real,
# gives AWS's multipart ETags and errors, and speaks HTTP and HTTPS.
#
#   radosgw.sh start STATE_DIR   bring it up on free ports, create a user,
#                                write STATE_DIR/env; prints the env lines
#   radosgw.sh stop STATE_DIR    stop every daemon by PID (TERM, then KILL
#                                after a grace period), remove the data and
#                                STATE_DIR; works after a start that failed
#                                halfway, and when nothing was started
#
# STATE_DIR/env, written once the server answers signed S3 requests on both
# endpoints (so its presence means "ready"):
#   FERRY_TEST_S3_ENDPOINT=http://127.0.0.1:PORT
#   FERRY_TEST_S3_HTTPS_ENDPOINT=https://127.0.0.1:PORT2
#   FERRY_TEST_S3_CA_FILE=STATE_DIR/ca.pem   (the private CA that signed the
#                                             certificate for 127.0.0.1 and
#                                             localhost)
#   FERRY_TEST_S3_ACCESS_KEY=...   FERRY_TEST_S3_SECRET_KEY=...   (random)
#   FERRY_TEST_S3_REGION=us-east-1
#
# The cluster lives in a fresh directory under ${TMPDIR:-/tmp} (named in
# STATE_DIR/cluster, the daemons' PIDs in STATE_DIR/pids); daemon logs are in
# its log/ folder and are printed when start fails.
#
# Environment:
#   FERRY_RGW_MEMSTORE_BYTES   the OSD's RAM cap (default 1073741824, 1 GiB);
#                              the cluster refuses writes past about 95 % of it
#   FERRY_RGW_START_TIMEOUT    seconds start may take (default 180)
#
# The packages (ceph-mon, ceph-osd, radosgw) are installed with
# scripts/setup.sh when missing. No system service file is used: the daemons
# are started here, in the foreground of their own sessions, with a private
# configuration.
set -euo pipefail

usage() {
  echo "usage: $0 start|stop STATE_DIR" >&2
  exit 2
}
[ $# -eq 2 ] || usage
cmd=$1
state=$(realpath -m "$2")
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
self=$here/$(basename "${BASH_SOURCE[0]}")
repo=$(cd "$here/../.." && pwd)
cd /

memstore_bytes=${FERRY_RGW_MEMSTORE_BYTES:-1073741824}
start_timeout=${FERRY_RGW_START_TIMEOUT:-180}
grace=10

say() { echo "radosgw.sh: $*" >&2; }

now_ms() { date +%s%3N; }

# --------------------------------------------------------------------------
# stop

# The command line of a live PID, NULs as spaces; empty when it is gone.
cmdline_of() {
  { tr '\0' ' ' <"/proc/$1/cmdline"; } 2>/dev/null || true
}

# PIDs of live processes whose command line names this cluster's
# configuration (daemons a start killed before it recorded them, an
# unfinished radosgw-admin or ceph call).
cluster_pids() {
  local conf=$1 p
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    case $(cmdline_of "$p") in
      *"$conf"*) echo "$p" ;;
    esac
  done
}

. "$here/lib.sh"

# TERM to every PID given that still runs this cluster, KILL to those left
# after $grace seconds.
terminate() {
  local conf=$1
  shift
  local pids=() p i
  for p in "$@"; do
    case $(cmdline_of "$p") in
      *"$conf"*)
        kill -TERM "$p" 2>/dev/null && pids+=("$p")
        ;;
    esac
  done
  [ ${#pids[@]} -gt 0 ] || return 0
  for ((i = 0; i < grace * 20; i++)); do
    local alive=()
    for p in "${pids[@]}"; do
      running "$p" && alive+=("$p")
    done
    [ ${#alive[@]} -eq 0 ] && return 0
    pids=("${alive[@]}")
    sleep 0.05
  done
  for p in "${pids[@]}"; do
    say "pid $p ($(cmdline_of "$p" | cut -c1-60)) ignored SIGTERM for ${grace}s: SIGKILL"
    kill -KILL "$p" 2>/dev/null || true
  done
}

stop() {
  if [ ! -f "$state/cluster" ]; then
    rm -rf "$state"
    return 0
  fi
  local cluster conf
  cluster=$(cat "$state/cluster")
  conf=$cluster/ceph.conf
  # radosgw first (it hangs in shutdown when the OSD is gone), then the OSD
  # (it waits up to 5 s for the monitor to acknowledge that it goes down),
  # then the monitor.
  if [ -f "$state/pids" ]; then
    local group pids name pid
    for group in rgw osd mon; do
      pids=()
      while read -r name pid; do
        [ "$name" = "$group" ] && pids+=("$pid")
      done <"$state/pids"
      [ ${#pids[@]} -eq 0 ] || terminate "$conf" "${pids[@]}"
    done
  fi
  # Whatever else still runs with this configuration.
  local rest
  mapfile -t rest < <(cluster_pids "$conf")
  [ ${#rest[@]} -eq 0 ] || terminate "$conf" "${rest[@]}"
  case $cluster in
    */ferry-rgw.*) rm -rf "$cluster" ;;
  esac
  rm -rf "$state"
}

# --------------------------------------------------------------------------
# start

# Where the cluster directory goes: /dev/shm when it has 2 GiB free (the
# monitor's database syncs every commit; the OSD keeps its data in RAM
# anyway), else ${TMPDIR:-/tmp}.
cluster_parent() {
  local free_kb
  if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
    free_kb=$(df -Pk /dev/shm 2>/dev/null | awk 'NR == 2 { print $4 }')
    if [ "${free_kb:-0}" -ge $((2 * 1024 * 1024)) ]; then
      echo /dev/shm
      return
    fi
  fi
  echo "${TMPDIR:-/tmp}"
}

# Free TCP ports on 127.0.0.1, distinct, each checked by binding it.
free_ports() {
  python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

random_string() { # length alphabet
  local out=""
  while [ ${#out} -lt "$1" ]; do
    out+=$(head -c 256 /dev/urandom | tr -dc "$2")
  done
  echo "${out:0:$1}"
}

# The private CA and the server certificate (127.0.0.1 and localhost).
make_certificates() {
  local dir=$1
  mkdir -p "$dir"
  cat >"$dir/ca.ext" <<'EOF'
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
EOF
  cat >"$dir/server.ext" <<'EOF'
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
EOF
  openssl ecparam -name prime256v1 -genkey -noout -out "$dir/ca.key" 2>/dev/null
  openssl req -new -key "$dir/ca.key" -subj "/CN=ferry test radosgw CA" \
    -out "$dir/ca.csr" 2>/dev/null
  openssl x509 -req -in "$dir/ca.csr" -signkey "$dir/ca.key" -days 30 \
    -extfile "$dir/ca.ext" -out "$dir/ca.pem" 2>/dev/null
  openssl ecparam -name prime256v1 -genkey -noout -out "$dir/server.key" 2>/dev/null
  openssl req -new -key "$dir/server.key" -subj "/CN=127.0.0.1" \
    -out "$dir/server.csr" 2>/dev/null
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
    -CAcreateserial -days 30 -extfile "$dir/server.ext" \
    -out "$dir/server.pem" 2>/dev/null
}

# Prints the daemons' logs to stderr: each one's errors (severity -1) and
# its last lines.
show_logs() {
  local cluster=$1 f
  for f in "$cluster"/log/*; do
    [ -s "$f" ] || continue
    echo "----- $f: errors" >&2
    grep -E '^[0-9T:.+-]+ [0-9a-f]+ -1 ' "$f" | tail -20 >&2 || true
    echo "----- $f: last 25 lines" >&2
    tail -25 "$f" >&2
  done
}

# Fails start: says why, shows the logs, stops what was started.
fail() {
  local cluster=$1
  shift
  say "start failed: $*"
  if grep -qs "reached critical levels of available space" "$cluster"/log/*; then
    say "ceph-mon REFUSED TO RUN: the file system holding $cluster has under 5 %" \
      "free space (mon_data_avail_crit). Free some space or set TMPDIR to another" \
      "file system."
  fi
  show_logs "$cluster"
  # A port chosen free was taken before a daemon bound it (another test
  # starting a server at the same time): start again on new ports.
  local again=0
  if [ -z "${FERRY_RGW_PORTS:-}" ] && [ "${_FERRY_RGW_ATTEMPT:-1}" -lt 3 ] &&
    grep -qs "Address already in use" "$cluster"/log/*; then
    again=1
  fi
  stop
  if [ "$again" -eq 1 ]; then
    say "a port was taken meanwhile: starting again on other ports"
    _FERRY_RGW_ATTEMPT=$((${_FERRY_RGW_ATTEMPT:-1} + 1)) exec "$self" start "$state"
  fi
  exit 1
}

record_pid() { echo "$1 $2" >>"$state/pids"; }
pid_of() { awk -v n="$1" '$1 == n { print $2 }' "$state/pids"; }

# Starts a daemon in the foreground of a session of its own, detached from
# the caller's terminal and pipes (ctest waits for the pipes to close).
spawn() { # name log command...
  local name=$1 log=$2
  shift 2
  setsid "$@" </dev/null >"$log" 2>&1 &
  record_pid "$name" $!
}

# Runs a ceph tool with the cluster's configuration, output to a log, with a
# time limit.
tool() { # log timeout command...
  local log=$1 t=$2
  shift 2
  timeout "$t" "$@" </dev/null >>"$log" 2>&1
}

# A signed S3 ListBuckets; prints the HTTP status (000 when nothing answered).
s3_status() { # url [curl args...]
  local url=$1
  shift
  curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@" \
    --aws-sigv4 "aws:amz:us-east-1:s3" --user "$access_key:$secret_key" \
    -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$url/" 2>/dev/null || true
}

# Every listening socket of the given PIDs must be on 127.0.0.1.
check_loopback_only() { # cluster pids...
  local cluster=$1
  shift
  local listing pid bad="" count=0 line
  listing=$(ss -ltunpH 2>&1) || fail "$cluster" "ss -ltunp failed: $listing"
  for pid in "$@"; do
    while read -r line; do
      [ -n "$line" ] || continue
      count=$((count + 1))
      # netid state recv-q send-q local peer process
      local addr
      addr=$(awk '{print $5}' <<<"$line")
      case $addr in
        127.0.0.1:*) ;;
        *) bad+="$line"$'\n' ;;
      esac
    done < <(grep -F "pid=$pid," <<<"$listing" || true)
  done
  if [ -n "$bad" ]; then
    fail "$cluster" "a daemon listens beyond 127.0.0.1:"$'\n'"$bad"
  fi
  [ "$count" -gt 0 ] || fail "$cluster" "ss shows no listening socket of the daemons"
}

start_once() {
  local t0 cluster conf
  t0=$(now_ms)
  mkdir -p "$state"
  cluster=$(mktemp -d "$(cluster_parent)/ferry-rgw.XXXXXX")
  echo "$cluster" >"$state/cluster"
  : >"$state/pids"
  conf=$cluster/ceph.conf
  mkdir -p "$cluster"/{mon.a,osd0,run,log,rgw}

  # ceph-mon reports MON_DISK_LOW (a health warning, harmless here) when the
  # file system holding its data has under 30 % free, and shuts down under
  # 5 % (mon_data_avail_crit): say so before it happens.
  local avail
  avail=$(df -P "$cluster" | awk 'NR == 2 { printf "%d", 100 * $4 / $2 }')
  if [ "$avail" -lt 5 ]; then
    fail "$cluster" "only $avail % of the file system holding $cluster is free;" \
      "ceph-mon refuses to run under 5 % (mon_data_avail_crit). Free some space" \
      "or set TMPDIR to another file system."
  elif [ "$avail" -lt 30 ]; then
    say "note: $avail % free where the monitor keeps its data ($cluster):" \
      "ceph-mon warns (MON_DISK_LOW) under 30 % and stops under 5 %"
  fi

  local ports mon_port http_port https_port
  if [ -n "${FERRY_RGW_PORTS:-}" ]; then
    ports=$FERRY_RGW_PORTS
  else
    ports=$(free_ports 3)
  fi
  read -r mon_port http_port https_port <<<"$ports"
  make_certificates "$cluster/tls"
  cp "$cluster/tls/ca.pem" "$state/ca.pem"

  local fsid
  fsid=$(cat /proc/sys/kernel/random/uuid)
  cat >"$conf" <<CONF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$mon_port
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
ms bind msgr1 = false
# A port taken meanwhile fails at once (the default retries for 15 s); start
# then begins again on other ports.
ms bind retry count = 1
auth cluster required = none
auth service required = none
auth client required = none
# With cephx off, the daemons' default 'secure' messenger mode cannot be
# negotiated (radosgw loops on EACCES): allow crc.
ms mon client mode = crc
ms client mode = crc
ms mon service mode = crc secure
ms mon cluster mode = crc secure
keyring = /dev/null
osd objectstore = memstore
memstore device bytes = $memstore_bytes
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
# Pools and users are created one map epoch at a time; the default 1 s
# between proposals is most of the start time.
paxos propose interval = 0.01
paxos min wait = 0.001
# radosgw and radosgw-admin start while the OSD boots: an operation sent
# before the OSD is up waits for the client's next tick (5 s by default) to
# learn that it is.
objecter tick interval = 0.5
mon max pg per osd = 1000
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
run dir = $cluster/run
admin socket = $cluster/run/\$name.asok
log file = $cluster/log/\$name.log
pid file = $cluster/run/\$name.pid
mon data = $cluster/mon.\$id
osd data = $cluster/osd\$id
mon cluster log file = $cluster/log/cluster.log
[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$http_port ssl_endpoint=127.0.0.1:$https_port ssl_certificate=$cluster/tls/server.pem ssl_private_key=$cluster/tls/server.key
rgw data = $cluster/rgw
rgw thread pool size = 64
# The lifecycle threads sleep 5 s between rounds and hold up a shutdown;
# ferry does not use lifecycle rules.
rgw enable lc threads = false
# Deleted and overwritten objects give their space back within seconds (the
# default waits 2 hours), so a whole ctest run fits in the RAM store.
rgw gc obj min wait = 0
rgw gc processor period = 10
CONF

  local deadline=$((SECONDS + start_timeout))
  left() { echo $((deadline - SECONDS > 1 ? deadline - SECONDS : 1)); }

  tool "$cluster/log/setup.out" "$(left)" monmaptool --create \
    --addv a "[v2:127.0.0.1:$mon_port]" --fsid "$fsid" "$cluster/monmap" ||
    fail "$cluster" "monmaptool failed"
  tool "$cluster/log/setup.out" "$(left)" ceph-mon -c "$conf" --mkfs -i a \
    --monmap "$cluster/monmap" || fail "$cluster" "ceph-mon --mkfs failed"
  spawn mon "$cluster/log/mon.out" ceph-mon -c "$conf" -i a -f
  # The monitor listening (or gone) before the first ceph command, which
  # would otherwise wait out its whole timeout for a monitor that died or
  # talk to whoever took its port.
  until ss -ltnpH "sport = :$mon_port" | grep -qF "pid=$(pid_of mon),"; do
    running "$(pid_of mon)" || fail "$cluster" "ceph-mon exited"
    [ "$SECONDS" -lt "$deadline" ] ||
      fail "$cluster" "ceph-mon did not listen on 127.0.0.1:$mon_port within ${start_timeout}s"
    sleep 0.05
  done
  tool "$cluster/log/setup.out" "$(left)" ceph -c "$conf" --connect-timeout "$(left)" \
    osd create || fail "$cluster" "the monitor did not answer (ceph osd create)"
  tool "$cluster/log/setup.out" "$(left)" ceph-osd -c "$conf" -i 0 --mkfs ||
    fail "$cluster" "ceph-osd --mkfs failed"
  spawn osd "$cluster/log/osd.out" ceph-osd -c "$conf" -i 0 -f
  spawn rgw "$cluster/log/rgw.out" radosgw -c "$conf" -n client.rgw.a -f

  access_key=$(random_string 20 'A-Z0-9')
  secret_key=$(random_string 40 'A-Za-z0-9')
  tool "$cluster/log/user.out" "$(left)" radosgw-admin -c "$conf" user create \
    --uid ferry-test --display-name "ferry test" \
    --access-key "$access_key" --secret "$secret_key" ||
    fail "$cluster" "radosgw-admin user create failed"

  local http=http://127.0.0.1:$http_port https=https://127.0.0.1:$https_port
  local code_http="" code_https=""
  while :; do
    local name pid
    while read -r name pid; do
      running "$pid" || fail "$cluster" "$name (pid $pid) exited"
    done <"$state/pids"
    [ "$code_http" = 200 ] || code_http=$(s3_status "$http")
    [ "$code_https" = 200 ] || code_https=$(s3_status "$https" --cacert "$state/ca.pem")
    [ "$code_http" = 200 ] && [ "$code_https" = 200 ] && break
    [ "$SECONDS" -lt "$deadline" ] ||
      fail "$cluster" "no answer to a signed ListBuckets within ${start_timeout}s" \
        "(HTTP: $code_http, HTTPS: $code_https)"
    sleep 0.2
  done

  local pids=()
  while read -r _ pid; do pids+=("$pid"); done <"$state/pids"
  check_loopback_only "$cluster" "${pids[@]}"

  cat >"$state/env.tmp" <<ENV
FERRY_TEST_S3_ENDPOINT=$http
FERRY_TEST_S3_HTTPS_ENDPOINT=$https
FERRY_TEST_S3_CA_FILE=$state/ca.pem
FERRY_TEST_S3_ACCESS_KEY=$access_key
FERRY_TEST_S3_SECRET_KEY=$secret_key
FERRY_TEST_S3_REGION=us-east-1
ENV
  mv "$state/env.tmp" "$state/env"
  local ms=$(($(now_ms) - t0))
  say "ready in $((ms / 1000)).$(printf %03d $((ms % 1000))) s (cluster $cluster)"
  cat "$state/env"
}

start() {
  local missing=0 b
  for b in ceph-mon ceph-osd radosgw radosgw-admin monmaptool ceph; do
    command -v "$b" >/dev/null 2>&1 || missing=1
  done
  if [ "$missing" -eq 1 ]; then
    say "Ceph is not installed: installing it (scripts/setup.sh radosgw)"
    "$repo/scripts/setup.sh" radosgw || {
      say "installing ceph-mon ceph-osd radosgw failed"
      exit 1
    }
  fi
  for b in curl openssl python3 ss setsid timeout; do
    command -v "$b" >/dev/null 2>&1 || {
      say "$b is needed and not found (scripts/setup.sh test installs it)"
      exit 1
    }
  done
  stop # what a crashed run left behind
  start_once
}

case $cmd in
  start) start ;;
  stop) stop ;;
  *) usage ;;
esac
