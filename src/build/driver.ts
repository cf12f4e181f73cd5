// Runs one build with buildctl against the BuildKit daemon, as DESIGN.md describes: the context
// and Dockerfile in a private temp dir (0700, removed afterwards; a context extracted from an
// uploaded archive is used where it lies and removed by its owner), a DOCKER_CONFIG of its own,
// rawjson progress on stderr, the image pushed to this registry, its digest from the metadata
// file. Canceling sends SIGINT (buildctl then cancels the solve), SIGKILL if it lingers.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { buildctlConnection, type DaemonEndpoint } from '../runtime/endpoint.js';
import { CONTEXT_DIR, type BuildDefinition } from './definition.js';
import type { BuildEvent } from './events.js';
import { ProgressReader } from './progress.js';

export interface DriverOptions {
  /** The BuildKit daemon the build was placed on. */
  endpoint: DaemonEndpoint;
  /** Parent of the per-build temp dirs. */
  workDir: string;
  /** Full references to push, e.g. 127.0.0.1:5000/demo/app:1. */
  images: string[];
  /** This registry's host:port, as the images name it (where base images are pulled from). */
  registry: string;
  signal: AbortSignal;
  emit: (e: BuildEvent) => void;
  buildctl?: string;
  /** Secret id → value: written to files in the private dir for `--secret`, nowhere else. */
  secrets?: Record<string, string>;
  /** A short-lived credential for this registry, written into the build's own DOCKER_CONFIG. */
  registryAuth?: { host: string; username: string; secret: string };
}

export class BuildFailure extends Error {}

/** CSV quoting for buildctl's --output value (a list of names holds commas). */
const csv = (s: string) => (/[",]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s);

export function buildctlArgs(
  d: BuildDefinition,
  o: { endpoint: DaemonEndpoint; dir: string; images: string[]; registry: string; secretIds?: string[] },
): string[] {
  const args = [...buildctlConnection(o.endpoint), 'build', '--frontend', 'dockerfile.v0'];
  const extracted = d[CONTEXT_DIR];
  if (d.archive && extracted) {
    // The Dockerfile stays where the archive has it; BuildKit's frontend reads `filename` there.
    const name = basename(d.archive.dockerfile);
    args.push(
      '--local',
      `context=${extracted}`,
      '--local',
      `dockerfile=${join(extracted, dirname(d.archive.dockerfile))}`,
    );
    if (name !== 'Dockerfile') args.push('--opt', `filename=${name}`);
  } else {
    args.push(
      '--local',
      `context=${join(o.dir, 'context')}`,
      '--local',
      `dockerfile=${join(o.dir, 'dockerfile')}`,
    );
  }
  args.push('--output', `type=image,${csv(`name=${o.images.join(',')}`)},push=true`);
  args.push('--progress', 'rawjson', '--metadata-file', join(o.dir, 'metadata.json'));
  for (const [k, v] of Object.entries(d.buildArgs)) args.push('--opt', `build-arg:${k}=${v}`);
  for (const [k, v] of Object.entries(d.labels)) args.push('--opt', `label:${k}=${v}`);
  // The Dockerfile frontend resolves `FROM name` to a named context of that name when one is given.
  for (const [name, ref] of Object.entries(d.baseImages ?? {}))
    args.push('--opt', `context:${name}=docker-image://${o.registry}/${ref}`);
  if (d.target) args.push('--opt', `target=${d.target}`);
  if (d.platforms?.length) args.push('--opt', `platform=${d.platforms.join(',')}`);
  if (d.noCache) args.push('--no-cache');
  for (const id of o.secretIds ?? []) args.push('--secret', `id=${id},src=${join(o.dir, 'secrets', id)}`);
  if (d.cache) {
    // The cache lives next to the image, under the tag `buildcache` of the same repository.
    const ref = `${(o.images[0] as string).replace(/:[^:/]+$/, '')}:buildcache`;
    // As an OCI image manifest (image-manifest=true): any registry and client can read it.
    args.push(
      '--export-cache',
      `type=registry,ref=${ref},mode=max,image-manifest=true,oci-mediatypes=true`,
      '--import-cache',
      `type=registry,ref=${ref}`,
    );
  }
  return args;
}

async function writeContext(
  d: BuildDefinition,
  dir: string,
  auth?: DriverOptions['registryAuth'],
  secrets: Record<string, string> = {},
): Promise<void> {
  await mkdir(join(dir, 'docker'), { mode: 0o700 });
  await mkdir(join(dir, 'secrets'), { mode: 0o700 });
  for (const [id, value] of Object.entries(secrets))
    await writeFile(join(dir, 'secrets', id), value, { mode: 0o600 });
  // No credentials of the user running the server reach the build: only this build's own,
  // short-lived token for this registry (when authentication is on), removed with the dir.
  const auths = auth
    ? { [auth.host]: { auth: Buffer.from(`${auth.username}:${auth.secret}`).toString('base64') } }
    : {};
  await writeFile(join(dir, 'docker', 'config.json'), JSON.stringify({ auths }) + '\n', { mode: 0o600 });
  if (d.archive) {
    if (!d[CONTEXT_DIR]) throw new BuildFailure('the uploaded context of this build is no longer there');
    return;
  }
  await mkdir(join(dir, 'context'), { mode: 0o700 });
  await mkdir(join(dir, 'dockerfile'), { mode: 0o700 });
  await writeFile(join(dir, 'dockerfile', 'Dockerfile'), d.dockerfile, { mode: 0o600 });
  for (const [path, content] of Object.entries(d.files)) {
    const to = join(dir, 'context', path);
    await mkdir(dirname(to), { recursive: true, mode: 0o700 });
    await writeFile(to, content, { mode: 0o600 });
  }
}

/** Runs the build; resolves to the pushed image's digest, rejects with BuildFailure. */
export async function runBuild(d: BuildDefinition, o: DriverOptions): Promise<string> {
  await mkdir(o.workDir, { recursive: true, mode: 0o700 });
  const dir = await mkdtemp(join(o.workDir, 'build-'));
  try {
    await writeContext(d, dir, o.registryAuth, o.secrets);
    const reader = new ProgressReader(o.emit);
    const child = spawn(
      o.buildctl ?? 'buildctl',
      buildctlArgs(d, {
        endpoint: o.endpoint,
        dir,
        images: o.images,
        registry: o.registry,
        secretIds: Object.keys(o.secrets ?? {}),
      }),
      {
        stdio: ['ignore', 'ignore', 'pipe'],
        env: { ...process.env, DOCKER_CONFIG: join(dir, 'docker') },
      },
    );
    const cancel = () => {
      child.kill('SIGINT');
      setTimeout(() => child.kill('SIGKILL'), 5000).unref();
    };
    if (o.signal.aborted) cancel();
    o.signal.addEventListener('abort', cancel, { once: true });
    createInterface({ input: child.stderr }).on('line', (l) => reader.line(l));
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', resolve);
    }).finally(() => o.signal.removeEventListener('abort', cancel));
    if (o.signal.aborted) throw new BuildFailure(String(o.signal.reason ?? 'canceled'));
    if (code !== 0) {
      // A step is the cause when buildctl's final error names it; a step can also fail harmlessly
      // (a cache import that finds nothing) while the build fails later for another reason.
      const f = reader.failed;
      const final = reader.output.filter((l) => /^error:/i.test(l)).at(-1);
      if (f && (!final || final.includes(f.error)))
        throw new BuildFailure(
          `step "${f.name}" failed: ${f.error}${f.tail.length ? `\n${f.tail.join('\n')}` : ''}`,
        );
      throw new BuildFailure(
        final ?? (reader.output.slice(-10).join('\n') || `buildctl exited with ${code}`),
      );
    }
    const meta = JSON.parse(await readFile(join(dir, 'metadata.json'), 'utf8')) as Record<string, unknown>;
    const digest = meta['containerimage.digest'];
    if (typeof digest !== 'string') throw new BuildFailure('buildctl reported no image digest');
    return digest;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
