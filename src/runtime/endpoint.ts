// Where a BuildKit daemon listens: a unix socket on this host, or TCP with mutual TLS (a worker
// on another machine). The same value drives the gRPC health checks and buildctl's flags.

export interface TlsFiles {
  /** PEM of the CA that signed the daemon's certificate. */
  ca: string;
  /** PEM certificate and key this server presents to the daemon. */
  cert: string;
  key: string;
  /** The name the daemon's certificate is checked against, when not the address's host. */
  serverName?: string | undefined;
}

export type DaemonEndpoint =
  | { kind: 'unix'; address: string; socket: string }
  | { kind: 'tcp'; address: string; host: string; port: number; tls: TlsFiles };

export type WorkerAddress = { kind: 'unix'; socket: string } | { kind: 'tcp'; host: string; port: number };

/** `unix:///run/buildkit/buildkitd.sock` or `tcp://builder-2.internal:1234`; undefined otherwise. */
export function parseWorkerAddress(raw: string): WorkerAddress | undefined {
  const unix = /^unix:\/\/(\/[^\0]*)$/.exec(raw);
  if (unix) return { kind: 'unix', socket: unix[1] as string };
  const tcp = /^tcp:\/\/(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(raw);
  if (!tcp) return undefined;
  const port = Number(tcp[3]);
  if (port < 1 || port > 65535) return undefined;
  return { kind: 'tcp', host: (tcp[1] ?? tcp[2]) as string, port };
}

export function endpointOf(address: string, tls: TlsFiles | undefined): DaemonEndpoint {
  const parsed = parseWorkerAddress(address);
  if (!parsed) throw new Error(`${address} is not a BuildKit address (unix:///path or tcp://host:port)`);
  if (parsed.kind === 'unix') return { kind: 'unix', address, socket: parsed.socket };
  if (!tls)
    throw new Error(`${address}: a TCP worker needs buildkit.tls.ca, buildkit.tls.cert and buildkit.tls.key`);
  return { kind: 'tcp', address, host: parsed.host, port: parsed.port, tls };
}

/** buildctl's connection flags for the endpoint. */
export function buildctlConnection(e: DaemonEndpoint): string[] {
  if (e.kind === 'unix') return ['--addr', `unix://${e.socket}`];
  const args = ['--addr', e.address, '--tlscacert', e.tls.ca, '--tlscert', e.tls.cert, '--tlskey', e.tls.key];
  if (e.tls.serverName) args.push('--tlsservername', e.tls.serverName);
  return args;
}
