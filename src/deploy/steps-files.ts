// Install steps that write files: the config (validated as the server would), the program tree
// and the sudoers rule (checked by visudo first).
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exec, mustExec } from '../installer/host/exec.js';
import { managedFile } from '../installer/host/managed-file.js';
import { StepError, type Step } from '../installer/types.js';
import { loadConfig } from '../config/load.js';
import { merged, renderNew } from './config-file.js';
import { sudoersRule } from './files.js';
import {
  CONFIG_DIR,
  CONFIG_FILE,
  PRIVILEGED_HELPER,
  PROGRAM_DIR,
  SERVICE_USER,
  SUDOERS_FILE,
} from './paths.js';
import { driftedFiles, installedManifest, installTree, type TreeManifest } from './program-tree.js';
import type { DeployOptions } from './options.js';

/** The server would refuse to start with an invalid file: refuse it here, before anything changes. */
async function validate(text: string): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'opencloud-config-'));
  try {
    await writeFile(join(dir, 'config.yaml'), text);
    loadConfig({ configFile: join(dir, 'config.yaml'), env: {} });
  } catch (err) {
    throw new StepError(
      `${CONFIG_FILE} would not be accepted by the server: ${(err as Error).message.replace(join(dir, 'config.yaml'), CONFIG_FILE)}`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function configFile(o: DeployOptions): Step {
  const settings = { listen: o.listen, dataDir: o.dataDir };
  const overrides = new Set(o.listenGiven ? ['listen'] : []);
  const wanted = async () => {
    const now = await readFile(CONFIG_FILE, 'utf8').catch(() => undefined);
    return { now, text: now === undefined ? renderNew(settings) : merged(now, settings, overrides) };
  };
  const file = (text: string) =>
    managedFile({
      id: 'config-file',
      title: '',
      path: CONFIG_FILE,
      content: text,
      mode: 0o640,
      role: 'config',
      group: SERVICE_USER,
    });
  return {
    id: 'config-file',
    title: `${CONFIG_FILE} (0640 root:${SERVICE_USER}; written once, later installs only add missing keys)`,
    async plan(run) {
      const { now, text } = await wanted();
      await validate(text);
      const changes = await file(text).plan(run);
      if (now !== undefined && changes.length > 0 && now !== text)
        run.log(`${CONFIG_FILE} exists: only the keys it lacks are added`);
      return changes;
    },
    async apply(ctx, planned, run) {
      if (!existsSync(CONFIG_DIR)) {
        await mkdir(CONFIG_DIR, { mode: 0o755 });
        ctx.record({ kind: 'directory', path: CONFIG_DIR });
      }
      return file((await wanted()).text).apply(ctx, planned, run);
    },
  };
}

export function program(o: DeployOptions, manifest: { value?: TreeManifest }): Step {
  return {
    id: 'program',
    title: `the program in ${PROGRAM_DIR} (bin, dist, proto, production node_modules)`,
    async plan() {
      const want = manifest.value as TreeManifest;
      const have = await installedManifest(PROGRAM_DIR);
      if (have?.digest === want.digest) {
        // The same program, unless files were changed in place since: then it is put back whole.
        const drifted = await driftedFiles(PROGRAM_DIR, have);
        if (drifted.length === 0) return [];
        return [
          {
            kind: 'tree',
            target: PROGRAM_DIR,
            action: 'update',
            detail: `${drifted.length} installed files differ from the manifest (${drifted.slice(0, 3).join(', ')}${drifted.length > 3 ? ', …' : ''}): reinstalled from ${o.source}`,
          },
        ];
      }
      const paths = (m?: TreeManifest) => new Map(m?.entries.map((e) => [e.path, e.sha256 ?? e.target]));
      const before = paths(have);
      const after = paths(want);
      const added = [...after.keys()].filter((p) => !before.has(p)).length;
      const removed = [...before.keys()].filter((p) => !after.has(p)).length;
      const changed = [...after.keys()].filter((p) => before.has(p) && before.get(p) !== after.get(p)).length;
      return [
        {
          kind: 'tree',
          target: PROGRAM_DIR,
          action: have ? 'update' : 'create',
          detail: have
            ? `${changed} files changed, ${added} added, ${removed} removed (from ${o.source})`
            : `${want.entries.length} files from ${o.source}`,
        },
      ];
    },
    async apply(ctx) {
      const prior = await installTree(o.source, PROGRAM_DIR, manifest.value as TreeManifest);
      ctx.record({ kind: 'tree', path: PROGRAM_DIR, ...(prior ? { prior } : {}) });
    },
    async verify() {
      const m = await installedManifest(PROGRAM_DIR);
      if (!m) throw new StepError(`${PROGRAM_DIR} has no manifest`);
      const drifted = await driftedFiles(PROGRAM_DIR, m);
      if (drifted.length > 0)
        throw new StepError(
          `${PROGRAM_DIR}: ${drifted.length} files differ from what was installed`,
          drifted.slice(0, 10).join('\n'),
        );
    },
  };
}

export function sudoers(): Step {
  const file = managedFile({
    id: 'sudoers',
    title: '',
    path: SUDOERS_FILE,
    content: sudoersRule(),
    mode: 0o440,
    role: 'config',
  });
  return {
    id: 'sudoers',
    title: `${SUDOERS_FILE}: ${SERVICE_USER} may run ${PRIVILEGED_HELPER} as root, nothing else`,
    plan: (run) => file.plan(run),
    async apply(ctx, planned, run) {
      // visudo checks the rule before sudo ever reads it: a broken drop-in would break sudo for everyone.
      const dir = await mkdtemp(join(tmpdir(), 'opencloud-sudoers-'));
      try {
        await writeFile(join(dir, 'opencloud'), sudoersRule(), { mode: 0o440 });
        await mustExec('visudo', ['-c', '-q', '-f', join(dir, 'opencloud')]);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
      return file.apply(ctx, planned, run);
    },
    async verify() {
      // As the service user would: sudo lists the helper as allowed (and asks for no password).
      const r = await exec('runuser', ['-u', SERVICE_USER, '--', 'sudo', '-n', '-l', PRIVILEGED_HELPER]);
      if (r.code !== 0 || r.stdout.trim() !== PRIVILEGED_HELPER)
        throw new StepError(
          `sudo does not allow ${SERVICE_USER} to run ${PRIVILEGED_HELPER}`,
          (r.stderr || r.stdout).trim(),
        );
    },
  };
}
