import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SocketError } from '../runtime/socket.js';
import { checkBuildkit, checkContainerd, checkDataDir, checkNode } from './checks.js';
import { explainDaemonFault, notSocketFix } from './messages.js';

const dir = mkdtempSync(join(tmpdir(), 'opencloud-doctor-'));

/** A socket file left behind by a daemon that was killed: present, but nobody listens. */
async function staleSocket(path: string): Promise<void> {
  const child = spawn(process.execPath, [
    '-e',
    `require('net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`,
  ]);
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  child.kill('SIGKILL');
  await new Promise((resolve) => child.once('exit', resolve));
}

describe('doctor checks', () => {
  it("keeps the original system's words for a missing BuildKit daemon, plus the fix", () => {
    const { message, fix } = explainDaemonFault(
      'buildkit',
      new SocketError('missing', '/run/buildkit/buildkitd.sock', ''),
    );
    expect(message).toBe(
      'buildkit daemon not found at /run/buildkit/buildkitd.sock. Please ensure buildkit is installed and running.',
    );
    expect(fix).toContain('opencloud services enable container-registry');
  });

  it('refuses a Node.js older than 20.19', () => {
    expect(checkNode('20.18.1').status).toBe('fail');
    expect(checkNode('20.19.0').status).toBe('ok');
    expect(checkNode('22.1.0').status).toBe('ok');
  });

  it('reports an unusable data dir with the errno and a fix', async () => {
    const notADir = join(dir, 'file');
    writeFileSync(notADir, 'x');
    const res = await checkDataDir(join(notADir, 'data'));
    expect(res.status).toBe('fail');
    expect(res.message).toContain('ENOTDIR');
    expect(res.fix).toContain('--data-dir');
    expect((await checkDataDir(join(dir, 'fine'))).status).toBe('ok');
  });

  it('names a missing socket, a non-socket and a stale socket apart', async () => {
    const missing = await checkBuildkit(join(dir, 'none.sock'));
    expect(missing.status).toBe('fail');
    expect(missing.message).toBe(
      `buildkit daemon not found at ${join(dir, 'none.sock')}. Please ensure buildkit is installed and running.`,
    );

    const plain = join(dir, 'plain.sock');
    writeFileSync(plain, '');
    const notSocket = await checkContainerd(plain);
    expect(notSocket.details?.fault).toBe('not-socket');
    // A configured path that is some other file: fix the configuration, never delete the file.
    expect(notSocket.fix).toContain('point containerd.socket at');
    expect(notSocket.fix).not.toContain('remove');
    expect(notSocketFix('containerd', '/run/containerd/containerd.sock')).toBe(
      'remove /run/containerd/containerd.sock and run `opencloud services enable container-registry`',
    );

    const stale = join(dir, 'stale.sock');
    await staleSocket(stale);
    const refused = await checkContainerd(stale);
    expect(refused.details?.fault).toBe('refused');
    expect(refused.message).toContain('containerd daemon is not running');
    expect(refused.fix).toContain('systemctl start containerd');
  });
});
