#!/usr/bin/env bash
# Brings up what the integration tests need, on a fresh machine as root:
#   apt packages, BuildKit v0.16.0 built from the Go module proxy (cached), containerd and
#   buildkitd (containerd worker only) installed and started by `opencloud services enable
#   container-registry --init direct --source go` (our installer, its log in $RUN_DIR), and the
#   registry clients crane, regctl and oras plus the OCI conformance suite (oci-conformance), each
#   built once with `go install` into $BIN_CACHE; skopeo and podman come from apt; and the cached root
#   file system of a systemd host for systemd-nspawn (systemd-host.sh); a private PostgreSQL cluster
#   (postgres.sh) and a SeaweedFS S3 server built from the Go module proxy (seaweedfs.sh); the Docker
#   engine (docker.sh) and the stand-ins for the node base images of OpenCloud's Dockerfile (node-base.sh).
# Writes $RUN_DIR/env.json saying which components are up, and for those that are not, why:
# the tests skip with that reason instead of passing silently.
# Usage: setup.sh RUN_DIR
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$here/../.." && pwd)
. "$here/lib.sh"
RUN_DIR=$1
mkdir -p "$RUN_DIR"

containerd_state=unavailable containerd_reason="" buildkit_state=unavailable buildkit_reason=""
skopeo_state=unavailable skopeo_reason="" podman_state=unavailable podman_reason=""
conformance_state=unavailable conformance_reason="" crane_state=unavailable crane_reason=""
regctl_state=unavailable regctl_reason="" oras_state=unavailable oras_reason=""
systemd_host_state=unavailable systemd_host_reason="" systemd_host_rootfs=""
installer_state=unavailable installer_reason=""
postgres_state=unavailable postgres_reason="" postgres_url=""
s3_state=unavailable s3_reason="" s3_json=""
docker_state=unavailable docker_reason="" docker_socket=""
node_base_state=unavailable node_base_reason="" node_base_dir=""

# The systemd host's root file system, built on the first run (about a minute) by its own script: a
# failure makes only this component unavailable, with the reason the script printed.
prepare_systemd_host() {
  local out
  if out=$(bash "$here/systemd-host.sh" "$RUN_DIR"); then
    systemd_host_state=available systemd_host_rootfs=$out
  else
    systemd_host_reason=${out:-"scripts/test-env/systemd-host.sh failed"}
  fi
}

# PostgreSQL (a private cluster of Debian's package) and SeaweedFS (S3, built from the Go module
# proxy) for the scale-out tests, each by its own script: a failure makes only that component
# unavailable, with the reason the script printed.
start_postgres() {
  local out
  if out=$(bash "$here/postgres.sh" "$RUN_DIR"); then postgres_state=available postgres_url=$out
  else postgres_reason=${out:-"scripts/test-env/postgres.sh failed"}; fi
  log "postgres: $postgres_state ${postgres_reason}"
}
start_s3() {
  local out
  if out=$(bash "$here/seaweedfs.sh" "$RUN_DIR"); then s3_state=available s3_json=$out
  else s3_reason=${out:-"scripts/test-env/seaweedfs.sh failed"}; fi
  log "s3 (seaweedfs): $s3_state ${s3_reason}"
}

# The Docker engine (docker.sh: Debian's docker.io, its own dockerd on the installer's containerd)
# and the stand-ins for the node base images OpenCloud's Dockerfile names (node-base.sh).
start_docker() {
  local out
  if out=$(bash "$here/docker.sh" "$RUN_DIR"); then docker_state=available docker_socket=$out
  else docker_reason=${out:-"scripts/test-env/docker.sh failed"}; fi
  log "docker engine: $docker_state ${docker_reason}"
}
prepare_node_base() {
  local out
  if out=$(bash "$here/node-base.sh" "$RUN_DIR"); then node_base_state=available node_base_dir=$out
  else node_base_reason=${out:-"scripts/test-env/node-base.sh failed"}; fi
}

install_apt() {
  local missing=()
  for p in $APT_PACKAGES; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && { log "apt packages present: $APT_PACKAGES"; return 0; }
  log "installing apt packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  local i
  for i in 1 2 3; do apt-get -o DPkg::Lock::Timeout=120 update -q >"$RUN_DIR/apt.log" 2>&1 && break; log "apt-get update failed (try $i)"; sleep 5; done
  apt-get -o DPkg::Lock::Timeout=120 install -y -q --no-install-recommends "${missing[@]}" >>"$RUN_DIR/apt.log" 2>&1 \
    || { log "apt-get install failed; see $RUN_DIR/apt.log"; tail -5 "$RUN_DIR/apt.log" >&2; return 1; }
}

build_buildkit() {
  if "$BIN_CACHE/buildkitd" --version 2>/dev/null | grep -q " $BUILDKIT_VERSION" \
    && "$BIN_CACHE/buildctl" --version 2>/dev/null | grep -q " $BUILDKIT_VERSION"; then
    log "buildkit $BUILDKIT_VERSION cached in $BIN_CACHE"; return 0
  fi
  command -v go >/dev/null || { buildkit_reason="the Go toolchain is not installed (needed to build buildkit $BUILDKIT_VERSION)"; return 1; }
  log "building buildkitd and buildctl $BUILDKIT_VERSION with go install (first run only, a few minutes)"
  mkdir -p "$BIN_CACHE"
  # The version is stamped the way release builds do, so `buildkitd --version` and the Info API report it.
  if ! GOBIN="$BIN_CACHE" CGO_ENABLED=0 GOFLAGS=-buildvcs=false go install \
      -ldflags "-X github.com/moby/buildkit/version.Version=$BUILDKIT_VERSION" \
      "github.com/moby/buildkit/cmd/buildkitd@$BUILDKIT_VERSION" "github.com/moby/buildkit/cmd/buildctl@$BUILDKIT_VERSION" \
      >"$RUN_DIR/go-build.log" 2>&1; then
    buildkit_reason="go install of buildkit $BUILDKIT_VERSION failed (see $RUN_DIR/go-build.log)"
    tail -5 "$RUN_DIR/go-build.log" >&2
    return 1
  fi
}

# go_tool_cached BINARY PACKAGE@VERSION: $BIN_CACHE/BINARY is there, and BINARY.version beside it
# says it was built from that version.
go_tool_cached() { [ -x "$BIN_CACHE/$1" ] && [ "$(cat "$BIN_CACHE/$1.version" 2>/dev/null)" = "$2" ]; }

# build_go_tool COMPONENT BINARY PACKAGE VERSION: `go install PACKAGE@VERSION` into $BIN_CACHE/BINARY,
# unless that version is cached. On failure it sets COMPONENT_reason and returns 1; nothing else stops.
build_go_tool() {
  local component=$1 bin=$2 pkg=$3 version=$4
  local want="$pkg@$version" build_log="$RUN_DIR/go-build-$component.log" started=$SECONDS tmp
  if go_tool_cached "$bin" "$want"; then log "$component $version cached in $BIN_CACHE/$bin"; return 0; fi
  command -v go >/dev/null || { printf -v "${component}_reason" '%s' "the Go toolchain is not installed (needed to build $want)"; return 1; }
  log "building $component $version with go install (first run only; log: $build_log)"
  local ldflags=()
  # The suite prints main.Version as its commit in its reports; go install leaves no VCS stamp.
  [ "$component" = conformance ] && ldflags=(-ldflags "-X main.Version=$version")
  # Built into a scratch GOBIN on the same file system, then renamed: never a half-written binary.
  if mkdir -p "$BIN_CACHE" && tmp=$(mktemp -d "$BIN_CACHE/.build-$bin.XXXXXX") \
    && GOBIN="$tmp" CGO_ENABLED=0 GOFLAGS=-buildvcs=false go install "${ldflags[@]}" "$want" >"$build_log" 2>&1 </dev/null \
    && rm -f "$BIN_CACHE/$bin.version" && mv -f "$tmp/${pkg##*/}" "$BIN_CACHE/$bin" \
    && printf '%s\n' "$want" >"$BIN_CACHE/$bin.version"; then
    rm -rf "$tmp"
    log "built $component $version in $((SECONDS - started)) s"
    return 0
  fi
  [ -n "${tmp:-}" ] && rm -rf "$tmp"
  printf -v "${component}_reason" '%s' "go install $want failed (see $build_log)"
  log "go install $want failed after $((SECONDS - started)) s; see $build_log"
  tail -5 "$build_log" >&2
  return 1
}

# Each Go tool on its own: one that fails to build is unavailable (with why), the others still come.
build_go_tools() {
  local component bin pkg version
  while read -r component bin pkg version; do
    [ -n "$component" ] || continue
    build_go_tool "$component" "$bin" "$pkg" "$version" && printf -v "${component}_state" available
  done <<<"$GO_TOOLS"
}

podman_works() { podman --version >/dev/null 2>&1; }
containerd_answers() { ctr --address "$CONTAINERD_SOCK" version; }
# Asked a few times over 20 s: on a loaded machine the first answer of a just-started daemon can
# be late (a CI run once marked BuildKit unavailable and skipped every build test for that).
buildkit_has_containerd_worker() {
  local i
  for i in $(seq 1 40); do
    "$BIN_CACHE/buildctl" --addr "unix://$BUILDKIT_SOCK" debug workers -v 2>>"$RUN_DIR/buildkit-check.log" \
      | grep -q 'executor:.*containerd' && return 0
    sleep 0.5
  done
  return 1
}

# containerd and BuildKit come the way a user gets them: our own installer enables the
# container-registry service, here in direct mode (no systemd) with BuildKit built from the Go
# module proxy. Its ledger lives in $RUN_DIR/installer-data; teardown.sh disables it again.
install_runtime() {
  log "opencloud services enable container-registry --init direct --source go (log: $RUN_DIR/installer.log)"
  if node "$REPO/bin/opencloud.js" services enable container-registry --init direct --source go --yes \
      --data-dir "$RUN_DIR/installer-data" >"$RUN_DIR/installer.log" 2>&1 </dev/null; then
    installer_state=available
    log "$(tail -1 "$RUN_DIR/installer.log")"
  else
    installer_reason="opencloud services enable container-registry failed: $(grep -m1 '^\[ERROR\]' "$RUN_DIR/installer.log") (see $RUN_DIR/installer.log)"
    tail -20 "$RUN_DIR/installer.log" >&2
  fi
  if containerd_answers >/dev/null 2>&1; then containerd_state=available
  else containerd_reason=${installer_reason:-"containerd does not answer on $CONTAINERD_SOCK"}; fi
  if buildkit_has_containerd_worker; then buildkit_state=available
  else buildkit_reason=${installer_reason:-"buildkitd lists no containerd worker on $BUILDKIT_SOCK"}; fi
}

if is_root; then
  if install_apt; then
    skopeo_state=available
    if podman_works; then podman_state=available; else podman_reason="podman is installed but \`podman --version\` fails"; fi
    # The Go-built binaries in $BIN_CACHE also make the release-shaped tarballs the installer tests use.
    if build_buildkit; then install_runtime; else containerd_reason=$buildkit_reason installer_reason=$buildkit_reason; fi
    # After the installer: docker.io depends on containerd, which the installer is to install itself.
    if [ "$containerd_state" = available ]; then start_docker; else docker_reason="containerd is not available: $containerd_reason"; fi
  else
    reason="apt-get install of $APT_PACKAGES failed (see $RUN_DIR/apt.log)"
    containerd_reason=$reason buildkit_reason=$reason skopeo_reason=$reason podman_reason=$reason
    installer_reason=$reason
  fi
  build_go_tools
  start_postgres
  start_s3
  prepare_systemd_host
  prepare_node_base
else
  reason="the test setup needs root to install packages and start daemons (running as uid $(id -u))"
  containerd_reason=$reason buildkit_reason=$reason skopeo_reason=$reason podman_reason=$reason
  systemd_host_reason=$reason installer_reason=$reason postgres_reason=$reason s3_reason=$reason
  docker_reason=$reason node_base_reason=$reason
  command -v skopeo >/dev/null && skopeo_state=available
  podman_works && podman_state=available
  containerd_answers >/dev/null 2>&1 && containerd_state=available
  buildkit_has_containerd_worker && buildkit_state=available
  while read -r component bin pkg version; do
    [ -n "$component" ] || continue
    if go_tool_cached "$bin" "$pkg@$version"; then printf -v "${component}_state" available
    else printf -v "${component}_reason" '%s' "$reason"; fi
  done <<<"$GO_TOOLS"
fi
[ "$containerd_state" = available ] || [ -n "$buildkit_reason" ] || buildkit_reason="containerd is not available: $containerd_reason"

json_str() { printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g'; }
# seaweedfs.sh printed its connection details as one JSON object: the state goes in front.
if [ "$s3_state" = available ]; then s3_entry=$(printf '%s' "$s3_json" | sed 's/^{/{ "state": "available", "reason": "", /')
else s3_entry="{ \"state\": \"unavailable\", \"reason\": \"$(json_str "$s3_reason")\" }"; fi
cat >"$RUN_DIR/env.json" <<JSON
{
  "runDir": "$RUN_DIR",
  "binDir": "$BIN_CACHE",
  "cacheDir": "$OPENCLOUD_TEST_CACHE",
  "components": {
    "containerd": { "state": "$containerd_state", "reason": "$(json_str "$containerd_reason")", "socket": "$CONTAINERD_SOCK" },
    "buildkit": { "state": "$buildkit_state", "reason": "$(json_str "$buildkit_reason")", "socket": "$BUILDKIT_SOCK" },
    "skopeo": { "state": "$skopeo_state", "reason": "$(json_str "$skopeo_reason")" },
    "podman": { "state": "$podman_state", "reason": "$(json_str "$podman_reason")" },
    "conformance": { "state": "$conformance_state", "reason": "$(json_str "$conformance_reason")" },
    "crane": { "state": "$crane_state", "reason": "$(json_str "$crane_reason")" },
    "regctl": { "state": "$regctl_state", "reason": "$(json_str "$regctl_reason")" },
    "oras": { "state": "$oras_state", "reason": "$(json_str "$oras_reason")" },
    "installer": { "state": "$installer_state", "reason": "$(json_str "$installer_reason")", "dataDir": "$RUN_DIR/installer-data", "log": "$RUN_DIR/installer.log" },
    "systemd-host": { "state": "$systemd_host_state", "reason": "$(json_str "$systemd_host_reason")", "rootfs": "$(json_str "$systemd_host_rootfs")" },
    "postgres": { "state": "$postgres_state", "reason": "$(json_str "$postgres_reason")", "url": "$(json_str "$postgres_url")" },
    "docker": { "state": "$docker_state", "reason": "$(json_str "$docker_reason")", "socket": "$(json_str "$docker_socket")" },
    "node-base": { "state": "$node_base_state", "reason": "$(json_str "$node_base_reason")", "dir": "$(json_str "$node_base_dir")" },
    "s3": $s3_entry
  }
}
JSON
log "components: containerd=$containerd_state buildkit=$buildkit_state skopeo=$skopeo_state podman=$podman_state" \
  "conformance=$conformance_state crane=$crane_state regctl=$regctl_state oras=$oras_state installer=$installer_state" \
  "systemd-host=$systemd_host_state postgres=$postgres_state s3=$s3_state docker=$docker_state" \
  "node-base=$node_base_state (env: $RUN_DIR/env.json)"
