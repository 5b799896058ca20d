#!/usr/bin/env bash
# Installs the Debian 12 packages ferry needs, by group:
#   scripts/setup.sh build   what building `ferry` needs (the demo)
#   scripts/setup.sh test    build + the test suite, sanitizers and fuzzing
#   scripts/setup.sh bench   build + the peers ferry is measured against
#   scripts/setup.sh radosgw the S3 server the tests start themselves
#                            (tests/support/radosgw.sh), alone
#   scripts/setup.sh azure   the Azure Blob server the tests start themselves
#                            (Azurite, tests/support/azurite.sh), alone
#   scripts/setup.sh [all]   everything
# Idempotent and quiet when everything is already there. Run as root (or with
# sudo available). Installing starts no service: the tests start the servers
# they need themselves, on 127.0.0.1, with private configurations, and a
# package's own service (PostgreSQL's cluster, Ceph's daemons) would listen
# on every interface. While apt-get runs, a policy-rc.d that refuses every
# start is in place (unless the machine already has one).
set -euo pipefail

BUILD=(
  build-essential cmake ninja-build lld ccache pkg-config git
  libssl-dev libxxhash-dev nlohmann-json3-dev libcli11-dev libzstd-dev
  libacl1-dev libattr1-dev libcpp-httplib-dev libpcre2-dev libsqlite3-dev libpq-dev
  libcurl4-openssl-dev libpugixml-dev libboost1.81-dev libsmbclient-dev libnfs-dev
  python3
)
# Ceph radosgw: a real S3 server (it checks SigV4) that the tests start on
# 127.0.0.1 (tests/support/radosgw.sh: one monitor, one memstore OSD, radosgw),
# and the tools that script uses.
RADOSGW=(ceph-mon ceph-osd radosgw curl openssl iproute2 util-linux python3)
# Samba: the SMB server the tests start on 127.0.0.1 (tests/support/samba.sh),
# smbclient to see it from outside ferry, impacket to hold a file open the way
# a Windows client does (share mode 0: nobody else may read it), acl_xattr
# (samba-vfs-modules) to keep security descriptors as set.
SAMBA=(samba samba-vfs-modules smbclient python3-impacket)
# NFS: NFS-Ganesha (VFS), with rpcbind, in a private network namespace
# (tests/support/nfs.sh); libnfs's nfs-ls/nfs-cp to see it from outside ferry.
NFS=(nfs-ganesha nfs-ganesha-vfs rpcbind libnfs-utils iproute2)
# Azure Blob: Azurite, Microsoft's emulator (tests/support/azurite.sh, on
# 127.0.0.1), from npm into a cache shared by every run and clone (see
# install_azurite below); openssl and curl sign and send its readiness check,
# ss sees that Azurite is the one listening, python3 finds a free port.
# Node and npm are added below only when missing: NodeSource's nodejs (a
# newer Node than Debian's) carries npm and conflicts with Debian's npm.
AZURE=(openssl curl iproute2 python3)
AZURITE_VERSION=3.35.0
TEST=(
  # clang builds the sanitized configuration and the fuzz targets
  clang libclang-rt-14-dev
  libgtest-dev libgmock-dev clang-format
  # the end-to-end tests: real tools, real PostgreSQL (started by the tests
  # themselves on 127.0.0.1), real DataSync clients
  attr acl rsync postgresql
  # real S3 (Ceph radosgw, started by the tests themselves on 127.0.0.1)
  "${RADOSGW[@]}"
  # real SMB (Samba's smbd, started by the tests themselves on 127.0.0.1)
  "${SAMBA[@]}"
  # real NFS (NFS-Ganesha, started by the tests themselves in a namespace)
  "${NFS[@]}"
  # Azure Blob (Azurite, started by the tests themselves on 127.0.0.1)
  "${AZURE[@]}"
)
BENCH=(
  # the peers ferry is measured against
  rsync rclone time
  # bench/link_bench.py: rsync over ssh between network namespaces, and
  # packet loss on the emulated link
  openssh-server openssh-client nftables
)

packages=()
azurite=0
for group in "${@:-all}"; do
  case $group in
    build) packages+=("${BUILD[@]}") ;;
    test) packages+=("${BUILD[@]}" "${TEST[@]}" "${BENCH[@]}") azurite=1 ;;
    bench) packages+=("${BUILD[@]}" "${BENCH[@]}") ;;
    radosgw) packages+=("${RADOSGW[@]}") ;;
    azure) packages+=("${AZURE[@]}") azurite=1 ;;
    all) packages+=("${BUILD[@]}" "${TEST[@]}" "${BENCH[@]}") azurite=1 ;;
    *)
      echo "setup: unknown group '$group' (build, test, bench, radosgw, azure or all)" >&2
      exit 2
      ;;
  esac
done
if [ "$azurite" -eq 1 ]; then
  command -v node >/dev/null 2>&1 || packages+=(nodejs)
  command -v npm >/dev/null 2>&1 || packages+=(npm)
fi

# The DataSync clients the control-plane tests drive: Debian's, unless the
# python3 on PATH already has boto3 and an aws CLI is there.
if [[ " $* " =~ " test " || " $* " =~ " all " || $# -eq 0 ]]; then
  python3 -c 'import boto3' 2>/dev/null || packages+=(python3-boto3)
  command -v aws >/dev/null 2>&1 || packages+=(awscli)
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

install_packages() {
  local missing=() p
  for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$p")
    fi
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  readarray -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)

  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  local log
  log=$(mktemp /tmp/ferry-apt.XXXXXX.log)
  # No service starts on install (invoke-rc.d and deb-systemd-invoke ask
  # policy-rc.d; 101 means "not allowed").
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# scripts/setup.sh: no service starts while it installs\nexit 101\n' |
      $SUDO tee "$policy" >/dev/null
    $SUDO chmod 755 "$policy"
    trap '$SUDO rm -f "$policy"' EXIT
  fi
  if ! $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$log" 2>&1; then
    $SUDO apt-get update -qq >>"$log" 2>&1
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$log" 2>&1 || {
      cat "$log" >&2
      exit 1
    }
  fi
  rm -f "$log"
}

# Azurite $AZURITE_VERSION from npm into
# ${FERRY_TOOLS_DIR:-/var/cache/ferry-tools}/azurite-$AZURITE_VERSION, shared
# by every run and clone (tests/support/azurite.sh runs this script when that
# folder is missing). Pinned: 3.36 and later need Node >= 21, and bookworm's
# Node (or NodeSource's 20) is older. npm installs into a temporary folder
# beside it, renamed into place when complete, so a half-done install is
# never used; of two installs at once, the second to finish drops its copy.
install_azurite() {
  local tools=${FERRY_TOOLS_DIR:-/var/cache/ferry-tools}
  local dir=$tools/azurite-$AZURITE_VERSION
  [ -f "$dir/node_modules/azurite/dist/src/blob/main.js" ] && return 0
  echo "setup: installing azurite@$AZURITE_VERSION (npm) into $dir" >&2
  $SUDO mkdir -p "$tools"
  local tmp log
  tmp=$($SUDO mktemp -d "$tools/.azurite-$AZURITE_VERSION.XXXXXX")
  log=$(mktemp /tmp/ferry-npm.XXXXXX.log)
  if ! $SUDO npm install --no-audit --no-fund --no-update-notifier --prefix "$tmp" \
    "azurite@$AZURITE_VERSION" >"$log" 2>&1; then
    cat "$log" >&2
    $SUDO rm -rf "$tmp"
    exit 1
  fi
  rm -f "$log"
  $SUDO chmod 755 "$tmp"
  $SUDO mv -T "$tmp" "$dir" 2>/dev/null || $SUDO rm -rf "$tmp"
  [ -f "$dir/node_modules/azurite/dist/src/blob/main.js" ] || {
    echo "setup: $dir/node_modules/azurite/dist/src/blob/main.js missing after npm install" >&2
    exit 1
  }
}

install_packages
[ "$azurite" -eq 0 ] || install_azurite
