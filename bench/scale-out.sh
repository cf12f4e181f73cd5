#!/usr/bin/env bash
# Scale-out benchmark: our registry on S3 (SeaweedFS) + PostgreSQL against our registry on its
# embedded defaults (filesystem + SQLite) and against Distribution v3.1.1 with its S3 driver on the
# same SeaweedFS, side by side on this machine, driven by the same client code as bench/run.sh
# (bench/scale-out.ts and the modules it imports). See bench/README.md, "S3 and PostgreSQL against
# the embedded defaults".
#
#   bash bench/scale-out.sh            # as root: everything (about 6 minutes on 2 cores)
#   bash bench/scale-out.sh --quick    # small sizes, one run: about a minute, the same table
#   BENCH_RUNS=1 BENCH_ONLY=upload,download bash bench/scale-out.sh
#
# Steps: build dist/ (BENCH_SKIP_BUILD=1 skips it) and Distribution v3.1.1 once (bench/distribution3.sh;
# without it the run goes on with our two nodes and says why), compile the benchmark with the project's tsc,
# start a private PostgreSQL and SeaweedFS for this run (scripts/test-env/postgres.sh and
# seaweedfs.sh, in the run dir), create a fresh database, run the benchmark, stop both at exit.
# Results: a table on stdout, JSON in RUN_DIR/results.json and in $BENCH_RESULTS_DIR
# (default /tmp/opencloud-bench-results). The run dir keeps the JSON and the logs; the data (blobs,
# database, bucket) is deleted at exit unless BENCH_KEEP=1.
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

if [ "$(id -u)" != 0 ]; then
  log "run as root: the private PostgreSQL runs as the postgres OS user (scripts/test-env/postgres.sh)"
  exit 1
fi

RUN=$(mktemp -d "${BENCH_WORK_DIR:-/tmp}/opencloud-scale-out.XXXXXX")
WORK="$RUN/work"
mkdir -p "$WORK"
status=1
cleanup() {
  # Registries the benchmark started and could not stop itself (it was killed): only those whose
  # command line names this run dir, so a recycled pid is never hit.
  if [ -f "$WORK/server.pids" ]; then
    local p
    while read -r p; do
      if tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline" | grep -qF "$RUN"; then
        log "stopping leftover registry pid $p"
        kill "$p" 2>/dev/null || true
      fi
    done <"$WORK/server.pids"
  fi
  bash scripts/test-env/seaweedfs.sh --stop "$RUN" || true
  bash scripts/test-env/postgres.sh --stop "$RUN" || true
  if [ -n "${BENCH_KEEP:-}" ]; then
    log "run dir kept with all data: $RUN"
    return
  fi
  # The data goes; the JSON and the logs stay (the registries' logs only when the run failed).
  rm -rf "$RUN/postgres" "$RUN/seaweedfs" "$RUN/js" "$RUN/tsconfig.json" "$WORK"/*-data "$WORK"/*.env \
    "$WORK/warm-pages.tmp"
  [ "$status" = 0 ] && rm -rf "$WORK"
  log "run dir (JSON and logs): $RUN"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "${BENCH_SKIP_BUILD:-}" ]; then
  log "npm run build"
  npm run -s build
fi
source bench/distribution3.sh
build_distribution3

# The benchmark is TypeScript, typechecked with the rest of the project (tsconfig.json includes
# bench/); compiled here with the project's own tsc, as run.sh does, through a tsconfig in the run
# dir that extends bench/tsconfig.json with this entry point (and finds @types/node in the checkout,
# which tsc would otherwise look for beside that tsconfig).
log "compiling bench/scale-out.ts"
printf '{ "extends": "%s/bench/tsconfig.json", "include": ["%s/bench/scale-out.ts"],
  "compilerOptions": { "typeRoots": ["%s/node_modules/@types"] } }\n' "$PWD" "$PWD" "$PWD" >"$RUN/tsconfig.json"
npx tsc -p "$RUN/tsconfig.json" --outDir "$RUN/js"
echo '{"type":"module"}' >"$RUN/js/package.json"

# The engines, private to this run: each script prints one line, the connection (or why not).
log "starting PostgreSQL and SeaweedFS in $RUN"
if ! PG_URL=$(bash scripts/test-env/postgres.sh "$RUN"); then
  log "PostgreSQL did not start: $PG_URL"
  exit 1
fi
if ! S3_JSON=$(bash scripts/test-env/seaweedfs.sh "$RUN"); then
  log "SeaweedFS did not start: $S3_JSON"
  exit 1
fi
DB="oc_bench_$(od -An -tx1 -N5 /dev/urandom | tr -d ' \n')"
psql "$PG_URL" -v ON_ERROR_STOP=1 -qc "create database $DB" >/dev/null
export BENCH_POSTGRES_URL="${PG_URL%/*}/$DB"
export BENCH_POSTGRES_VERSION
BENCH_POSTGRES_VERSION=$(psql "$PG_URL" -tAc 'show server_version')
export BENCH_POSTGRES_PID
BENCH_POSTGRES_PID=$(head -1 "$RUN/postgres/postmaster.pid")
export BENCH_S3_JSON="$S3_JSON"
export BENCH_SEAWEEDFS_PID
BENCH_SEAWEEDFS_PID=$(cat "$RUN/seaweedfs.pid")
export BENCH_SEAWEEDFS_VERSION
BENCH_SEAWEEDFS_VERSION=$("$(readlink "/proc/$BENCH_SEAWEEDFS_PID/exe")" version 2>/dev/null | head -1 || true)
export BENCH_COMMIT
BENCH_COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- src bin package.json 2>/dev/null || BENCH_COMMIT="$BENCH_COMMIT (with uncommitted changes in src/)"

export BENCH_RUN_DIR="$RUN"
export BENCH_WORK="$WORK"
export BENCH_OPENCLOUD_BIN="${BENCH_OPENCLOUD_BIN:-$PWD/bin/opencloud.js}"
# The small-request phase with 100 concurrent connections, like the pull phase's 100 clients; no
# wrk (the node client's HEAD and GET are the rows compared here).
export BENCH_CONCURRENCY="${BENCH_CONCURRENCY:-100}"
export BENCH_WRK=
node "$RUN/js/scale-out.js"
status=0
