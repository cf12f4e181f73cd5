// What a build's RUN step can reach, on the buildkitd the installer set up (its containerd worker
// on the CNI network it writes): not this registry on the host's loopback, not the host network
// through `RUN --network=host`, but an outside host through the bridge; while the build itself
// still pulls its base from this registry and pushes to it (buildkitd does that, on the host).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushBaseImage } from '../support/base-image.js';
import { startServe, type ServeHandle } from '../support/cli.js';
import { binDir, missing, testEnv, titled } from '../support/env.js';
import { buildEnded, readSse } from '../support/sse.js';
import { postJson } from '../support/json-post.js';

const run = promisify(execFile);
const why = missing('buildkit', 'containerd', 'skopeo');
const SOCKET = '/run/buildkit/buildkitd.sock';

interface Build {
  id: string;
  state: string;
  digest: string | null;
  error: string | null;
  images: string[];
}

/**
 * A host outside the build network: a network namespace joined to this host by a veth pair, with
 * busybox httpd inside. A step reaches it only through the bridge, the host's forwarding and the
 * masquerading the CNI config asks for, as it would reach a host on the internet.
 */
async function startOutsideHost(token: string) {
  const id = randomBytes(2).toString('hex');
  const ns = `oc-outside-${id}`;
  const [hostSide, nsSide] = [`ocout${id}h`, `ocout${id}n`];
  const block = 4 * Math.floor(Math.random() * 64); // a /30 in TEST-NET-2 (RFC 5737)
  const [hostIp, serverIp] = [`198.51.100.${block + 1}`, `198.51.100.${block + 2}`];
  const dir = mkdtempSync(join(tmpdir(), 'opencloud-outside-'));
  writeFileSync(join(dir, 'token.txt'), `${token}\n`);
  const ip = (...args: string[]) => run('ip', args);
  let server: ChildProcess | undefined;
  const stop = async () => {
    server?.kill('SIGKILL');
    await ip('netns', 'del', ns).catch(() => undefined); // takes the veth pair with it
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await ip('netns', 'add', ns);
    await ip('link', 'add', hostSide, 'type', 'veth', 'peer', 'name', nsSide);
    await ip('link', 'set', nsSide, 'netns', ns);
    await ip('addr', 'add', `${hostIp}/30`, 'dev', hostSide);
    await ip('link', 'set', hostSide, 'up');
    await ip('-n', ns, 'addr', 'add', `${serverIp}/30`, 'dev', nsSide);
    await ip('-n', ns, 'link', 'set', nsSide, 'up');
    await ip('-n', ns, 'link', 'set', 'lo', 'up');
    server = spawn(
      'ip',
      ['netns', 'exec', ns, '/bin/busybox', 'httpd', '-f', '-p', `${serverIp}:8080`, '-h', dir],
      { stdio: 'ignore' },
    );
    const url = `http://${serverIp}:8080/token.txt`;
    for (const deadline = Date.now() + 10_000; ;) {
      const body = await fetch(url, { signal: AbortSignal.timeout(1000) })
        .then((r) => r.text())
        .catch(() => '');
      if (body.includes(token)) break;
      if (Date.now() > deadline) throw new Error(`busybox httpd in ${ns} does not answer at ${url}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return { url, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

const outsideWhy =
  process.getuid?.() !== 0
    ? 'needs root to make a network namespace'
    : !existsSync('/usr/sbin/ip') && !existsSync('/sbin/ip') && !existsSync('/bin/ip')
      ? 'needs iproute2 (ip)'
      : !existsSync('/bin/busybox')
        ? 'needs /bin/busybox (busybox-static)'
        : undefined;

describe.skipIf(why)(titled('the network of build steps', why), () => {
  let server: ServeHandle;
  let host: string;
  let port: string;
  let base: string;

  const post = (path: string, body: unknown) => postJson(`${server.url}${path}`, body);
  const get = async (path: string) => (await (await fetch(`${server.url}${path}`)).json()) as Build;
  /** Submits a build and waits for its end: the build record and its whole log. */
  const build = async (body: Record<string, unknown>) => {
    const r = await post('/api/v1/builds', { noCache: true, ...body });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    const id = r.body.id as string;
    await readSse(`${server.url}/api/v1/builds/${id}/events`, { until: buildEnded, timeoutMs: 240_000 });
    const logs = await (await fetch(`${server.url}/api/v1/builds/${id}/logs`)).text();
    return { build: await get(`/api/v1/builds/${id}`), logs };
  };

  beforeAll(async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'opencloud-build-network-'));
    server = await startServe(['--listen', '127.0.0.1:0', '--data-dir', dataDir], {
      env: { OPENCLOUD_BUILD_CONCURRENCY: '1', OPENCLOUD_BUILDKIT_SOCKET: SOCKET },
    });
    host = new URL(server.url).host;
    port = new URL(server.url).port;
    base = await pushBaseImage(testEnv!.cacheDir, host);
  }, 120_000);

  afterAll(async () => {
    server?.child.kill('SIGTERM');
    await server?.exited;
  }, 60_000);

  it("buildkitd's containerd worker runs RUN steps on the CNI network", async () => {
    const out = await run(join(binDir(), 'buildctl'), [
      '--addr',
      `unix://${SOCKET}`,
      'debug',
      'workers',
      '-v',
    ]);
    expect(out.stdout).toMatch(/org\.mobyproject\.buildkit\.worker\.executor:\s*containerd/);
    expect(out.stdout).toMatch(/org\.mobyproject\.buildkit\.worker\.network:\s*cni\b/);
  });

  it('a RUN step fetching this registry on 127.0.0.1 cannot connect, and the build fails', async () => {
    const { build: b, logs } = await build({
      repository: 'demo/reach-loopback',
      dockerfile: `FROM ${base}\nRUN timeout 10 wget -O- http://127.0.0.1:${port}/v2/\n`,
    });
    expect(b.state, logs).toBe('failed');
    expect(b.error).toContain(`RUN timeout 10 wget -O- http://127.0.0.1:${port}/v2/`);
    // 127.0.0.1 is the step's own loopback, where nothing listens: refused at once, not timed out.
    expect(b.error).toContain("can't connect to remote host (127.0.0.1): Connection refused");
  }, 300_000);

  it('a build from this registry’s base image, whose step finds the registry unreachable, is pushed to it', async () => {
    const { build: b, logs } = await build({
      repository: 'demo/isolated',
      tags: ['1'],
      dockerfile: [
        `FROM ${base}`,
        `RUN if timeout 10 wget -O- http://127.0.0.1:${port}/v2/ >/tmp/out 2>&1; then echo REACHED-THE-REGISTRY; exit 1; fi; ` +
          'sed "s/^/isolated: /" /tmp/out; echo isolated > /isolated',
      ].join('\n'),
    });
    expect(b.state, `${b.error}\n${logs}`).toBe('succeeded');
    expect(logs).toContain("isolated: wget: can't connect to remote host (127.0.0.1): Connection refused");
    expect(b.images).toEqual([`${host}/demo/isolated:1`]);
    const inspect = JSON.parse(
      (await run('skopeo', ['inspect', '--tls-verify=false', `docker://${host}/demo/isolated:1`])).stdout,
    ) as { Digest: string; Layers: string[] };
    expect(inspect.Digest).toBe(b.digest);
    expect(inspect.Layers.length).toBe(2); // the base's layer, pulled from here, and the step's
  }, 300_000);

  it('RUN --network=host is refused: buildkitd grants no network.host entitlement', async () => {
    const { build: b, logs } = await build({
      repository: 'demo/reach-host-network',
      dockerfile: `FROM ${base}\nRUN --network=host timeout 10 wget -O- http://127.0.0.1:${port}/v2/\n`,
    });
    expect(b.state, logs).toBe('failed');
    expect(b.error).toContain('network.host is not allowed');
  }, 300_000);

  it.skipIf(outsideWhy)(
    titled('a RUN step reaches a host outside this one through the bridge', outsideWhy),
    async () => {
      const token = `outside-${randomBytes(6).toString('hex')}`;
      const outside = await startOutsideHost(token);
      try {
        const { build: b, logs } = await build({
          repository: 'demo/reach-outside',
          dockerfile: `FROM ${base}\nRUN timeout 10 wget -O /tmp/got ${outside.url} && sed "s/^/fetched: /" /tmp/got\n`,
        });
        expect(b.state, `${b.error}\n${logs}`).toBe('succeeded');
        expect(logs).toContain(`fetched: ${token}`);
      } finally {
        await outside.stop();
      }
    },
    300_000,
  );
});
