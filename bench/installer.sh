#!/usr/bin/env bash
# Installer benchmark: the time of a no-op re-run (`changed=0`) of
# `opencloud services enable container-registry` on a host where the service is installed.
# Run it where the test setup (or you) enabled the service; pass that install's data dir and
# options. Figures only, nothing asserted.
#   bash bench/installer.sh --data-dir /tmp/opencloud-test.XXXX/installer-data --init direct --source go
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${BENCH_RUNS:-5}
times=()
for i in $(seq "$RUNS"); do
  start=$(date +%s%N)
  out=$(node bin/opencloud.js services enable container-registry --yes "$@" 2>&1) || { echo "$out" >&2; exit 1; }
  end=$(date +%s%N)
  recap=$(printf '%s\n' "$out" | tail -1)
  case "$recap" in *" changed=0 failed=0 "*) ;; *) echo "run $i changed the host ($recap): not a no-op" >&2; exit 1 ;; esac
  times+=($(( (end - start) / 1000000 )))
done
sorted=$(printf '%s\n' "${times[@]}" | sort -n)
median=$(printf '%s\n' "$sorted" | sed -n "$(( (RUNS + 1) / 2 ))p")
echo "[bench] no-op enable, $RUNS runs: median ${median} ms (all: ${times[*]} ms); last: $recap"
