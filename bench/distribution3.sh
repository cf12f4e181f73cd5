# Distribution v3.1.1 for the benchmarks (sourced by run.sh and scale-out.sh, which define log()
# and WORK): built once from the Go module proxy into the bench cache and kept there.
DIST3_VERSION=v3.1.1
DIST3_DIR="${BENCH_CACHE_DIR:-/var/cache/opencloud-bench}/distribution-$DIST3_VERSION"

# Distribution v3 is not packaged: build it once from the Go module proxy and keep the binary. The
# build goes to a temporary GOBIN first, so a failed or interrupted build never leaves a binary
# that looks cached. On failure the benchmark runs with the 2.8.2 peer only and says why.
build_distribution3() {
  if [ -n "${BENCH_DISTRIBUTION3_BIN:-}" ]; then return 0; fi
  if [ -x "$DIST3_DIR/registry" ]; then
    export BENCH_DISTRIBUTION3_BIN="$DIST3_DIR/registry"
    return 0
  fi
  if ! command -v go >/dev/null 2>&1; then
    export BENCH_DISTRIBUTION3_WHY="no Go toolchain to build distribution $DIST3_VERSION"
    log "$BENCH_DISTRIBUTION3_WHY"
    return 0
  fi
  log "building distribution $DIST3_VERSION into $DIST3_DIR (once; about a minute)"
  local tmp
  tmp=$(mktemp -d "$WORK/dist3-build.XXXXXX")
  if CGO_ENABLED=0 GOBIN="$tmp" go install "github.com/distribution/distribution/v3/cmd/registry@$DIST3_VERSION" >"$WORK/dist3-build.log" 2>&1 &&
    mkdir -p "$DIST3_DIR" && mv "$tmp/registry" "$DIST3_DIR/registry"; then
    export BENCH_DISTRIBUTION3_BIN="$DIST3_DIR/registry"
  else
    BENCH_DISTRIBUTION3_WHY="go install of distribution $DIST3_VERSION failed: $(tail -1 "$WORK/dist3-build.log")"
    export BENCH_DISTRIBUTION3_WHY
    log "$BENCH_DISTRIBUTION3_WHY"
    tail -5 "$WORK/dist3-build.log" >&2
  fi
  rm -rf "$tmp"
}
