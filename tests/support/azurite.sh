#!/usr/bin/env bash
# A throwaway Azure Blob server for tests: Azurite (Microsoft's emulator),
# the blob service alone, listening on 127.0.0.1 only (a free port), with the
# emulator's well-known account and one container. Azurite checks SharedKey
# and SAS signatures for real.
#
#   azurite.sh start STATE_DIR   start it, create the container, write
#                                STATE_DIR/env; prints it
#   azurite.sh stop STATE_DIR    stop it by PID (TERM, then KILL), remove
#                                STATE_DIR; works after a start that failed
#                                halfway, and when nothing was started
#   azurite.sh down STATE_DIR    kill it (a server gone mid-transfer: open
#                                connections are cut), keep its data, port
#                                and tokens
#   azurite.sh up STATE_DIR      start it again, on that port and data
#                                (STATE_DIR/env then names the new PID)
#
# STATE_DIR/env, written once the endpoint answers a SharedKey-signed request
# (so its presence means "ready"):
#   FERRY_TEST_AZURE_ENDPOINT=http://127.0.0.1:PORT/devstoreaccount1
#   FERRY_TEST_AZURE_ACCOUNT=devstoreaccount1
#   FERRY_TEST_AZURE_KEY=...       the emulator's well-known account key
#   FERRY_TEST_AZURE_CONTAINER=ferry
#   FERRY_TEST_AZURE_SAS=...       a service SAS for the container granting
#                                  racwdl, valid for a day (a query string,
#                                  no leading ?)
#   FERRY_TEST_AZURE_SAS_READ_ONLY=...  the same granting rl only
#   FERRY_TEST_AZURE_PID=...       Azurite's PID
# Read it as KEY=VALUE lines: the tokens hold & and %, so a shell sourcing it
# as it is would cut them.
#
# The SAS tokens are made here (sas() below), as Azure documents a service SAS
# of version 2020-12-06 or later: sv=2021-08-06&se=EXPIRY&sr=c&sp=PERMS&sig=SIG
# (the order and encoding of Azure's SDKs, whose tokens these equal),
# where SIG is base64(HMAC-SHA256(base64-decoded account key, STRING)) and
# STRING is these 16 fields joined by "\n" (no newline after the last):
#   PERMS, "" (st), EXPIRY (YYYY-MM-DDThh:mm:ssZ), /blob/ACCOUNT/CONTAINER,
#   "" (si), "" (sip), "" (spr), 2021-08-06 (sv), c (sr), "" (snapshot time),
#   "" (ses), "" (rscc), "" (rscd), "" (rsce), "" (rscl), "" (rsct)
# In the token, the colons of se are %3A and sig is percent-encoded.
#
# Environment:
#   FERRY_AZURE_PORT    the port (default: a free one)
#   FERRY_AZURE_LOOSE=1 start Azurite with --loose: it then ignores the
#                       headers it does not implement (x-ms-content-crc64,
#                       customer-provided keys, SAS ses) instead of failing
#                       the request (500 FeatureNotSupported); off by
#                       default, so that a header ferry sends and Azurite
#                       would not check shows
#   FERRY_AZURE_MEMORY=1 start Azurite with --inMemoryPersistence: blobs
#                       and metadata in its memory only, none of its database
#                       saved to disk (whose cost grows with the blobs held);
#                       what a "down" loses
#   FERRY_AZURE_DEBUG   a file for Azurite's debug log (every request)
#   FERRY_TOOLS_DIR     the cache Azurite is installed in (default
#                       /var/cache/ferry-tools)
#
# Azurite 3.35.0 (3.36 and later need Node >= 21) is installed from npm by
# `scripts/setup.sh azure` into $FERRY_TOOLS_DIR/azurite-3.35.0, shared by
# every run and clone, when missing; Node and npm too. Its log is
# STATE_DIR/azurite.log, its blobs and metadata are in STATE_DIR/data.
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

version=3.35.0
tools=${FERRY_TOOLS_DIR:-/var/cache/ferry-tools}
main=$tools/azurite-$version/node_modules/azurite/dist/src/blob/main.js
account=devstoreaccount1
key='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
container=ferry
api_version=2021-08-06
start_timeout=60

say() { echo "azurite.sh: $*" >&2; }

now_ms() { date +%s%3N; }

. "$here/lib.sh"

stop() {
  if [ -f "$state/azurite.pid" ]; then
    stop_pid "$(cat "$state/azurite.pid")"
  fi
  rm -rf "$state"
}

# HMAC-SHA256 of stdin with the account key, in base64.
sign() {
  openssl dgst -sha256 -mac HMAC \
    -macopt "hexkey:$(printf '%s' "$key" | base64 -d | od -An -v -tx1 | tr -d ' \n')" \
    -binary | base64 -w0
}

# Percent-encodes what base64 and ISO times hold besides [A-Za-z0-9-].
urlencode() {
  local s=$1
  s=${s//%/%25}
  s=${s//+/%2B}
  s=${s//\//%2F}
  s=${s//=/%3D}
  s=${s//:/%3A}
  printf '%s' "$s"
}

# A service SAS for the container (see the header); prints the token.
sas() { # permissions expiry
  local sp=$1 se=$2 sig
  sig=$(printf '%s\n%s\n%s\n%s\n%s\n%s\n%s\n%s\n%s\n%s\n%s\n%s\n%s\n%s\n%s\n%s' \
    "$sp" "" "$se" "/blob/$account/$container" "" "" "" "$api_version" c \
    "" "" "" "" "" "" "" | sign)
  printf 'sv=%s&se=%s&sr=c&sp=%s&sig=%s' "$api_version" "$(urlencode "$se")" "$sp" \
    "$(urlencode "$sig")"
}

# Create Container for $container, SharedKey-signed; prints the HTTP status
# (000 when nothing answered). 201: created; 409: it was there (up).
create_container() { # port
  local date sig
  date=$(TZ=GMT date '+%a, %d %b %Y %H:%M:%S GMT')
  # VERB, Content-Encoding, -Language, -Length, -MD5, -Type, Date,
  # If-Modified-Since, If-Match, If-None-Match, If-Unmodified-Since, Range,
  # the x-ms- headers, the resource (the account twice: path-style URL).
  sig=$(printf '%s\n\n\n\n\n\n\n\n\n\n\n\n%s\n%s\n%s' PUT "x-ms-date:$date" \
    "x-ms-version:$api_version" "/$account/$account/$container"$'\n'"restype:container" |
    sign)
  curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X PUT \
    -H "x-ms-date: $date" -H "x-ms-version: $api_version" -H "Content-Length: 0" \
    -H "Authorization: SharedKey $account:$sig" \
    "http://127.0.0.1:$1/$account/$container?restype=container" 2>/dev/null || true
}

# Azurite in the background on STATE_DIR/data; ready when it, and nobody
# else, listens on the port and the container answers a SharedKey request.
# Returns 2 when the port was taken.
run_azurite() { # port
  local port=$1 pid code="" deadline=$((SECONDS + start_timeout)) logged
  # What this run logs begins past what earlier ones did.
  logged=$({ stat -c %s "$state/azurite.log" 2>/dev/null; } || echo 0)
  local args=(--blobHost 127.0.0.1 --blobPort "$port"
    --disableTelemetry --skipApiVersionCheck --silent)
  if [ "${FERRY_AZURE_MEMORY:-0}" = 1 ]; then
    args+=(--inMemoryPersistence)
  else
    args+=(--location "$state/data")
  fi
  [ "${FERRY_AZURE_LOOSE:-0}" = 1 ] && args+=(--loose)
  [ -n "${FERRY_AZURE_DEBUG:-}" ] && args+=(--debug "$FERRY_AZURE_DEBUG")
  node "$main" "${args[@]}" </dev/null >>"$state/azurite.log" 2>&1 &
  pid=$!
  echo "$pid" >"$state/azurite.pid"
  while :; do
    if ! running "$pid"; then
      if tail -c +$((logged + 1)) "$state/azurite.log" | grep -q EADDRINUSE; then
        say "port $port is taken"
        return 2
      fi
      say "azurite (pid $pid) exited"
      break
    fi
    if ss -ltnpH "sport = :$port" | grep -qF "pid=$pid,"; then
      code=$(create_container "$port")
      case $code in
        201 | 409) return 0 ;;
      esac
    fi
    [ "$SECONDS" -lt "$deadline" ] || {
      say "no answer to a SharedKey-signed Create Container within ${start_timeout}s" \
        "(HTTP ${code:-000})"
      break
    }
    sleep 0.1
  done
  tail -c +$((logged + 1)) "$state/azurite.log" | tail -30 >&2 || true
  return 1
}

env_value() { sed -n "s/^$1=//p" "$state/env"; }

# Azurite keeps blob and block metadata in memory and saves it every 5 s: a
# plain SIGKILL would lose what was written just before. SIGTERM first: it
# stops listening and saves its metadata (then logs "successfully closed");
# SIGKILL next, which drops the connections still open mid-request.
down() {
  local pid logged i
  pid=$(cat "$state/azurite.pid")
  logged=$({ stat -c %s "$state/azurite.log" 2>/dev/null; } || echo 0)
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    running "$pid" || break
    tail -c +$((logged + 1)) "$state/azurite.log" | grep -q "successfully closed" && break
    sleep 0.05
  done
  kill -KILL "$pid" 2>/dev/null || true
  while running "$pid"; do sleep 0.05; done
}

up() {
  local endpoint port
  if running "$(cat "$state/azurite.pid")"; then
    say "azurite (pid $(cat "$state/azurite.pid")) is up already"
    return 0
  fi
  endpoint=$(env_value FERRY_TEST_AZURE_ENDPOINT)
  port=${endpoint##*:}
  port=${port%%/*}
  run_azurite "$port" || return 1
  sed "s/^FERRY_TEST_AZURE_PID=.*/FERRY_TEST_AZURE_PID=$(cat "$state/azurite.pid")/" \
    "$state/env" >"$state/env.tmp"
  mv "$state/env.tmp" "$state/env"
}

start() {
  local t0 b
  t0=$(now_ms)
  if ! command -v node >/dev/null 2>&1 || [ ! -f "$main" ]; then
    say "Azurite $version is not installed: installing it (scripts/setup.sh azure)"
    "$repo/scripts/setup.sh" azure >&2 || {
      say "installing Azurite failed"
      return 1
    }
  fi
  for b in node openssl curl ss python3; do
    command -v "$b" >/dev/null 2>&1 || {
      say "$b is needed and not found (scripts/setup.sh test installs it)"
      return 1
    }
  done
  stop # what a crashed run left behind
  mkdir -p "$state/data"
  local port rc
  for _ in 1 2 3; do
    port=${FERRY_AZURE_PORT:-$(free_port)}
    rc=0
    run_azurite "$port" || rc=$?
    # A port chosen free was taken before Azurite bound it (another server
    # starting at the same time): again on another.
    if [ "$rc" -ne 2 ] || [ -n "${FERRY_AZURE_PORT:-}" ]; then
      break
    fi
  done
  [ "$rc" -eq 0 ] || return 1
  local expiry rw ro code
  expiry=$(date -u -d '+1 day' '+%Y-%m-%dT%H:%M:%SZ')
  rw=$(sas racwdl "$expiry")
  ro=$(sas rl "$expiry")
  # The tokens work: List Blobs with each.
  for b in "$rw" "$ro"; do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
      "http://127.0.0.1:$port/$account/$container?restype=container&comp=list&$b" ||
      true)
    [ "$code" = 200 ] || {
      say "List Blobs with the SAS $b answered HTTP $code"
      return 1
    }
  done
  cat >"$state/env.tmp" <<EOF
FERRY_TEST_AZURE_ENDPOINT=http://127.0.0.1:$port/$account
FERRY_TEST_AZURE_ACCOUNT=$account
FERRY_TEST_AZURE_KEY=$key
FERRY_TEST_AZURE_CONTAINER=$container
FERRY_TEST_AZURE_SAS=$rw
FERRY_TEST_AZURE_SAS_READ_ONLY=$ro
FERRY_TEST_AZURE_PID=$(cat "$state/azurite.pid")
EOF
  mv "$state/env.tmp" "$state/env"
  local ms=$(($(now_ms) - t0))
  say "ready in $((ms / 1000)).$(printf %03d $((ms % 1000))) s"
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
  up) up ;;
  *) usage ;;
esac
