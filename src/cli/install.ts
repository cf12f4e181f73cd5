// `opencloud install` and `opencloud uninstall`: OpenCloud itself as a systemd service on this
// host (see src/deploy/). Both show their plan and ask first on a terminal unless --yes.
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { parse as parseYaml } from 'yaml';
import { parseListen } from '../config/schema.js';
import { EXIT, UsageError } from '../errors.js';
import { seconds } from '../installer/options.js';
import { PACKAGE_ROOT } from '../paths.js';
import { CONFIG_FILE, INSTALLED_DATA_DIR } from '../deploy/paths.js';
import type { DeployOptions } from '../deploy/steps.js';
import { humanRenderer } from '../installer/render.js';
import { confirm } from './confirm.js';
import { reexecAsRoot } from './root.js';

interface InstallCliOptions {
  listen?: string;
  dataDir?: string;
  yes?: boolean;
  json?: boolean;
  dryRun?: boolean;
  purge?: boolean;
  readyTimeout: string;
  lockTimeout: string;
}

/** The installed config file's listen and dataDir, when there is one (an upgrade keeps them). */
function installedSettings(): { listen?: string; dataDir?: string } {
  try {
    const doc = parseYaml(readFileSync(CONFIG_FILE, 'utf8')) as Record<string, unknown> | null;
    return {
      ...(typeof doc?.listen === 'string' ? { listen: doc.listen } : {}),
      ...(typeof doc?.dataDir === 'string' ? { dataDir: doc.dataDir } : {}),
    };
  } catch {
    return {};
  }
}

function deployOptions(o: InstallCliOptions): DeployOptions {
  const current = installedSettings();
  const listen = o.listen ?? current.listen ?? '127.0.0.1:5000';
  const parsed = parseListen(listen);
  if (!parsed.ok) throw new UsageError(`--listen must be ${parsed.allowed}, got ${listen}`);
  const dataDir = o.dataDir ?? current.dataDir ?? INSTALLED_DATA_DIR;
  if (!dataDir.startsWith('/')) throw new UsageError(`--data-dir must be an absolute path, got ${dataDir}`);
  return {
    listen,
    listenGiven: o.listen !== undefined,
    dataDir,
    source: PACKAGE_ROOT,
    node: process.execPath,
    readyTimeout: seconds('--ready-timeout', o.readyTimeout),
    lockTimeout: seconds('--lock-timeout', o.lockTimeout),
  };
}

async function run(verb: 'install' | 'uninstall', o: InstallCliOptions): Promise<void> {
  const again = reexecAsRoot();
  if (again !== undefined) {
    process.exitCode = again;
    return;
  }
  const opts = { ...deployOptions(o), purge: o.purge ?? false };
  const { runDeploy } = await import('../deploy/run.js');
  const emit = o.json
    ? (e: object) => process.stdout.write(JSON.stringify(e) + '\n')
    : humanRenderer(process.stdout);
  const plan = verb === 'install' ? 'plan-install' : 'plan-uninstall';
  if (o.dryRun) {
    const r = await runDeploy(plan, opts, { emit });
    if (r.recap.failed > 0) process.exitCode = EXIT.failure;
    return;
  }
  if (!o.yes && !o.json && process.stdin.isTTY && process.stdout.isTTY) {
    const r = await runDeploy(plan, opts, { emit });
    if (r.recap.failed > 0) {
      process.exitCode = EXIT.failure;
      return;
    }
    if (r.recap.changed === 0) return;
    if (!(await confirm(`${verb}: apply these changes? [y/N] `))) {
      process.stdout.write('nothing was changed\n');
      return;
    }
  }
  const r = await runDeploy(verb, opts, { emit });
  if (r.recap.failed > 0) process.exitCode = EXIT.failure;
}

const common = (cmd: Command) =>
  cmd
    .addOption(new Option('--yes', 'do not ask before changing the host'))
    .addOption(new Option('--json', 'print the run as JSON events, one per line'))
    .addOption(new Option('--dry-run', 'show what would change (with diffs), change nothing'))
    .addOption(
      new Option('--ready-timeout <seconds>', 'how long the service may take to answer').default('60'),
    )
    .addOption(new Option('--lock-timeout <seconds>', 'how long apt waits for the dpkg lock').default('120'));

export function installCommand(): Command {
  return common(
    new Command('install')
      .description(
        'install OpenCloud as a systemd service running as user opencloud (idempotent; upgrades in place)',
      )
      .addOption(
        new Option(
          '--listen <host:port>',
          'address to serve on (default: the config file, else 127.0.0.1:5000)',
        ),
      )
      .addOption(new Option('--data-dir <dir>', `data directory (default ${INSTALLED_DATA_DIR})`)),
  ).action((o: InstallCliOptions) => run('install', o));
}

export function uninstallCommand(): Command {
  return common(
    new Command('uninstall')
      .description('remove what install put on this host; data and config stay unless --purge')
      .addOption(new Option('--purge', 'also delete the data directory and the config file'))
      .addOption(
        new Option(
          '--data-dir <dir>',
          `data directory (default: the config file, else ${INSTALLED_DATA_DIR})`,
        ),
      ),
  ).action((o: InstallCliOptions) => run('uninstall', o));
}
