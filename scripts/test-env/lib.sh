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

# apt_uri SUITE: the first URI this machine's apt fetches SUITE's main component from, read from
# sources.list and sources.list.d (one-line and deb822 files alike; disabled entries skipped).
apt_uri() {
  local files=() f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && files+=("$f")
  done
  [ ${#files[@]} -gt 0 ] || return 1
  awk -v suite="$1" '
    function has(list, word,   n, a, i) { n = split(list, a, /[ \t]+/); for (i = 1; i <= n; i++) if (a[i] == word) return 1; return 0 }
    function stanza() {
      if (types != "" && has(types, "deb") && has(suites, suite) && has(comps, "main") && tolower(enabled) != "no" && uris != "") {
        split(uris, u, /[ \t]+/); print u[1]; found = 1; exit
      }
      types = uris = suites = comps = enabled = ""
    }
    FNR == 1 { stanza() }
    FILENAME ~ /\.sources$/ {
      if ($0 ~ /^[ \t]*$/) { stanza(); next }
      if ($0 ~ /^#/) next
      key = tolower($1); sub(/:$/, "", key); val = $0; sub(/^[^:]*:[ \t]*/, "", val)
      if (key == "types") types = val; else if (key == "uris") uris = val
      else if (key == "suites") suites = val; else if (key == "components") comps = val
      else if (key == "enabled") enabled = val
      next
    }
    {
      line = $0; sub(/#.*/, "", line); gsub(/\[[^]]*\]/, "", line)
      n = split(line, w, /[ \t]+/); i = 1; if (w[1] == "") i = 2
      if (w[i] == "deb" && w[i + 2] == suite) { rest = ""; for (j = i + 3; j <= n; j++) rest = rest " " w[j]
        if (has(rest, "main")) { print w[i + 1]; found = 1; exit } }
    }
    END { if (!found) stanza() }
  ' "${files[@]}" | head -1 | grep .
}

# remove_build_dir DIR: removes a debootstrap target. debootstrap mounts /proc and /sys inside it
# and may leave them when it fails: everything under DIR is unmounted first, deepest first, and
# nothing is removed while a mount remains.
remove_build_dir() {
  local dir=$1 m
  awk -v d="$dir/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null
  done
  if awk -v d="$dir/" 'index($2, d) == 1 { found = 1 } END { exit !found }' /proc/self/mounts; then
    log "mounts remain under $dir: not removing it"
  else
    rm -rf "$dir"
  fi
}
