#!/usr/bin/env bash
# The Docker engine for the client tests: Debian's docker.io (dockerd and docker 20.10), started by
# hand with everything of its own under RUN_DIR/docker (data root, exec root, socket, pid file, log)
# on the containerd our installer runs (its own namespace, moby). No bridge and no iptables rules:
# containers and legacy builds run with --network none or host, and this machine's firewall and
# routes stay as they were. Package installs never start the distribution's own dockerd (a
# policy-rc.d refuses it while apt runs).
# Usage: docker.sh RUN_DIR        prints the socket's path (exit 0), or why there is none (exit 1)
#        docker.sh --stop RUN_DIR stops that dockerd
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
if [ "${1:-}" = --stop ]; then
  stop_pid dockerd "$2/docker/dockerd.pid"
  exit 0
fi
RUN_DIR=$1
DIR="$RUN_DIR/docker"
mkdir -p "$DIR"
exec 3>&1 1>&2
result() { printf '%s\n' "$*" >&3; }
fail() { log "docker: $*"; result "$*"; exit 1; }

is_root || fail "dockerd needs root (running as uid $(id -u))"
[ -S "$CONTAINERD_SOCK" ] || fail "containerd is not running at $CONTAINERD_SOCK (the installer starts it)"
if ! dpkg-query -W -f='${Status}' docker.io 2>/dev/null | grep -q 'ok installed'; then
  log "installing docker.io (log: $RUN_DIR/docker-apt.log)"
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# test-env/docker.sh: no service starts while apt runs\nexit 101\n' >"$policy"
    chmod 0755 "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=120 install -y -q --no-install-recommends docker.io >"$RUN_DIR/docker-apt.log" 2>&1 \
    || { apt-get -o DPkg::Lock::Timeout=120 update -q >>"$RUN_DIR/docker-apt.log" 2>&1 \
      && apt-get -o DPkg::Lock::Timeout=120 install -y -q --no-install-recommends docker.io >>"$RUN_DIR/docker-apt.log" 2>&1; } \
    || fail "apt-get install docker.io failed (see $RUN_DIR/docker-apt.log)"
fi
[ -x /usr/sbin/dockerd ] && [ -x /usr/bin/docker ] || fail "docker.io is installed but /usr/sbin/dockerd or /usr/bin/docker is missing"

SOCK="$DIR/docker.sock"
stop_pid dockerd "$DIR/dockerd.pid"
log "starting dockerd $(/usr/sbin/dockerd --version | cut -d' ' -f3 | tr -d ,) (log: $DIR/dockerd.log)"
# 3>&-: the daemon must not hold the pipe our caller reads the result from (setup.sh's $(…)
# would wait for it to close, that is forever).
setsid /usr/sbin/dockerd --host "unix://$SOCK" --data-root "$DIR/data" --exec-root "$DIR/exec" \
  --pidfile "$DIR/dockerd.pid" --containerd "$CONTAINERD_SOCK" --bridge none --iptables=false \
  --ip-masq=false --storage-driver overlay2 >"$DIR/dockerd.log" 2>&1 </dev/null 3>&- &
wait_for "dockerd on $SOCK" 60 /usr/bin/docker --host "unix://$SOCK" version \
  || { tail -5 "$DIR/dockerd.log"; fail "dockerd did not answer on $SOCK within 60 s (see $DIR/dockerd.log)"; }
result "$SOCK"
