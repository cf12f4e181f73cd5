#!/usr/bin/env bash
# The whole test suite, from a fresh clone (the README's second command; CI runs it too):
# installs npm dependencies, brings up real containerd and buildkitd, runs every test, and
# stops the daemons again even when tests fail. Exit status: the test runner's.
#
#   bash scripts/test.sh                 # everything
#   bash scripts/test.sh test/e2e/x.ts   # some test files (no benchmark run)
#   bash scripts/test.sh --from-scratch  # everything, after removing every cache the setup keeps
#
# --from-scratch is what a machine that never ran the suite sees: it deletes node_modules, npm's
# cache, Go's module and build caches and /var/cache/opencloud-{test,bench} (tools built from the
# Go proxy, the systemd host's root file system, the base images, Distribution for the bench), so
# everything is fetched and built again. It slows every later run on this machine until the caches
# are back (README: Tests).
set -uo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = --from-scratch ]; then
  shift
  echo "[test] from scratch: removing node_modules, npm's and Go's caches, /var/cache/opencloud-{test,bench}" >&2
  rm -rf node_modules /var/cache/opencloud-test /var/cache/opencloud-bench
  npm cache clean --force >/dev/null 2>&1 || true
  if command -v go >/dev/null 2>&1; then go clean -cache -modcache >/dev/null 2>&1 || true; fi
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[test] npm ci" >&2
  npm ci --no-audit --no-fund || exit 1
else
  npm run --silent build || exit 1
fi

echo "[test] typecheck, lint, format" >&2
npm run --silent typecheck && npx eslint . && npx prettier --check --log-level warn . || exit 1

RUN_DIR=${OPENCLOUD_TEST_RUN_DIR:-$(mktemp -d /tmp/opencloud-test.XXXXXX)}

# The benchmark harness in its quick mode, so it never rots: it must run end to end against both
# Distribution peers; its figures are printed to a log and never judged. Skipped when only some
# tests are asked for, or with OPENCLOUD_SKIP_BENCH=1.
if [ $# -eq 0 ] && [ "${OPENCLOUD_SKIP_BENCH:-}" != 1 ]; then
  echo "[test] bench/run.sh --quick (log: $RUN_DIR/bench-quick.log)" >&2
  if ! BENCH_SKIP_BUILD=1 bash bench/run.sh --quick >"$RUN_DIR/bench-quick.log" 2>&1; then
    tail -40 "$RUN_DIR/bench-quick.log" >&2
    echo "[test] the benchmark harness failed (see above)" >&2
    exit 1
  fi
  grep -E '^took ' "$RUN_DIR/bench-quick.log" | sed 's/^/[test] bench quick: /' >&2
fi

started=$SECONDS
# Teardown writes to a file so the test runner's summary stays the last line of the output.
trap 'bash scripts/test-env/teardown.sh "$RUN_DIR" >>"$RUN_DIR/teardown.log" 2>&1' EXIT
bash scripts/test-env/setup.sh "$RUN_DIR"
echo "[test] environment ready in $((SECONDS - started)) s; daemon logs are kept in $RUN_DIR" >&2

export OPENCLOUD_TEST_ENV="$RUN_DIR/env.json"
npx vitest run "$@"
