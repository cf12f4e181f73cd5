#!/usr/bin/env bash
# Stops the daemons setup.sh started (and only those), newest first. Logs stay in RUN_DIR.
# Usage: teardown.sh RUN_DIR
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
RUN_DIR=$1
stop_pid buildkitd "$RUN_DIR/buildkitd.pid"
stop_pid containerd "$RUN_DIR/containerd.pid"
exit 0
