#!/usr/bin/env bash
# A throwaway S3-compatible server for the S3 BlobStore tests: SeaweedFS (`weed`), built once with
# `go install` from the Go module proxy into $BIN_CACHE (cached, with a .version file beside it, as
# setup.sh does for the other Go tools), then started as one process on loopback with signed S3
# requests (an identities file with one access key), its data, log and pid in RUN_DIR.
# Usage: seaweedfs.sh RUN_DIR          start; prints ONE line on stdout: the JSON connection
#                                       details, or a one-line reason (exit 1)
#        seaweedfs.sh --stop RUN_DIR   stop it (harmless when nothing runs)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

WEED_MODULE=github.com/seaweedfs/seaweedfs
WEED_PKG=$WEED_MODULE/weed
WEED_VERSION=v0.0.0-20261109003541-7506e5f91cd6
BUCKET=opencloud-test
REGION=us-east-1
READY_SECONDS=90

# fail REASON: the one stdout line the caller reads, then exit 1.
fail() { printf '%s\n' "$1"; exit 1; }

# is_weed PID: PID runs our weed binary (a stale pid file may name a reused pid).
is_weed() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q '/weed server '; }

# stop_weed RUN_DIR: SIGTERM to weed's process group (it was started with setsid, so that is weed
# and any children), up to 5 s to exit, then SIGKILL. `weed server` stops its volume server and
# filer on SIGTERM but (this version) never exits: the data is throwaway, so it is not waited for.
stop_weed() {
  local pidfile="$1/seaweedfs.pid" pid
  pid=$(cat "$pidfile" 2>/dev/null)
  if is_weed "$pid"; then
    log "stopping seaweedfs (pid $pid)"
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 25); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then
      log "seaweedfs did not exit 5 s after SIGTERM: SIGKILL"
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
      for _ in $(seq 1 25); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    fi
  fi
  rm -f "$pidfile"
}

if [ "${1:-}" = --stop ]; then
  [ -n "${2:-}" ] || { echo "usage: seaweedfs.sh --stop RUN_DIR" >&2; exit 2; }
  stop_weed "$2"
  exit 0
fi

RUN_DIR=${1:?usage: seaweedfs.sh RUN_DIR | seaweedfs.sh --stop RUN_DIR}
mkdir -p "$RUN_DIR" || fail "cannot create $RUN_DIR"
WEED="$BIN_CACHE/weed"

# build_weed: `go install` into a scratch GOBIN on the same file system, then renamed: never a
# half-written binary. Niced: the build takes minutes of both cores of a shared machine.
build_weed() {
  local want="$WEED_PKG@$WEED_VERSION" build_log="$RUN_DIR/go-build-seaweedfs.log" started=$SECONDS tmp
  if [ -x "$WEED" ] && [ "$(cat "$WEED.version" 2>/dev/null)" = "$want" ]; then
    log "seaweedfs $WEED_VERSION cached in $WEED"; return 0
  fi
  command -v go >/dev/null || fail "the Go toolchain is not installed (needed to build $want)"
  log "building seaweedfs $WEED_VERSION with go install (first run only, several minutes; log: $build_log)"
  # `go install PKG@VERSION` refuses modules whose go.mod has replace directives, as SeaweedFS's
  # does; so the exact module version is fetched from the proxy and installed as the main module.
  local src
  src=$(go mod download -json "$WEED_MODULE@$WEED_VERSION" 2>"$build_log" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
  [ -d "$src" ] || { tail -5 "$build_log" >&2; fail "go mod download $WEED_MODULE@$WEED_VERSION failed (see $build_log)"; }
  if mkdir -p "$BIN_CACHE" && tmp=$(mktemp -d "$BIN_CACHE/.build-weed.XXXXXX") \
    && (cd "$src" && GOBIN="$tmp" CGO_ENABLED=0 GOFLAGS=-buildvcs=false nice -n 10 go install ./weed) >>"$build_log" 2>&1 </dev/null \
    && rm -f "$WEED.version" && mv -f "$tmp/weed" "$WEED" \
    && printf '%s\n' "$want" >"$WEED.version"; then
    rm -rf "$tmp"
    log "built seaweedfs $WEED_VERSION in $((SECONDS - started)) s ($(du -h "$WEED" | cut -f1))"
    return 0
  fi
  [ -n "${tmp:-}" ] && rm -rf "$tmp"
  tail -5 "$build_log" >&2
  fail "go install $want failed after $((SECONDS - started)) s (see $build_log)"
}

# free_ports N: N distinct TCP ports free on 127.0.0.1 right now (the kernel's choice).
free_ports() {
  node -e '
    const net = require("node:net");
    const servers = [];
    (async () => {
      for (let i = 0; i < Number(process.argv[1]); i++) {
        const s = net.createServer();
        await new Promise((ok, fail) => { s.once("error", fail); s.listen(0, "127.0.0.1", ok); });
        servers.push(s);
      }
      console.log(servers.map((s) => s.address().port).join(" "));
      servers.forEach((s) => s.close());
    })().catch((e) => { console.error(e.message); process.exit(1); });
  ' "$1"
}

# s3 METHOD PATH: a request signed with the test identity (SigV4); prints the HTTP status. The
# credentials go to curl on stdin, never on its command line.
s3() {
  printf 'user = "%s:%s"\n' "$ACCESS_KEY" "$SECRET_KEY" \
    | curl -sS -o /dev/null -w '%{http_code}' -K - --max-time 10 --aws-sigv4 "aws:amz:$REGION:s3" \
      -X "$1" "$ENDPOINT$2" 2>/dev/null
}
s3_answers() { [ "$(s3 GET /)" = 200 ]; }
bucket_ready() { [ "$(s3 HEAD "/$BUCKET")" = 200 ]; }

build_weed

# One instance per RUN_DIR, on fresh data: a previous one is stopped first.
stop_weed "$RUN_DIR"
data="$RUN_DIR/seaweedfs"
rm -rf "$data" && mkdir -p "$data" || fail "cannot create $data"
read -r master_port master_grpc volume_port volume_grpc filer_port filer_grpc s3_port s3_grpc \
  < <(free_ports 8) && [ -n "$s3_grpc" ] || fail "could not find free ports on 127.0.0.1"
ENDPOINT="http://127.0.0.1:$s3_port"
ACCESS_KEY="opencloud-test-$(od -An -tx1 -N6 /dev/urandom | tr -d ' \n')"
SECRET_KEY=$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')
# The identity that signs every request: anonymous requests are refused.
identities="$data/s3-identities.json"
(umask 077 && cat >"$identities" <<JSON
{
  "identities": [
    {
      "name": "opencloud-test",
      "credentials": [{ "accessKey": "$ACCESS_KEY", "secretKey": "$SECRET_KEY" }],
      "actions": ["Admin", "Read", "List", "Tagging", "Write"]
    }
  ]
}
JSON
) || fail "cannot write $identities"

log "starting seaweedfs: S3 on $ENDPOINT (log: $RUN_DIR/seaweedfs.log)"
# Master, volume server, filer and S3 gateway in one process; the Iceberg and Lance listeners
# and telemetry off. setsid: its own process group, which --stop signals as a whole.
setsid "$WEED" server -ip=127.0.0.1 -ip.bind=127.0.0.1 -dir="$data" \
  -master.port="$master_port" -master.port.grpc="$master_grpc" -master.telemetry=false \
  -master.volumeSizeLimitMB=512 -volume.max=0 \
  -volume.port="$volume_port" -volume.port.grpc="$volume_grpc" -volume.preStopSeconds=0 \
  -filer -filer.port="$filer_port" -filer.port.grpc="$filer_grpc" \
  -s3 -s3.port="$s3_port" -s3.port.grpc="$s3_grpc" -s3.port.iceberg=0 -s3.port.lance=0 \
  -s3.config="$identities" >"$RUN_DIR/seaweedfs.log" 2>&1 </dev/null &
pid=$!
echo "$pid" >"$RUN_DIR/seaweedfs.pid"

# given_up REASON: stops what was started, then fails with REASON.
given_up() {
  tail -5 "$RUN_DIR/seaweedfs.log" >&2
  stop_weed "$RUN_DIR"
  fail "$1 (see $RUN_DIR/seaweedfs.log)"
}
# wait_weed WHAT SECONDS COMMAND...: polls COMMAND like lib.sh's wait_for, but gives up at once
# when weed has exited (a bad flag or a taken port) instead of waiting out the deadline.
wait_weed() {
  local what=$1 seconds=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@"; do
    kill -0 "$pid" 2>/dev/null || given_up "seaweedfs exited while waiting for $what"
    [ "$SECONDS" -lt "$deadline" ] || given_up "seaweedfs: no $what within $seconds s"
    sleep 0.2
  done
}
started=$SECONDS
wait_weed "answer to signed S3 requests on $ENDPOINT" "$READY_SECONDS" s3_answers
# The filer may still be connecting to the master: creating the bucket is retried until it holds.
create_bucket() { case "$(s3 PUT "/$BUCKET")" in 200 | 409) bucket_ready ;; *) return 1 ;; esac; }
wait_weed "bucket $BUCKET" 30 create_bucket
kill -0 "$pid" 2>/dev/null || given_up "seaweedfs exited"
log "seaweedfs ready in $((SECONDS - started)) s (pid $pid)"
printf '{"endpoint":"%s","bucket":"%s","region":"%s","accessKeyId":"%s","secretAccessKey":"%s"}\n' \
  "$ENDPOINT" "$BUCKET" "$REGION" "$ACCESS_KEY" "$SECRET_KEY"
