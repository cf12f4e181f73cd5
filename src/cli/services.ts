// `opencloud services list|plan|enable|status|doctor|disable container-registry`: the installer
// and the ledger from the command line. Every option also reads an OPENCLOUD_* variable.
import { confirm } from './confirm.js';
import { reexecAsRoot } from './root.js';
import { Command, Option } from 'commander';
import { EXIT, UsageError } from '../errors.js';
import type { RunResult } from '../installer/engine.js';
import { resolveInstallOptions, type InstallOptions } from '../installer/options.js';
import { humanRenderer } from '../installer/render.js';
import type { StateStore } from '../state/store.js';
import { configFrom, withConfigOptions, type ConfigOptions } from './options.js';

interface ServicesCliOptions extends ConfigOptions {
  source: string;
  tarball?: string;
  sha256?: string;
  mirror?: string;
  init: string;
  yes?: boolean;
  json?: boolean;
  purge?: boolean;
  readyTimeout: string;
  lockTimeout: string;
}

const SERVICES = ['container-registry'];

function withInstallOptions(cmd: Command): Command {
  const opt = (flags: string, description: string, env: string) => new Option(flags, description).env(env);
  return withConfigOptions(cmd)
    .addOption(
      opt('--source <source>', 'where BuildKit comes from', 'OPENCLOUD_SOURCE')
        .choices(['release', 'tarball', 'go'])
        .default('release'),
    )
    .addOption(
      opt('--tarball <path>', 'a local BuildKit release tarball (--source tarball)', 'OPENCLOUD_TARBALL'),
    )
    .addOption(
      opt(
        '--sha256 <hex>',
        'expected sha256 of the tarball, when it is not the pinned one',
        'OPENCLOUD_SHA256',
      ),
    )
    .addOption(
      opt('--mirror <url>', 'base URL that mirrors the BuildKit release downloads', 'OPENCLOUD_MIRROR'),
    )
    .addOption(
      opt('--init <mode>', 'how daemons are run', 'OPENCLOUD_INIT')
        .choices(['auto', 'systemd', 'direct'])
        .default('auto'),
    )
    .addOption(opt('--yes', 'do not ask before changing the host', 'OPENCLOUD_YES'))
    .addOption(opt('--json', 'print JSON (events, one per line, for runs)', 'OPENCLOUD_JSON'))
    .addOption(
      opt(
        '--ready-timeout <seconds>',
        'how long a started daemon may take to answer',
        'OPENCLOUD_READY_TIMEOUT',
      ).default('60'),
    )
    .addOption(
      opt(
        '--lock-timeout <seconds>',
        'how long apt waits for the dpkg lock',
        'OPENCLOUD_LOCK_TIMEOUT',
      ).default('120'),
    );
}

export function installOptions(opts: ServicesCliOptions): InstallOptions {
  return resolveInstallOptions(opts, configFrom(opts).config);
}

async function openLedger(dataDir: string) {
  const { openStateAsOwner } = await import('../state/ownership.js');
  const { Ledger } = await import('../ledger/records.js');
  const { usableDataDir } = await import('../doctor/data-dir.js');
  await usableDataDir(dataDir);
  const state = await openStateAsOwner(dataDir);
  return { ledger: new Ledger(state), state, close: () => state.close() };
}

function checkService(name: string): void {
  if (!SERVICES.includes(name))
    throw new UsageError(`unknown service ${name}; services: ${SERVICES.join(', ')}`);
}

async function runAction(
  action: 'plan' | 'enable' | 'disable',
  name: string,
  opts: ServicesCliOptions,
): Promise<void> {
  checkService(name);
  if (action !== 'plan') {
    const status = reexecAsRoot();
    if (status !== undefined) {
      process.exitCode = status;
      return;
    }
  }
  const options = installOptions(opts);
  const { runService } = await import('../installer/container-registry.js');
  const { ledger, state, close } = await openLedger(options.dataDir);
  try {
    const interactive = !opts.yes && !opts.json && process.stdin.isTTY && process.stdout.isTTY;
    if (interactive && action !== 'plan') {
      const plan = await runService(
        action === 'enable' ? 'plan' : action,
        { ...options, purge: opts.purge ?? false },
        ledger,
        {
          emit: humanRenderer(process.stdout),
        },
      );
      if (action === 'disable' || plan.recap.changed > 0) {
        if (!(await confirm(`${action} ${name}: apply these changes? [y/N] `))) {
          process.stdout.write('nothing was changed\n');
          return;
        }
      }
    }
    const emit = opts.json
      ? (e: object) => process.stdout.write(JSON.stringify(e) + '\n')
      : humanRenderer(process.stdout);
    const result: RunResult = await runService(action, { ...options, purge: opts.purge ?? false }, ledger, {
      emit,
    });
    if (result.recap.failed > 0) process.exitCode = EXIT.failure;
    if (action !== 'plan') await announceRun(state, opts, name, action, result);
  } finally {
    await close();
  }
}

/** Queues the run's service.changed event for the server's webhook worker (never fails the run). */
async function announceRun(
  state: StateStore,
  opts: ServicesCliOptions,
  service: string,
  action: 'enable' | 'disable',
  result: RunResult,
): Promise<void> {
  try {
    const { announce } = await import('../webhooks/announce.js');
    const { Ledger } = await import('../ledger/records.js');
    const { userInfo } = await import('node:os');
    await announce(state, configFrom(opts).config, {
      name: 'service.changed',
      subject: service,
      data: {
        service,
        action,
        outcome: result.recap.failed === 0 ? 'ok' : 'failed',
        state: (await new Ledger(state).service(service))?.state ?? null,
        runId: result.runId,
        recap: result.recap,
        actor: `cli:${userInfo().username}`,
      },
    });
  } catch (err) {
    process.stderr.write(`opencloud: could not queue the webhook event: ${(err as Error).message}\n`);
  }
}

async function status(name: string, opts: ServicesCliOptions, doctor: boolean): Promise<void> {
  checkService(name);
  const options = installOptions(opts);
  const { serviceStatus, formatStatus } = await import('../installer/status.js');
  const { ledger, close } = await openLedger(options.dataDir);
  try {
    const report = await serviceStatus(options, ledger, doctor);
    process.stdout.write(opts.json ? JSON.stringify(report, null, 2) + '\n' : formatStatus(report));
    if (doctor && !report.healthy) process.exitCode = EXIT.unavailable;
  } finally {
    await close();
  }
}

export function servicesCommand(): Command {
  const services = new Command('services').description(
    'install, verify and remove the services OpenCloud runs on',
  );
  services
    .command('list')
    .description('the services and whether each is enabled')
    .addOption(new Option('--json', 'print JSON'))
    .addOption(new Option('--config <file>'))
    .addOption(new Option('--data-dir <dir>'))
    .action(async (opts: ConfigOptions & { json?: boolean }) => {
      const { config } = configFrom(opts);
      const { ledger, close } = await openLedger(config.dataDir);
      try {
        const rows = await Promise.all(
          SERVICES.map(async (n) => ({ name: n, state: (await ledger.service(n))?.state ?? 'disabled' })),
        );
        process.stdout.write(
          opts.json ? JSON.stringify(rows) + '\n' : rows.map((r) => `${r.name}\t${r.state}\n`).join(''),
        );
      } finally {
        await close();
      }
    });
  const sub = (
    verb: string,
    description: string,
    action: (name: string, o: ServicesCliOptions) => Promise<void>,
  ) =>
    withInstallOptions(services.command(verb).description(description).argument('<service>')).action(action);
  sub('plan', 'show what enabling would change on this host (read-only, with diffs)', (n, o) =>
    runAction('plan', n, o),
  );
  sub('enable', 'install, start and verify the service (idempotent; rolls back on failure)', (n, o) =>
    runAction('enable', n, o),
  );
  sub('disable', 'remove exactly what enabling put on this host', (n, o) =>
    runAction('disable', n, o),
  ).addOption(new Option('--purge', "also delete BuildKit's state directory"));
  sub('status', 'what the ledger records and what is running now', (n, o) => status(n, o, false));
  sub('doctor', 'status, plus whether the host drifted from what was installed', (n, o) =>
    status(n, o, true),
  );
  return services;
}
