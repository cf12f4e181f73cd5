# Shared helpers for the test environment scripts (sourced, not run).
# Everything slow is cached outside the checkout so a second run takes seconds.

: "${OPENCLOUD_TEST_CACHE:=/var/cache/opencloud-test}"
BIN_CACHE="$OPENCLOUD_TEST_CACHE/bin"
BUILDKIT_VERSION=v0.16.0
# The OCI conformance suite and the registry clients, built with `go install` into $BIN_CACHE.
CONFORMANCE_VERSION=v0.0.0-20260831232431-97274622c111
CRANE_VERSION=v0.22.1
REGCTL_VERSION=v0.11.7
ORAS_VERSION=v1.3.6
# One line each: component (its env.json key), binary name in $BIN_CACHE, Go package, version.
GO_TOOLS="
conformance oci-conformance github.com/opencontainers/distribution-spec/conformance $CONFORMANCE_VERSION
crane crane github.com/google/go-containerregistry/cmd/crane $CRANE_VERSION
regctl regctl github.com/regclient/regclient/cmd/regctl $REGCTL_VERSION
oras oras oras.land/oras/cmd/oras $ORAS_VERSION
"
CONTAINERD_SOCK=/run/containerd/containerd.sock
BUILDKIT_SOCK=/run/buildkit/buildkitd.sock
# containerd is not here: the installer under test installs it (install_runtime in setup.sh), and
# with it containernetworking-plugins, the network of build steps (podman brings it too).
# curl signs the S3 requests seaweedfs.sh makes (--aws-sigv4); iproute2 (ip) makes the host outside
# the build network that test/e2e/build-network.test.ts reaches.
APT_PACKAGES="runc skopeo podman busybox-static chromium curl iproute2"

log() { printf '[test-env] %s\n' "$*" >&2; }

is_root() { [ "$(id -u)" = 0 ]; }

# wait_for DESCRIPTION SECONDS COMMAND...: polls COMMAND until it succeeds or the deadline passes.
wait_for() {
  local what=$1 seconds=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then log "timed out after ${seconds}s waiting for $what"; return 1; fi
    sleep 0.2
  done
}

# stop_pid NAME PIDFILE: SIGTERM, wait up to 15 s, then SIGKILL.
stop_pid() {
  local name=$1 pidfile=$2 pid
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 75); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then log "$name did not stop in 15 s: SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; fi
  fi
  rm -f "$pidfile"
}
