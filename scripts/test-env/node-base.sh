#!/usr/bin/env bash
# Stand-ins for the public base images OpenCloud's own Dockerfile names, since no registry on the
# internet is reachable here: node:20-bookworm (Debian bookworm with python3, make and g++, what
# compiling a native addon needs) and node:20-bookworm-slim (bookworm alone), each a debootstrap
# minbase with this machine's Node.js 20 laid out as the official images have it (/usr/local/bin,
# /usr/local/lib/node_modules/npm, /usr/local/include/node). Packed once into gzipped tarballs under
# $OPENCLOUD_TEST_CACHE/node-base with their uncompressed digests (the layers' diff ids) beside them;
# test/support/node-base-images.ts turns them into images. Later runs only check the stamp.
# Bump NODE_BASE_VERSION when the recipe changes: the next run rebuilds and drops older tarballs.
# Usage: node-base.sh RUN_DIR
# Prints one line on stdout: the directory holding {full,slim}.tar.gz (exit 0), or why not (exit 1).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
RUN_DIR=$1
mkdir -p "$RUN_DIR"
exec 3>&1 1>&2

NODE_BASE_VERSION=1
SUITE=bookworm
FULL_INCLUDE=python3,make,g++,ca-certificates
SLIM_INCLUDE=ca-certificates
result() { printf '%s\n' "$*" >&3; }
fail() { log "node base images: $*"; result "$*"; exit 1; }

is_root || fail "debootstrap needs root (running as uid $(id -u))"
node=$(command -v node) || fail "node is not installed"
node=$(readlink -f "$node")
node_version=$("$node" --version)
case $node_version in v20.*) ;; *) fail "node $node_version is not Node.js 20" ;; esac
node_prefix=$(dirname "$(dirname "$node")")
[ -d "$node_prefix/lib/node_modules/npm" ] || fail "npm is not in $node_prefix/lib/node_modules/npm"
[ -f "$node_prefix/include/node/node.h" ] || fail "Node's headers are not in $node_prefix/include/node"
if ! command -v debootstrap >/dev/null; then
  log "installing debootstrap (log: $RUN_DIR/node-base-apt.log)"
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 install -y -q --no-install-recommends debootstrap \
    >"$RUN_DIR/node-base-apt.log" 2>&1 || fail "apt-get install debootstrap failed (see $RUN_DIR/node-base-apt.log)"
fi
mirror=$(apt_uri "$SUITE") || fail "no apt source for $SUITE main in /etc/apt/sources.list(.d): no mirror to debootstrap from"

# Everything the tarballs are made from: a different recipe, mirror or Node means a rebuild.
recipe="version=$NODE_BASE_VERSION suite=$SUITE full=$FULL_INCLUDE slim=$SLIM_INCLUDE mirror=$mirror node=$node_version $(sha256sum "$node" | cut -c1-16)"
OUT="$OPENCLOUD_TEST_CACHE/node-base/$node_version-v$NODE_BASE_VERSION"
STAMP="$OUT/stamp"
cached() { [ -s "$OUT/full.tar.gz" ] && [ -s "$OUT/slim.tar.gz" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$recipe" ]; }
if cached; then log "node base images cached: $OUT"; result "$OUT"; exit 0; fi

mkdir -p "$OPENCLOUD_TEST_CACHE/node-base" || fail "cannot create $OPENCLOUD_TEST_CACHE/node-base"
exec 9>"$OPENCLOUD_TEST_CACHE/node-base/.lock"
flock -w 900 9 || fail "another run has held $OPENCLOUD_TEST_CACHE/node-base/.lock for 15 minutes"
if cached; then log "node base images cached: $OUT"; result "$OUT"; exit 0; fi

build=$(mktemp -d "$OPENCLOUD_TEST_CACHE/node-base/.build.XXXXXX") || fail "cannot create a build dir"
trap 'remove_build_dir "$build"' EXIT

# one NAME INCLUDE: debootstrap, Node where the official images put it, packed as $build/NAME.tar.gz
# with the uncompressed tar's sha256 in $build/NAME.diffid.
one() {
  local name=$1 include=$2 root="$build/$1" started=$SECONDS
  log "building the $name node base image with debootstrap (first run only; log: $RUN_DIR/node-base-$name.log)"
  debootstrap --variant=minbase --include="$include" "$SUITE" "$root" "$mirror" \
    >"$RUN_DIR/node-base-$name.log" 2>&1 </dev/null \
    || { tail -5 "$RUN_DIR/node-base-$name.log"; fail "debootstrap $SUITE ($name) failed (see $RUN_DIR/node-base-$name.log)"; }
  mkdir -p "$root/usr/local/bin" "$root/usr/local/lib/node_modules" "$root/usr/local/include"
  cp -a "$node" "$root/usr/local/bin/node"
  cp -a "$node_prefix/lib/node_modules/npm" "$root/usr/local/lib/node_modules/npm"
  cp -a "$node_prefix/include/node" "$root/usr/local/include/node"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
  # No machine identity, host name or package caches in an image.
  : >"$root/etc/machine-id"
  rm -f "$root/etc/hostname" "$root/var/lib/dbus/machine-id"
  rm -rf "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/*.log
  tar -C "$root" --numeric-owner --sort=name -cpf "$build/$name.tar" . \
    && sha256sum "$build/$name.tar" | cut -d' ' -f1 >"$build/$name.diffid" \
    && gzip -6 "$build/$name.tar" || fail "packing $root failed"
  remove_build_dir "$root"
  log "built the $name node base image ($(du -h "$build/$name.tar.gz" | cut -f1) gzipped) in $((SECONDS - started)) s"
}
one full "$FULL_INCLUDE"
one slim "$SLIM_INCLUDE"
for name in full slim; do grep -qE '^[0-9a-f]{64}$' "$build/$name.diffid" || fail "no digest was taken of the $name layer"; done

rm -rf "$OUT.new" && mkdir -p "$OUT.new" && mv "$build"/*.tar.gz "$build"/*.diffid "$OUT.new/" \
  && printf '%s\n' "$recipe" >"$OUT.new/stamp" && rm -rf "$OUT" && mv "$OUT.new" "$OUT" \
  || fail "cannot move the tarballs into $OUT"
for old in "$OPENCLOUD_TEST_CACHE"/node-base/v*; do [ "$old" = "$OUT" ] || rm -rf "$old"; done
result "$OUT"
