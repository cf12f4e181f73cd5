import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  isServeCommand,
  parseGroup,
  parsePasswd,
  parseStatus,
  probeAs,
  processAt,
  serveProcesses,
} from './access-host.js';

describe('host facts parsing', () => {
  it('reads the effective ids and the groups from /proc/<pid>/status', () => {
    const status =
      'Name:\tnode\nUid:\t998\t998\t998\t998\nGid:\t998\t997\t998\t998\nGroups:\t995 998 \nNgid:\t0\n';
    expect(parseStatus(status)).toEqual({ uid: 998, gid: 997, groups: [995, 998] });
    expect(parseStatus('Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t\n')).toEqual({
      uid: 0,
      gid: 0,
      groups: [],
    });
    expect(parseStatus('Name: x\n')).toBeUndefined();
  });

  it('reads /etc/passwd and /etc/group', () => {
    expect(
      parsePasswd(
        'root:x:0:0:root:/root:/bin/bash\nopencloud:x:998:998::/var/lib/opencloud:/usr/sbin/nologin\n',
      ),
    ).toEqual([
      { name: 'root', uid: 0, gid: 0 },
      { name: 'opencloud', uid: 998, gid: 998 },
    ]);
    expect(parseGroup('buildkit:x:995:opencloud,alice\nopencloud:x:998:\n')).toEqual([
      { name: 'buildkit', gid: 995, members: ['opencloud', 'alice'] },
      { name: 'opencloud', gid: 998, members: [] },
    ]);
  });

  it('recognises the server command line, not npm, npx or other commands', () => {
    expect(isServeCommand(['/usr/bin/node', '/usr/lib/opencloud/bin/opencloud.js', 'serve'])).toBe(true);
    expect(
      isServeCommand([
        'node',
        '--max-semi-space-size=16',
        '/usr/local/bin/opencloud',
        'serve',
        '--listen',
        ':5000',
      ]),
    ).toBe(true);
    expect(isServeCommand(['node', 'bin/opencloud.js', 'doctor'])).toBe(false);
    expect(isServeCommand(['node', '/usr/bin/npx', 'opencloud', 'serve'])).toBe(false);
    expect(isServeCommand(['/bin/sh', '-c', 'opencloud serve'])).toBe(false);
  });
});

// Real processes and real sockets: a connect made under another identity needs root.
const asRoot = process.getuid?.() === 0;

describe.skipIf(!asRoot)('real access checks (root)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'opencloud-access-'));
  const sock = join(dir, 'buildkitd.sock');
  const GID = 4711; // a group nobody is in
  let server: Server;
  let fake: ChildProcess;

  beforeAll(async () => {
    chmodSync(dir, 0o755);
    server = createServer((c) => c.end());
    await new Promise<void>((resolve) => server.listen(sock, resolve));
    chownSync(sock, 0, GID);
    chmodSync(sock, 0o660);
    // A stand-in server: `node …/opencloud.js serve` running as nobody with a chosen group list.
    const script = join(dir, 'opencloud.js');
    writeFileSync(script, 'setInterval(() => {}, 1000);\n');
    chmodSync(script, 0o644);
    fake = spawn(
      'setpriv',
      ['--reuid=65534', '--regid=65534', `--groups=65534,${GID}`, '--', process.execPath, script, 'serve'],
      {
        cwd: '/',
        stdio: 'ignore',
      },
    );
    await new Promise((r) => setTimeout(r, 300));
  });

  afterAll(() => {
    fake?.kill('SIGKILL');
    server?.close();
  });

  it('gets EACCES without the socket group and connects with it', async () => {
    const without = await probeAs({ uid: 65534, gid: 65534, groups: [65534] }, sock, 'running');
    expect(without.outcome).toBe('permission');
    expect(without.detail).toBe('EACCES');
    expect(without.command).toContain('--groups=65534');
    const withGroup = await probeAs({ uid: 65534, gid: 65534, groups: [GID] }, sock, 'restart');
    expect(withGroup.outcome).toBe('ok');
  });

  it('tells a stale socket apart', async () => {
    const stale = join(dir, 'stale.sock');
    const s = createServer();
    await new Promise<void>((resolve) => s.listen(stale, resolve));
    chmodSync(stale, 0o666);
    // Closing a node server unlinks its socket; re-create the file as a socket with nobody behind it.
    const child = spawn(process.execPath, [
      '-e',
      `require('net').createServer().listen(${JSON.stringify(stale + '2')}, () => console.log('up'))`,
    ]);
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    s.close();
    chmodSync(stale + '2', 0o666);
    const p = await probeAs({ uid: 65534, gid: 65534, groups: [] }, stale + '2', 'running');
    expect(p.outcome).toBe('refused');
  });

  it('finds a `node … opencloud.js serve` process and its ids as the kernel holds them', async () => {
    const pid = fake.pid!;
    const { here, elsewhere } = await serveProcesses();
    expect(here).toContain(pid);
    expect(elsewhere).not.toContain(pid);
    const proc = await processAt(pid, 'proc');
    expect(proc?.identity).toEqual({ uid: 65534, gid: 65534, groups: [GID, 65534].sort((a, b) => a - b) });
    expect(proc?.cmdline).toContain('opencloud.js serve');
  });
});
