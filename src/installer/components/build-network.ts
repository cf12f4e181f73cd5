// The network BuildKit's RUN steps get: Debian's CNI plugins from apt and the CNI config that
// buildkitd.toml points its containerd worker at. Each step runs in a network namespace of its
// own on a bridge, so 127.0.0.1 inside a step is the step's own loopback, not the host's. The
// subnet is checked against the host's routes first: a bridge over a network the host already
// routes would cut the host off from it.
import { access, constants, readFile } from 'node:fs/promises';
import { aptInstall, installedVersion, simulateInstall } from '../host/apt.js';
import { managedFile } from '../host/managed-file.js';
import type { InstallOptions } from '../options.js';
import { StepError, type Step } from '../types.js';
import { cniConflist } from './buildkit-files.js';
import { BUILD_NETWORK, CNI_BIN_DIR, CNI_CONFIG, CNI_PACKAGE } from './buildkit-pins.js';

/** The plugins the config names, plus loopback (BuildKit sets up each step's lo with it). */
export const CNI_PLUGINS = ['bridge', 'host-local', 'firewall', 'loopback'] as const;

export interface Route {
  iface: string;
  /** The route's network, as a.b.c.d/len. */
  cidr: string;
}

const toInt = (ip: string) => ip.split('.').reduce((n, part) => n * 256 + Number(part), 0) >>> 0;
const maskOf = (len: number) => (len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0);

function parseCidr(cidr: string): { net: number; len: number } {
  const [ip, len] = cidr.split('/');
  return { net: toInt(ip as string), len: Number(len) };
}

/** Two IPv4 networks overlap when they agree on the bits of the shorter prefix. */
export function cidrsOverlap(a: string, b: string): boolean {
  const x = parseCidr(a);
  const y = parseCidr(b);
  const mask = maskOf(Math.min(x.len, y.len));
  return (x.net & mask) >>> 0 === (y.net & mask) >>> 0;
}

/**
 * The IPv4 routes of /proc/net/route (the main table). Addresses there are the kernel's u32 in host
 * byte order, printed as hex; amd64 and arm64 (what the installer supports) are little-endian.
 */
export function parseProcRoutes(text: string): Route[] {
  const routes: Route[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const [iface, dest, , , , , , mask] = f as [
      string,
      string,
      string,
      string,
      string,
      string,
      string,
      string,
    ];
    const octets = (hex: string) => {
      const n = parseInt(hex, 16);
      return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
    };
    const len = octets(mask).reduce((bits, o) => bits + o.toString(2).replaceAll('0', '').length, 0);
    routes.push({ iface, cidr: `${octets(dest).join('.')}/${len}` });
  }
  return routes;
}

/** Routes on the host that overlap the build subnet: default routes and our own bridge's excluded. */
export function conflictingRoutes(routes: Route[], subnet: string, bridge: string): Route[] {
  return routes.filter((r) => r.iface !== bridge && !r.cidr.endsWith('/0') && cidrsOverlap(r.cidr, subnet));
}

async function checkSubnetFree(): Promise<void> {
  const text = await readFile('/proc/net/route', 'utf8').catch(() => undefined);
  if (text === undefined) return; // no IPv4 routing table to compare with (no /proc): nothing to clash
  const clash = conflictingRoutes(parseProcRoutes(text), BUILD_NETWORK.subnet, BUILD_NETWORK.bridge);
  if (clash.length > 0) {
    throw new StepError(
      `the build network ${BUILD_NETWORK.subnet} overlaps routes this host already has: ${clash
        .map((r) => `${r.cidr} on ${r.iface}`)
        .join(', ')}; refusing to put a bridge over them (nothing was changed)`,
      'builds would cut the host off from that network; free that range on this host',
    );
  }
}

async function missingPlugins(): Promise<string[]> {
  const missing: string[] = [];
  for (const p of CNI_PLUGINS) {
    await access(`${CNI_BIN_DIR}/${p}`, constants.X_OK).catch(() => missing.push(`${CNI_BIN_DIR}/${p}`));
  }
  return missing;
}

export function buildNetworkSteps(opts: InstallOptions): Step[] {
  const plugins: Step = {
    id: 'build-network-plugins',
    title: `CNI plugins for the network of RUN steps (${CNI_PACKAGE}, apt)`,
    async plan() {
      if (await installedVersion(CNI_PACKAGE)) return [];
      const sim = await simulateInstall([CNI_PACKAGE]);
      if (sim.remove.length > 0) {
        throw new StepError(
          `installing ${CNI_PACKAGE} would remove ${sim.remove.join(', ')}; refusing`,
          `install ${CNI_PACKAGE} yourself, or remove the conflicting packages, then run again`,
        );
      }
      return [{ kind: 'package', target: CNI_PACKAGE, action: 'install' }];
    },
    async apply(ctx) {
      const added = await aptInstall([CNI_PACKAGE], { lockTimeout: opts.lockTimeout, onLine: ctx.log });
      ctx.record({ kind: 'package', names: added });
    },
    async verify(ctx) {
      const version = await installedVersion(CNI_PACKAGE);
      if (!version) throw new Error(`${CNI_PACKAGE} is still not installed after apt-get install`);
      const missing = await missingPlugins();
      if (missing.length > 0)
        throw new Error(`${CNI_PACKAGE} ${version} is installed but lacks ${missing.join(', ')}`);
      ctx.log(`${CNI_PACKAGE} ${version}: ${CNI_PLUGINS.join(', ')} in ${CNI_BIN_DIR}`);
    },
  };

  const file = managedFile({
    id: 'build-network-config',
    title: `${CNI_CONFIG} (bridge ${BUILD_NETWORK.bridge}, ${BUILD_NETWORK.subnet})`,
    path: CNI_CONFIG,
    content: cniConflist(),
    mode: 0o644,
    role: 'config',
  });
  const config: Step = {
    ...file,
    async plan(run) {
      await checkSubnetFree();
      return file.plan(run);
    },
  };

  return [plugins, config];
}
