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
