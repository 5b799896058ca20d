#!/usr/bin/env bash
# Installs the Debian 12 packages ferry needs, by group:
#   scripts/setup.sh build   what building `ferry` needs (the demo)
#   scripts/setup.sh test    build + the test suite, sanitizers and fuzzing
#   scripts/setup.sh bench   build + the peers ferry is measured against
#   scripts/setup.sh radosgw the S3 server the tests start themselves
#                            (tests/support/radosgw.sh), alone
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
)
BENCH=(
  # the peers ferry is measured against
  rsync rclone time
)

packages=()
for group in "${@:-all}"; do
  case $group in
    build) packages+=("${BUILD[@]}") ;;
    test) packages+=("${BUILD[@]}" "${TEST[@]}" "${BENCH[@]}") ;;
    bench) packages+=("${BUILD[@]}" "${BENCH[@]}") ;;
    radosgw) packages+=("${RADOSGW[@]}") ;;
    all) packages+=("${BUILD[@]}" "${TEST[@]}" "${BENCH[@]}") ;;
    *)
      echo "setup: unknown group '$group' (build, test, bench, radosgw or all)" >&2
      exit 2
      ;;
  esac
done

# The DataSync clients the control-plane tests drive: Debian's, unless the
# python3 on PATH already has boto3 and an aws CLI is there.
if [[ " $* " =~ " test " || " $* " =~ " all " || $# -eq 0 ]]; then
  python3 -c 'import boto3' 2>/dev/null || packages+=(python3-boto3)
  command -v aws >/dev/null 2>&1 || packages+=(awscli)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0
readarray -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
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
