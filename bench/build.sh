#!/usr/bin/env bash
# Build benchmark (bench/build.ts): our build API against the same buildctl command run directly,
# on the BuildKit daemon of this machine. Needs buildkitd and containerd running (the test setup
# or `opencloud services enable container-registry` brings them), skopeo, and a busybox OCI layout
# (the test setup makes one; or set BENCH_BASE_LAYOUT).   BENCH_BUILD_RUNS=10 bash bench/build.sh
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=$(mktemp -d /tmp/opencloud-build-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
[ -n "${BENCH_SKIP_BUILD:-}" ] || npm run -s build
npx tsc -p bench/tsconfig.build.json --outDir "$WORK/js"
echo '{"type":"module"}' >"$WORK/js/package.json"
BENCH_WORK="$WORK" BENCH_OPENCLOUD_BIN="$PWD/bin/opencloud.js" node "$WORK/js/build.js"
