// The build network as the installer writes it: buildkitd.toml puts the containerd worker on CNI
// (keys as BuildKit v0.16.0's worker config names them), the CNI file is a plugin chain BuildKit
// reads as one (a .conflist), and the subnet check reads the host's routing table right.
import { describe, expect, it } from 'vitest';
import { buildkitdToml, cniConflist } from './buildkit-files.js';
import { BUILD_NETWORK, CNI_BIN_DIR, CNI_CONFIG, CNI_POOL_SIZE } from './buildkit-pins.js';
import { cidrsOverlap, conflictingRoutes, parseProcRoutes } from './build-network.js';

/** The `key = value` lines of one TOML table, up to the next table header. */
function table(toml: string, name: string): Record<string, string> {
  const lines = toml.split('\n');
  const start = lines.findIndex((l) => l.trim() === `[${name}]`);
  expect(start, `[${name}] in\n${toml}`).toBeGreaterThanOrEqual(0);
  const out: Record<string, string> = {};
  for (const line of lines.slice(start + 1)) {
    const t = line.trim();
    if (t.startsWith('[')) break;
    if (t === '' || t.startsWith('#')) continue;
    const [key, value] = t.split(/\s*=\s*/, 2) as [string, string];
    out[key] = value;
  }
  return out;
}

describe('buildkitd.toml', () => {
  it("puts the containerd worker's RUN steps on the CNI network from Debian's plugins", () => {
    const worker = table(buildkitdToml(['127.0.0.1:5000']), 'worker.containerd');
    expect(worker).toMatchObject({
      enabled: 'true',
      networkMode: '"cni"',
      cniBinaryPath: `"${CNI_BIN_DIR}"`,
      cniConfigPath: `"${CNI_CONFIG}"`,
      cniPoolSize: String(CNI_POOL_SIZE),
    });
    expect(CNI_BIN_DIR).toBe('/usr/lib/cni');
  });

  it('keeps the OCI worker off and the registry entries after the worker table', () => {
    const toml = buildkitdToml(['registry.example:5000']);
    expect(table(toml, 'worker.oci')).toEqual({ enabled: 'false' });
    expect(table(toml, 'registry."registry.example:5000"')).toEqual({ http: 'true' });
  });
});

describe('the CNI config', () => {
  const conf = JSON.parse(cniConflist()) as {
    cniVersion: string;
    name: string;
    plugins: Record<string, unknown>[];
  };

  it('is a plugin chain in a file BuildKit reads as one', () => {
    // BuildKit v0.16.0 loads a chain (WithConfListFile) only for a path ending in .conflist.
    expect(CNI_CONFIG).toMatch(/\.conflist$/);
    // The newest spec version Ubuntu 22.04's plugins (0.9.1) support; Debian 12's (1.1.1) do too.
    expect(conf.cniVersion).toBe('0.4.0');
    expect(conf.name).toBe(BUILD_NETWORK.name);
    expect(conf.plugins.map((p) => p.type)).toEqual(['bridge', 'firewall']);
  });

  it('is a masquerading bridge that is the default gateway, on its own subnet', () => {
    expect(conf.plugins[0]).toEqual({
      type: 'bridge',
      bridge: BUILD_NETWORK.bridge,
      isDefaultGateway: true,
      ipMasq: true,
      ipam: { type: 'host-local', ranges: [[{ subnet: BUILD_NETWORK.subnet }]] },
    });
    expect(BUILD_NETWORK.bridge.length).toBeLessThanOrEqual(15); // IFNAMSIZ - 1
  });

  it('lets the firewall plugin accept the steps’ forwarded traffic and keep other bridges out', () => {
    expect(conf.plugins[1]).toEqual({ type: 'firewall', ingressPolicy: 'same-bridge' });
  });
});

describe('the subnet check', () => {
  // /proc/net/route of a host with a default route, a LAN, Docker's bridge and our own bridge.
  const PROC = [
    'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT',
    'eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0',
    'eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0',
    'docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0',
    'ocbuild0\t00004D0A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0',
    '',
  ].join('\n');

  it('reads /proc/net/route (little-endian hex) into networks', () => {
    expect(parseProcRoutes(PROC)).toEqual([
      { iface: 'eth0', cidr: '0.0.0.0/0' },
      { iface: 'eth0', cidr: '192.0.2.0/24' },
      { iface: 'docker0', cidr: '172.17.0.0/16' },
      { iface: 'ocbuild0', cidr: '10.77.0.0/24' },
    ]);
  });

  it('decides overlap on the shorter prefix', () => {
    expect(cidrsOverlap('10.77.0.0/24', '10.0.0.0/8')).toBe(true);
    expect(cidrsOverlap('10.77.0.0/24', '10.77.0.128/25')).toBe(true);
    expect(cidrsOverlap('10.77.0.0/24', '10.77.1.0/24')).toBe(false);
    expect(cidrsOverlap('10.77.0.0/24', '10.76.0.0/16')).toBe(false);
    expect(cidrsOverlap('10.77.0.0/24', '192.168.0.0/16')).toBe(false);
  });

  it('ignores default routes and our own bridge, and names any other route over the subnet', () => {
    expect(conflictingRoutes(parseProcRoutes(PROC), BUILD_NETWORK.subnet, BUILD_NETWORK.bridge)).toEqual([]);
    const vpn = PROC + 'wg0\t0000000A\t00000000\t0001\t0\t0\t0\t000000FF\t0\t0\t0\n';
    expect(conflictingRoutes(parseProcRoutes(vpn), BUILD_NETWORK.subnet, BUILD_NETWORK.bridge)).toEqual([
      { iface: 'wg0', cidr: '10.0.0.0/8' },
    ]);
  });
});
