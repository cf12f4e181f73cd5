#!/usr/bin/env bash
# Registry benchmark: our server, CNCF Distribution 2.8.2 (Debian `docker-registry`) and
# Distribution v3.1.1 (built from the Go module proxy) side by side on this machine, driven by the
# same client (bench/registry.ts and the modules it imports). See bench/README.md.
#
#   bash bench/run.sh            # everything (about 10 minutes on 2 cores)
#   bash bench/run.sh --quick    # small sizes, one run: about 2 minutes, the same table
#   BENCH_RUNS=1 BENCH_ONLY=upload bash bench/run.sh
#
# Steps: install `docker-registry` and `wrk` with apt when missing (as root; the package's own
# service is kept from starting, and stopped if it did start), build Distribution v3.1.1 into
# /var/cache/opencloud-bench once (a failed build is reported and the run goes on without it),
# build dist/, compile the benchmark with the project's tsc into a temporary directory, run it.
# The benchmark starts the registries itself, each on a free loopback port with a fresh data dir
# under the work dir, and stops them.
# Results: a table on stdout, JSON in $BENCH_RESULTS_DIR (default /tmp/opencloud-bench-results).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "[bench] $*" >&2; }

for arg in "$@"; do
  case "$arg" in
    --quick) export BENCH_QUICK=1 ;;
    *)
      log "unknown argument $arg (only --quick; the rest are BENCH_* variables, see bench/README.md)"
      exit 64
      ;;
  esac
done

# Distribution v3.1.1, built once from the Go module proxy (build_distribution3).
source bench/distribution3.sh

APT_PACKAGES="docker-registry wrk"
# The ui phase opens the dashboard in Debian's chromium.
case ",${BENCH_ONLY:-ui}," in
  *,ui,*) APT_PACKAGES="$APT_PACKAGES chromium" ;;
esac

# A daemon the package started (init script or systemd unit) would sit on port 5000 for nothing:
# stop it. We never use it; the benchmark runs its own instance with a private config.
stop_packaged_service() {
  if [ -d /run/systemd/system ] && systemctl is-active --quiet docker-registry.service 2>/dev/null; then
    log "stopping the packaged docker-registry.service"
    systemctl stop docker-registry.service || true
    [ "${1:-}" = installed ] && systemctl disable docker-registry.service >/dev/null 2>&1 || true
  fi
  local pidfile=/var/run/docker-registry.pid
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    log "stopping the packaged docker-registry daemon (pid $(cat "$pidfile"))"
    /etc/init.d/docker-registry stop >/dev/null 2>&1 || true
  fi
}

install_packages() {
  local missing=() p
  for p in $APT_PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    stop_packaged_service
    return 0
  fi
  if [ "$(id -u)" != 0 ]; then
    log "missing packages (${missing[*]}) and not root: run as root or install them first"
    exit 1
  fi
  log "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Keep maintainer scripts from starting services (invoke-rc.d asks policy-rc.d; 101 = "no").
  local policy_made=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    policy_made=1
  fi
  local ok=
  apt-get -o DPkg::Lock::Timeout=120 install -y -q --no-install-recommends "${missing[@]}" >"$WORK/apt.log" 2>&1 && ok=1
  if [ -z "$ok" ]; then
    log "install failed; apt-get update and retry"
    apt-get -o DPkg::Lock::Timeout=120 update -q >>"$WORK/apt.log" 2>&1 || true
    apt-get -o DPkg::Lock::Timeout=120 install -y -q --no-install-recommends "${missing[@]}" >>"$WORK/apt.log" 2>&1 && ok=1
  fi
  [ -n "$policy_made" ] && rm -f /usr/sbin/policy-rc.d
  if [ -z "$ok" ]; then
    log "apt-get install failed:"
    tail -5 "$WORK/apt.log" >&2
    exit 1
  fi
  stop_packaged_service installed
}

WORK=$(mktemp -d "${BENCH_WORK_DIR:-/tmp}/opencloud-bench.XXXXXX")
cleanup() {
  # Registries the benchmark started and could not stop itself (it was killed): only those whose
  # command line names this work dir, so a recycled pid is never hit.
  if [ -f "$WORK/server.pids" ]; then
    local p
    while read -r p; do
      if tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline" | grep -qF "$WORK"; then
        log "stopping leftover registry pid $p"
        kill "$p" 2>/dev/null || true
      fi
    done <"$WORK/server.pids"
  fi
  if [ -n "${BENCH_KEEP:-}" ]; then log "work dir kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

install_packages
case ",${BENCH_SERVERS:-distribution3}," in
  *,distribution3,*) build_distribution3 ;;
esac

if [ -z "${BENCH_SKIP_BUILD:-}" ]; then
  log "npm run build"
  npm run -s build
fi

# The benchmark is TypeScript, typechecked with the rest of the project (tsconfig.json includes
# bench/); here it is compiled with the project's own tsc into the work dir, nothing new installed.
log "compiling bench/registry.ts"
npx tsc -p bench/tsconfig.json --outDir "$WORK/js"
echo '{"type":"module"}' >"$WORK/js/package.json"

export BENCH_WORK="$WORK"
export BENCH_OPENCLOUD_BIN="${BENCH_OPENCLOUD_BIN:-$PWD/bin/opencloud.js}"
export BENCH_DISTRIBUTION_BIN="${BENCH_DISTRIBUTION_BIN:-$(command -v docker-registry)}"
export BENCH_WRK="${BENCH_WRK-$(command -v wrk || true)}"
export BENCH_SKOPEO="${BENCH_SKOPEO-$(command -v skopeo || true)}"
# crane is not packaged: the test setup (scripts/test-env) builds it into its bin cache.
CRANE_DEFAULT=$(command -v crane || true)
if [ -z "$CRANE_DEFAULT" ] && [ -x /var/cache/opencloud-test/bin/crane ]; then
  CRANE_DEFAULT=/var/cache/opencloud-test/bin/crane
fi
export BENCH_CRANE="${BENCH_CRANE-$CRANE_DEFAULT}"
node "$WORK/js/registry.js"

# Builds and the installer are measured on this machine's own BuildKit and installed service, so
# they run only where those exist (the test setup, or `opencloud services enable container-registry`):
# the cached build through our API against the same buildctl command (bench/build.sh), and the
# no-op re-run of the installer (bench/installer.sh, given that install's options in
# BENCH_INSTALLER_ARGS). Not in --quick mode or when BENCH_ONLY picks registry phases.
if [ -z "${BENCH_QUICK:-}" ] && [ -z "${BENCH_ONLY:-}" ]; then
  # The installer puts buildctl in /usr/local/bin; the test setup keeps its own in its bin cache.
  command -v buildctl >/dev/null || [ ! -x /var/cache/opencloud-test/bin/buildctl ] ||
    export PATH="/var/cache/opencloud-test/bin:$PATH"
  if command -v buildctl >/dev/null && buildctl --addr unix:///run/buildkit/buildkitd.sock debug workers >/dev/null 2>&1; then
    log "builds: bench/build.sh"
    BENCH_SKIP_BUILD=1 bash bench/build.sh || log "builds: bench/build.sh failed (see above)"
  else
    log "builds: not measured (no BuildKit answering on /run/buildkit/buildkitd.sock, or no buildctl on PATH)"
  fi
  if [ -n "${BENCH_INSTALLER_ARGS:-}" ]; then
    log "installer: bench/installer.sh $BENCH_INSTALLER_ARGS"
    # shellcheck disable=SC2086 # the options are words, as on a command line
    bash bench/installer.sh $BENCH_INSTALLER_ARGS || log "installer: bench/installer.sh failed (see above)"
  else
    log "installer: not measured (set BENCH_INSTALLER_ARGS to the installed service's options, e.g. --data-dir DIR --init direct --source go)"
  fi
fi
