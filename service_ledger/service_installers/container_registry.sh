#!/bin/sh
# Seed-compatible entry point of the Container Registry service installer. The work is done by
# `opencloud services enable container-registry` (TypeScript): this wrapper only finds node and
# the checkout, passes every argument through, and keeps the seed's [INFO]/[SUCCESS]/[ERROR]
# markers and exit status. Example: container_registry.sh --source tarball --tarball F --sha256 H
set -u
root=$(CDPATH= cd -- "$(dirname -- "$0")/../.." && pwd)
cli="$root/bin/opencloud.js"

if ! command -v node >/dev/null 2>&1; then
  echo "[ERROR] node (Node.js 20 or newer) is not installed; it runs the OpenCloud installer" >&2
  exit 69
fi
if [ ! -f "$root/dist/cli/main.js" ]; then
  echo "[ERROR] $root is not built: run 'npm ci' in it first" >&2
  exit 69
fi

echo "[INFO] Enabling the Container Registry service: containerd (apt) and BuildKit v0.16.0"
# exec: the installer's own output ends with its recap line, and its exit status is ours.
exec node "$cli" services enable container-registry --yes "$@"
