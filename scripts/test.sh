#!/usr/bin/env bash
# The whole test suite, from a fresh clone (the README's second command; CI runs it too):
# installs npm dependencies, brings up real containerd and buildkitd, runs every test, and
# stops the daemons again even when tests fail. Exit status: the test runner's.
set -uo pipefail
cd "$(dirname "$0")/.."

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[test] npm ci" >&2
  npm ci --no-audit --no-fund || exit 1
else
  npm run --silent build || exit 1
fi

echo "[test] typecheck, lint, format" >&2
npm run --silent typecheck && npx eslint . && npx prettier --check --log-level warn . || exit 1

RUN_DIR=${OPENCLOUD_TEST_RUN_DIR:-$(mktemp -d /tmp/opencloud-test.XXXXXX)}
started=$SECONDS
# Teardown writes to a file so the test runner's summary stays the last line of the output.
trap 'bash scripts/test-env/teardown.sh "$RUN_DIR" >>"$RUN_DIR/teardown.log" 2>&1' EXIT
bash scripts/test-env/setup.sh "$RUN_DIR"
echo "[test] environment ready in $((SECONDS - started)) s; daemon logs are kept in $RUN_DIR" >&2

export OPENCLOUD_TEST_ENV="$RUN_DIR/env.json"
npx vitest run "$@"
