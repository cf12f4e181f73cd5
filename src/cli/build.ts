// `opencloud build [-f Dockerfile] -t repo:tag… [--build-arg K=V]… [--target T] [--platform P]
// [--no-cache] [--server URL] [PATH]`: builds a local directory on an OpenCloud server. The
// context is streamed as it is packed (.dockerignore honoured); the live step log goes to stderr
// in the plain style of `docker buildx`; the pushed digest alone goes to stdout, so
// `digest=$(opencloud build …)` works. Exits 0 when the build succeeded, 1 naming the failed step.
import { Command, Option } from 'commander';
import { stat } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { ImageReferenceError, parseReference } from '../build/reference.js';
import { runRemoteBuild } from '../client/remote-build.js';
import { resolveServer } from '../client/server-api.js';
import { OpenCloudError, UsageError } from '../errors.js';

const collect = (value: string, all: string[]) => [...all, value];

interface BuildFlags {
  file?: string;
  tag: string[];
  buildArg: string[];
  target?: string;
  platform: string[];
  cache: boolean;
  server?: string;
}

/** The repository and tags the -t names give: one repository, on this server if a host is named. */
export function targetsOf(names: string[], serverHost: string): { repository: string; tags: string[] } {
  if (names.length === 0) throw new UsageError('name the image to push: -t REPOSITORY:TAG (repeatable)');
  let repository: string | undefined;
  const tags: string[] = [];
  for (const name of names) {
    let ref;
    try {
      ref = parseReference(name);
    } catch (err) {
      if (err instanceof ImageReferenceError) throw new UsageError(`-t ${name}: ${err.message}`);
      throw err;
    }
    if (ref.digest) throw new UsageError(`-t ${name}: a build pushes tags, not a digest`);
    if (ref.domain && ref.domain !== serverHost)
      throw new UsageError(`-t ${name}: the build pushes to ${serverHost}, not ${ref.domain}`, {
        hint: 'leave the host out, or point --server at that registry',
      });
    if (repository !== undefined && ref.repository !== repository)
      throw new UsageError(
        `-t ${name}: one build pushes one repository (${repository} and ${ref.repository})`,
      );
    repository = ref.repository;
    tags.push(ref.tag ?? 'latest');
  }
  return { repository: repository as string, tags };
}

/** KEY=VALUE pairs; a pair without '=' is a usage error naming it. */
function pairs(flag: string, values: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of values) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new UsageError(`${flag} ${kv}: expected KEY=VALUE`);
    out[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return out;
}

/** The Dockerfile's path inside the context ('/'-separated), which must hold it. */
async function dockerfileIn(context: string, file: string | undefined): Promise<string> {
  const path = file ? resolve(file) : resolve(context, 'Dockerfile');
  const inside = relative(context, path);
  if (inside === '' || inside.startsWith(`..${sep}`) || inside === '..' || isAbsolute(inside))
    throw new UsageError(`the Dockerfile ${path} is not inside the context ${context}`, {
      hint: 'move it into the context directory, or build from a directory that holds it',
    });
  const st = await stat(path).catch(() => undefined);
  if (!st?.isFile())
    throw new UsageError(`no Dockerfile at ${path}`, {
      hint: 'give its path with -f, or build from the directory that holds it',
    });
  return inside.split(sep).join('/');
}

export function buildCommand(): Command {
  return new Command('build')
    .description('build a directory on an OpenCloud server and push the image to its registry')
    .argument('[path]', 'the build context directory', '.')
    .addOption(new Option('-f, --file <path>', 'the Dockerfile (default: PATH/Dockerfile)'))
    .addOption(
      new Option('-t, --tag <name>', 'REPOSITORY[:TAG] to push (repeatable)').argParser(collect).default([]),
    )
    .addOption(new Option('--build-arg <pair>', 'KEY=VALUE (repeatable)').argParser(collect).default([]))
    .addOption(new Option('--target <stage>', 'the stage to build'))
    .addOption(
      new Option('--platform <list>', 'os/arch[,os/arch…] (repeatable)').argParser(collect).default([]),
    )
    .addOption(new Option('--no-cache', 'build every step again'))
    .addOption(
      new Option(
        '--server <url>',
        'the OpenCloud server (default: $OPENCLOUD_SERVER, the last login, 127.0.0.1:5000)',
      ),
    )
    .action(async (path: string, flags: BuildFlags) => {
      if (/^(git@|git:\/\/|ssh:\/\/)|\.git$/.test(path) || /^https?:\/\//.test(path))
        throw new UsageError(`${path}: building from a git URL is not supported by this command yet`, {
          hint: 'clone it and build the directory',
        });
      const context = resolve(path);
      const st = await stat(context).catch(() => undefined);
      if (!st?.isDirectory()) throw new UsageError(`${context} is not a directory`);
      const dockerfile = await dockerfileIn(context, flags.file);
      const server = await resolveServer(flags.server);
      const { repository, tags } = targetsOf(flags.tag, new URL(server.url).host);
      const out = await runRemoteBuild(
        server,
        {
          contextDir: context,
          dockerfile,
          repository,
          tags,
          buildArgs: pairs('--build-arg', flags.buildArg),
          ...(flags.target ? { target: flags.target } : {}),
          platforms: flags.platform.flatMap((p) => p.split(',')).filter(Boolean),
          noCache: !flags.cache,
        },
        (line) => process.stderr.write(`${line}\n`),
      );
      if (out.state === 'succeeded') {
        process.stderr.write(`pushed ${out.images.join(', ')}\n`);
        process.stdout.write(`${out.digest ?? ''}\n`);
        return;
      }
      if (out.state === 'canceled') throw new OpenCloudError(`build ${out.id} was canceled`);
      const step = out.failedStep ? ` at step ${out.failedStep.name}` : '';
      throw new OpenCloudError(
        `build ${out.id} failed${step}: ${out.error ?? out.failedStep?.error ?? 'no reason given'}`,
        {
          hint: `the whole log: ${server.url}/api/v1/builds/${out.id}/logs`,
        },
      );
    });
}
