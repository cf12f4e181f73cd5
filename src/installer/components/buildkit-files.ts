// The text of the files BuildKit runs from: its config and its systemd unit. Rendered from the
// options on every run and compared with the host, so new flags always reach the host.
import { BIN_DIR, buildkitdArgs, CONTAINERD_SOCKET } from './buildkit-pins.js';

const HEADER = '# Written by OpenCloud (opencloud services enable container-registry). Edits are replaced.\n';

export function buildkitdToml(registryHosts: string[]): string {
  const registries = registryHosts
    .map(
      (h) =>
        `\n# This registry, over plain HTTP (keyed exactly as image references name it).\n[registry."${h}"]\n  http = true\n`,
    )
    .join('');
  return (
    HEADER +
    `
[worker.oci]
  enabled = false

[worker.containerd]
  enabled = true
  address = "${CONTAINERD_SOCKET}"
  namespace = "buildkit"
` +
    registries
  );
}

export function buildkitUnit(): string {
  return (
    HEADER +
    `[Unit]
Description=BuildKit daemon for OpenCloud Container Registry
Documentation=https://github.com/moby/buildkit
After=network.target containerd.service
Requires=containerd.service

[Service]
Type=notify
ExecStart=${BIN_DIR}/buildkitd ${buildkitdArgs().join(' ')}
Restart=always
RestartSec=5
LimitNOFILE=1048576
TasksMax=infinity

[Install]
WantedBy=multi-user.target
`
  );
}
