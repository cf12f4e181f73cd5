// The Docker engine the test environment started (scripts/test-env/docker.sh): Debian's own docker
// client (/usr/bin/docker, 20.10, not whatever else is on PATH) against that dockerd's socket, with
// a config dir of the caller's own so logins never touch ~/.docker.
import { execFile, type ExecFileException } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { testEnv } from './env.js';

export const DOCKER = '/usr/bin/docker';

export interface DockerResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface DockerClient {
  /** Runs `docker ARGS`; resolves whatever the exit code (check `code`). */
  run(
    args: string[],
    opts?: { input?: string; timeoutMs?: number; env?: Record<string, string> },
  ): Promise<DockerResult>;
  /** Runs `docker ARGS` and rejects, with its output, unless it exits 0. */
  ok(
    args: string[],
    opts?: { input?: string; timeoutMs?: number; env?: Record<string, string> },
  ): Promise<string>;
}

export function dockerClient(configDir: string): DockerClient {
  mkdirSync(configDir, { recursive: true });
  const socket = testEnv?.components.docker?.socket ?? '/run/docker.sock';
  const run: DockerClient['run'] = (args, opts = {}) =>
    new Promise((resolve) => {
      const child = execFile(
        DOCKER,
        args,
        {
          env: {
            PATH: process.env.PATH ?? '/usr/bin:/bin',
            HOME: configDir,
            DOCKER_HOST: `unix://${socket}`,
            DOCKER_CONFIG: configDir,
            ...opts.env,
          },
          maxBuffer: 64 * 1024 * 1024,
          timeout: opts.timeoutMs ?? 180_000,
        },
        (err: ExecFileException | null, stdout, stderr) =>
          resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
      );
      child.stdin?.end(opts.input ?? '');
    });
  return {
    run,
    async ok(args, opts) {
      const r = await run(args, opts);
      if (r.code !== 0)
        throw new Error(
          `\`docker ${args.join(' ')}\` exited ${r.code}:\n--- stderr\n${r.stderr}--- stdout\n${r.stdout}`,
        );
      return r.stdout;
    },
  };
}
