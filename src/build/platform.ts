// Target platforms as BuildKit takes them: os/arch[/variant], comma-separated.
const ARCHES = new Set(['amd64', 'arm64', 'arm', '386', 'ppc64le', 's390x', 'riscv64', 'mips64le']);

export class PlatformError extends Error {}

export function parsePlatforms(input: string): string[] {
  const list = input.split(',').map((p) => p.trim());
  for (const p of list) {
    const [os, arch, variant, extra] = p.split('/');
    if (os !== 'linux' || !arch || !ARCHES.has(arch) || extra !== undefined || variant === '') {
      throw new PlatformError(
        `"${p}" is not a platform BuildKit can build here (linux/<arch>[/<variant>], arch one of ${[...ARCHES].join(', ')})`,
      );
    }
  }
  return list;
}
