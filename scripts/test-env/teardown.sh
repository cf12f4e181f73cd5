#!/usr/bin/env bash
# Undoes setup.sh's runtime: stops its dockerd, disables the container-registry service it enabled (the installer
# stops the daemons it started and removes exactly what it put on this machine), and stops
# daemons an older setup.sh started by hand, PostgreSQL and SeaweedFS. Logs stay in RUN_DIR.
# Usage: teardown.sh RUN_DIR
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
RUN_DIR=$1
# dockerd first: it runs on the installer's containerd.
bash "$here/docker.sh" --stop "$RUN_DIR" || echo "teardown: stopping dockerd failed" >&2
if [ -d "$RUN_DIR/installer-data" ]; then
  node "$here/../../bin/opencloud.js" services disable container-registry --yes \
    --data-dir "$RUN_DIR/installer-data" >"$RUN_DIR/installer-disable.log" 2>&1 </dev/null \
    || echo "teardown: disable failed, see $RUN_DIR/installer-disable.log" >&2
fi
bash "$here/postgres.sh" --stop "$RUN_DIR" >/dev/null || echo "teardown: stopping PostgreSQL failed" >&2
bash "$here/seaweedfs.sh" --stop "$RUN_DIR" >/dev/null || echo "teardown: stopping SeaweedFS failed" >&2
stop_pid buildkitd "$RUN_DIR/buildkitd.pid"
stop_pid containerd "$RUN_DIR/containerd.pid"
exit 0
