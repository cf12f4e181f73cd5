#!/usr/bin/env bash
# The root file system of a real systemd host for the tests (test/support/systemd-host.ts boots a
# fresh copy of it with systemd-nspawn): Debian bookworm from debootstrap (minbase plus systemd, dbus
# and CA certificates), its apt pointed at the Debian mirror this machine's apt uses, packed once into
# a zstd tarball under $OPENCLOUD_TEST_CACHE. Later runs find the tarball and only check the tools.
# Bump SYSTEMD_HOST_VERSION when the recipe changes: the next run rebuilds and drops older tarballs.
# Usage: systemd-host.sh RUN_DIR
# Prints one line on stdout: the tarball's path (exit 0), or why there is none (exit 1).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
RUN_DIR=$1
mkdir -p "$RUN_DIR"
exec 3>&1 1>&2

SYSTEMD_HOST_VERSION=1
SYSTEMD_HOST_SUITE=bookworm
SYSTEMD_HOST_INCLUDE=systemd,systemd-sysv,dbus,ca-certificates
TARBALL="$OPENCLOUD_TEST_CACHE/systemd-host-$SYSTEMD_HOST_SUITE-v$SYSTEMD_HOST_VERSION.tar.zst"
STAMP="$TARBALL.stamp"
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

result() { printf '%s\n' "$*" >&3; }
fail() { log "systemd host: $*"; result "$*"; exit 1; }

is_root || fail "building and booting a systemd host needs root (running as uid $(id -u))"
[ -d /sys/fs/cgroup ] || fail "/sys/fs/cgroup is missing: systemd-nspawn cannot run containers here"
# The container gets this machine's whole cgroup tree (--bind=/sys/fs/cgroup, so runc works inside)
# and its systemd makes itself at home at the tree's root: harmless where nothing else manages
# cgroups, but on a machine run by systemd it would meddle with the host's own units.
[ -d /run/systemd/system ] \
  && fail "this machine runs systemd as PID 1: the test host's flags (--bind=/sys/fs/cgroup) would let its systemd manage the host's cgroup tree"

missing=()
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v systemd-nspawn >/dev/null || missing+=(systemd-container)
command -v zstd >/dev/null || missing+=(zstd)
command -v nsenter >/dev/null || missing+=(util-linux)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]} for the systemd host (log: $RUN_DIR/systemd-host-apt.log)"
  export DEBIAN_FRONTEND=noninteractive
  for i in 1 2 3; do
    apt-get -o DPkg::Lock::Timeout=120 update -q >"$RUN_DIR/systemd-host-apt.log" 2>&1 && break
    log "apt-get update failed (try $i)"; sleep 5
  done
  apt-get -o DPkg::Lock::Timeout=120 install -y -q --no-install-recommends "${missing[@]}" \
    >>"$RUN_DIR/systemd-host-apt.log" 2>&1 \
    || fail "apt-get install ${missing[*]} failed (see $RUN_DIR/systemd-host-apt.log)"
fi

mirror=$(apt_uri "$SYSTEMD_HOST_SUITE") \
  || fail "no apt source for $SYSTEMD_HOST_SUITE main in /etc/apt/sources.list(.d): no mirror to debootstrap from"
security=$(apt_uri "$SYSTEMD_HOST_SUITE-security") || security=""
# Everything the tarball is made from: a different recipe or mirror means a rebuild.
recipe="version=$SYSTEMD_HOST_VERSION suite=$SYSTEMD_HOST_SUITE variant=minbase include=$SYSTEMD_HOST_INCLUDE mirror=$mirror security=$security"

cached() { [ -s "$TARBALL" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$recipe" ]; }
if cached; then log "systemd host root file system cached: $TARBALL"; result "$TARBALL"; exit 0; fi

mkdir -p "$OPENCLOUD_TEST_CACHE" || fail "cannot create $OPENCLOUD_TEST_CACHE"
# One builder at a time; whoever waited finds the tarball made.
exec 9>"$OPENCLOUD_TEST_CACHE/.systemd-host.lock"
flock -w 900 9 || fail "another run has held $OPENCLOUD_TEST_CACHE/.systemd-host.lock for 15 minutes"
if cached; then log "systemd host root file system cached: $TARBALL"; result "$TARBALL"; exit 0; fi

build=$(mktemp -d "$OPENCLOUD_TEST_CACHE/.systemd-host-build.XXXXXX") || fail "cannot create a build dir in $OPENCLOUD_TEST_CACHE"
trap 'remove_build_dir "$build"' EXIT
root="$build/root"
build_log="$RUN_DIR/systemd-host-debootstrap.log"

started=$SECONDS
log "building the systemd host root file system with debootstrap (first run only, about a minute; log: $build_log)"
debootstrap --variant=minbase --include="$SYSTEMD_HOST_INCLUDE" "$SYSTEMD_HOST_SUITE" "$root" "$mirror" \
  >"$build_log" 2>&1 </dev/null \
  || { tail -5 "$build_log"; fail "debootstrap $SYSTEMD_HOST_SUITE failed (see $build_log)"; }
debootstrap_s=$((SECONDS - started))

# apt inside uses the same mirror as this machine, with the updates and security suites.
rm -f "$root/etc/apt/sources.list"
{
  printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\nSigned-By: %s\n' \
    "$mirror" "$SYSTEMD_HOST_SUITE" "$SYSTEMD_HOST_SUITE" "$KEYRING"
  [ -n "$security" ] && printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\nSigned-By: %s\n' \
    "$security" "$SYSTEMD_HOST_SUITE" "$KEYRING"
} >"$root/etc/apt/sources.list.d/debian.sources"
# Each boot gets its own machine id (systemd-nspawn passes one) and its machine name as host name
# (debootstrap copied this machine's); no package caches in the tarball.
: >"$root/etc/machine-id"
rm -f "$root/etc/hostname"
rm -f "$root/var/lib/dbus/machine-id"
rm -rf "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/*.log

tmp_tar="$build/rootfs.tar.zst"
tar -C "$root" --numeric-owner --xattrs --xattrs-include='*' -cpf - . | zstd -q -T0 -3 -o "$tmp_tar" \
  || fail "packing $root into $tmp_tar failed"
# The stamp goes last: a tarball without its stamp is rebuilt.
rm -f "$STAMP"
if ! { mv -f "$tmp_tar" "$TARBALL" && printf '%s\n' "$recipe" >"$STAMP.tmp" && mv -f "$STAMP.tmp" "$STAMP"; }; then
  fail "cannot move the tarball into $TARBALL"
fi
for old in "$OPENCLOUD_TEST_CACHE"/systemd-host-*.tar.zst; do
  [ "$old" = "$TARBALL" ] || rm -f "$old" "$old.stamp"
done
log "built $TARBALL ($(du -h "$TARBALL" | cut -f1)) in $((SECONDS - started)) s (debootstrap ${debootstrap_s} s)"
result "$TARBALL"
