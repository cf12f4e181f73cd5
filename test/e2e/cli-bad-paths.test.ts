// Every CLI command that keeps state, run against a data dir it cannot use and a config file that
// does not exist, and `doctor` against daemon socket paths that are wrong: one message naming the
// path and the reason, a fix, the documented exit code (73 for the data dir, 78 for the
// configuration, 69 for a daemon), never a stack trace. The commands that talk to a server
// (`build`, `login`, `logout`) against a login file they cannot use (78 to read one under a file, a
// file others may read refused), a server that does not answer (69), a context that is not a
// directory and missing arguments (64). `install`, which needs systemd, is refused
// a data dir under a file by its preflight in test/e2e/install-systemd.test.ts.
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';

const work = mkdtempSync(join(tmpdir(), 'opencloud-bad-paths-'));
const file = join(work, 'a-file');
writeFileSync(file, '{}');
/** Works for root too: no permission bit stops root, a file in the path does. */
const badDataDir = join(file, 'data');
const missingConfig = join(work, 'no-such-config.yaml');

const COMMANDS: string[][] = [
  ['gc', '--dry-run'],
  ['services', 'list'],
  ['services', 'plan', 'container-registry'],
  ['services', 'status', 'container-registry'],
  ['services', 'doctor', 'container-registry'],
  // These two change the host, but only after the ledger in the data dir is open: here they stop first.
  ['services', 'enable', 'container-registry', '--yes'],
  ['services', 'disable', 'container-registry', '--yes'],
  ['users', 'add', 'alice', '--generate'],
  ['users', 'passwd', 'alice', '--password-stdin'],
  ['users', 'delete', 'alice'],
  ['users', 'list'],
  ['users', 'grant', 'alice', 'team/*', 'pull'],
  ['users', 'token', 'create', 'alice', 'ci'],
  ['users', 'token', 'list'],
  ['users', 'token', 'revoke', 'tok'],
  ['webhooks', 'list'],
  ['webhooks', 'add', 'https://hooks.example.com/x'],
  ['webhooks', 'delete', '1'],
  ['webhooks', 'deliveries', '1'],
];

const noStack = (stderr: string) => expect(stderr).not.toMatch(/^\s+at /m);

describe('CLI commands against paths they cannot use', () => {
  // A valid ledger document for `ledger apply` and `diff`, exported from an instance made here.
  beforeAll(async () => {
    const instance = join(work, 'instance');
    expect((await runCli(['users', 'list', '--data-dir', instance])).code).toBe(0);
    const out = await runCli([
      'ledger',
      'export',
      '--data-dir',
      instance,
      '--output',
      join(work, 'ledger.json'),
    ]);
    expect(out.code, out.stderr).toBe(0);
  });

  it.each(COMMANDS.map((c) => [c.join(' '), c]))(
    '%s: a data dir it cannot use is exit 73 with the path, the reason and a fix',
    async (_name, args) => {
      const r = await runCli([...(args as string[]), '--data-dir', badDataDir]);
      noStack(r.stderr);
      expect(r.stderr).toContain(
        `data dir ${badDataDir} cannot be used: a part of the path is a file, not a directory`,
      );
      expect(r.stderr).toContain('fix: pass --data-dir');
      expect(r.code).toBe(73);
    },
  );

  it.each(
    [
      ...COMMANDS,
      ['serve'],
      ['doctor'],
      ['ledger', 'export'],
      ['ledger', 'apply', join(work, 'ledger.json'), '--yes'],
    ].map((c) => [c.join(' '), c]),
  )('%s: a config file that does not exist is exit 78 naming it', async (_name, args) => {
    const r = await runCli([...(args as string[]), '--config', missingConfig]);
    noStack(r.stderr);
    expect(r.stderr).toContain(`config file ${missingConfig} does not exist`);
    expect(r.code).toBe(78);
  });

  it('ledger export of a data dir without state says there is nothing, naming it', async () => {
    const r = await runCli(['ledger', 'export', '--data-dir', badDataDir]);
    noStack(r.stderr);
    expect(r.stderr).toContain(`no OpenCloud state in ${badDataDir}`);
    expect(r.code).toBe(1);
  });

  it('doctor with socket paths that are not sockets names each, and never advises deleting a file it was pointed at', async () => {
    const r = await runCli(['doctor', '--data-dir', join(work, 'doctor')], {
      env: { OPENCLOUD_BUILDKIT_SOCKET: join(work, 'none', 'bk.sock'), OPENCLOUD_CONTAINERD_SOCKET: file },
    });
    noStack(r.stdout + r.stderr);
    expect(r.stdout).toContain(`buildkit daemon not found at ${join(work, 'none', 'bk.sock')}`);
    expect(r.stdout).toContain(`${file} exists but is not a socket`);
    expect(r.stdout).toContain('point containerd.socket at');
    expect(r.stdout).not.toContain(`remove ${file}`);
    expect(r.code).toBe(69);
  });
});

describe('the commands that talk to a server, against paths and servers they cannot use', () => {
  const ctx = join(work, 'context');
  mkdirSync(ctx, { recursive: true });
  writeFileSync(join(ctx, 'Dockerfile'), 'FROM scratch\n');
  // Nothing listens on port 2 (and fetch refuses port 1 itself).
  const nowhere = 'http://127.0.0.1:2';
  const loginFile = (path: string) => ({ env: { OPENCLOUD_LOGIN_FILE: path } });

  it('a login file under a file is exit 78, naming it and the reason', async () => {
    const under = join(file, 'login.json');
    const b = await runCli(['build', '-t', 'a/b:1', '--server', nowhere, ctx], loginFile(under));
    noStack(b.stderr);
    expect(b.stderr).toContain(`cannot read the login file ${under}: ENOTDIR`);
    expect(b.stderr).toContain('fix: set OPENCLOUD_LOGIN_FILE');
    expect(b.code).toBe(78);
  });

  it('a login file others may read is refused (78): it holds tokens', async () => {
    const open = join(work, 'open-login.json');
    writeFileSync(open, '{"servers":{}}');
    chmodSync(open, 0o644);
    const r = await runCli(['build', '-t', 'a/b:1', '--server', nowhere, ctx], loginFile(open));
    noStack(r.stderr);
    expect(r.stderr).toContain(`${open} may be read by others (mode 644)`);
    expect(r.stderr).toContain(`fix: chmod 600 ${open}`);
    expect(r.code).toBe(78);
  });

  it('a server that does not answer is exit 69 for build and login', async () => {
    const none = loginFile(join(work, 'none', 'login.json'));
    const b = await runCli(['build', '-t', 'a/b:1', '--server', nowhere, ctx], none);
    noStack(b.stderr);
    expect(b.stderr).toContain(`cannot reach ${nowhere}: ECONNREFUSED`);
    expect(b.code).toBe(69);
    const l = await runCli(['login', nowhere, '-u', 'alice', '--password-stdin'], none);
    noStack(l.stderr);
    // No password on stdin here (it is closed): refused before anything is sent.
    expect([64, 69]).toContain(l.code);
  });

  it('bad arguments are exit 64 with what to do', async () => {
    const none = loginFile(join(work, 'none', 'login.json'));
    const cases: [string[], string][] = [
      [['build', '-t', 'a/b:1', join(work, 'no-such-dir')], 'is not a directory'],
      [['build', ctx], 'name the image to push: -t REPOSITORY:TAG'],
      [['build', '-t', 'UPPER/case:1', ctx], '-t UPPER/case:1'],
      [['build', '-t', 'a/b:1', '-t', 'c/d:1', ctx], 'one build pushes one repository'],
      [['build', '-t', 'a/b:1', '--build-arg', 'NOEQUALS', '--server', nowhere, ctx], '--build-arg NOEQUALS'],
      [['build', '-t', 'a/b:1', 'https://git.example.com/x.git'], 'building from a git URL is not supported'],
      [['login', nowhere], "required option '-u, --username <name>'"],
      [['logout', nowhere], `not signed in to ${nowhere}`],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(args, none);
      noStack(r.stderr);
      expect(r.stderr, args.join(' ')).toContain(message);
      expect(r.code, args.join(' ')).toBe(64);
    }
  });
});
