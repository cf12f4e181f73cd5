// The text of the files BuildKit runs from: its config and its systemd unit. Rendered from the
// options on every run and compared with the host, so new flags always reach the host.
import {
  BIN_DIR,
  BUILD_NETWORK,
  buildkitdArgs,
  CNI_BIN_DIR,
  CNI_CONFIG,
  CNI_POOL_SIZE,
  CONTAINERD_SOCKET,
} from './buildkit-pins.js';

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
  # RUN steps run in a network namespace of their own on the CNI bridge in ${CNI_CONFIG},
  # not in the host's: 127.0.0.1 inside a step is the step's own loopback.
  networkMode = "cni"
  cniBinaryPath = "${CNI_BIN_DIR}"
  cniConfigPath = "${CNI_CONFIG}"
  cniPoolSize = ${CNI_POOL_SIZE}
` +
    registries
  );
}

/**
 * The CNI plugin chain of the build network (BuildKit adds the loopback network itself): a bridge
 * that is the steps' default gateway and masquerades their traffic out through the host, then the
 * firewall plugin, which accepts that traffic in FORWARD (a host where Docker set the FORWARD
 * policy to DROP would drop it otherwise) and keeps other bridges' containers from connecting in.
 * Spec version 0.4.0: the newest that Ubuntu 22.04's plugins (0.9.1) speak as well as Debian 12's
 * and Ubuntu 24.04's (1.1.1); 0.9.1 ignores `ingressPolicy`, which it does not know.
 */
export function cniConflist(): string {
  const conflist = {
    cniVersion: '0.4.0',
    name: BUILD_NETWORK.name,
    plugins: [
      {
        type: 'bridge',
        bridge: BUILD_NETWORK.bridge,
        isDefaultGateway: true,
        ipMasq: true,
        ipam: { type: 'host-local', ranges: [[{ subnet: BUILD_NETWORK.subnet }]] },
      },
      { type: 'firewall', ingressPolicy: 'same-bridge' },
    ],
  };
  return JSON.stringify(conflist, null, 2) + '\n';
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
