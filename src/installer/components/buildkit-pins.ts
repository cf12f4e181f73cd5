// Facts about the BuildKit release we install: version, where the release tarballs live and
// their published sha256s (DESIGN.md), and where the binaries go.
import { BUILDKIT_VERSION } from '../../paths.js';

export { BUILDKIT_VERSION };
export const RELEASE_BASE = 'https://github.com/moby/buildkit/releases/download';

export const PINNED_SHA256: Record<string, string> = {
  amd64: 'a07a01da821d39bdb6e03a2f98ee407bb861cc61ece2e69e2ea4d61b3a4ab7f1',
  arm64: '1b70bb7955ddda66537d4bf9aa540e79e79e19aa989901613da58f5f133a53ef',
};

export const BIN_DIR = '/usr/local/bin';
export const BINARIES = ['buildkitd', 'buildctl'] as const;
export const BUILDKIT_SOCKET = '/run/buildkit/buildkitd.sock';
export const BUILDKIT_GROUP = 'buildkit';
export const BUILDKIT_CONFIG = '/etc/buildkit/buildkitd.toml';
export const BUILDKIT_UNIT = '/etc/systemd/system/buildkit.service';
export const BUILDKIT_STATE_DIR = '/var/lib/buildkit';
export const CONTAINERD_SOCKET = '/run/containerd/containerd.sock';
// The Debian packages the installer installs are the `*_PACKAGE` constants of this file: the steps
// hand apt these names, and request-policy.ts allows exactly these in a ledger's package record.
/** containerd from the distribution's archive (Docker's containerd.io is reused, never replaced). */
export const CONTAINERD_PACKAGE = 'containerd';

// The network RUN steps get (BuildKit's CNI network mode): a bridge of their own instead of the
// host's network namespace, so a build reaches outside hosts but not the host's loopback.
/** Debian's CNI plugins (bridge, host-local, loopback, firewall, ...); it brings iptables along. */
export const CNI_PACKAGE = 'containernetworking-plugins';
/** Where Debian's package puts the plugins (BuildKit's own default, /opt/cni/bin, is empty here). */
export const CNI_BIN_DIR = '/usr/lib/cni';
/** A `.conflist`: BuildKit v0.16.0 reads a plugin chain only from a file with that suffix. */
export const CNI_CONFIG = '/etc/buildkit/cni.conflist';
/**
 * The build network. The subnet is a /24 in 10/8 away from the ranges other tools take by default
 * (Docker 172.17+/192.168, podman 10.88-89, BuildKit's bridge 10.10, k3s 10.42-43, Weave 10.32/12,
 * Kubernetes services 10.96/12, flannel 10.244, Azure/microk8s 10.0-1, OpenVPN 10.8, GCP's auto
 * mode 10.128/9); the installer refuses to use it where a route on the host overlaps it.
 */
export const BUILD_NETWORK = { name: 'opencloud-build', bridge: 'ocbuild0', subnet: '10.77.0.0/24' } as const;
/** Network namespaces buildkitd keeps ready, so a RUN step does not wait for one to be set up. */
export const CNI_POOL_SIZE = 4;

export const releaseTarballName = (arch: string) => `buildkit-${BUILDKIT_VERSION}.linux-${arch}.tar.gz`;

export function releaseUrl(arch: string, mirror?: string): string {
  const base = (mirror ?? RELEASE_BASE).replace(/\/+$/, '');
  return `${base}/${BUILDKIT_VERSION}/${releaseTarballName(arch)}`;
}

/** buildkitd's command line: the socket group is set by the daemon, so it survives reboots. */
export const buildkitdArgs = () => [
  '--config',
  BUILDKIT_CONFIG,
  '--addr',
  `unix://${BUILDKIT_SOCKET}`,
  '--group',
  BUILDKIT_GROUP,
];
