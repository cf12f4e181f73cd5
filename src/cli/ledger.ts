// `opencloud ledger export|diff|apply`: this instance as one versioned JSON document, what
// applying a document here would change, and applying it (through the installer, idempotently)
// to reproduce an instance's services on another host.
import { confirm } from './confirm.js';
import { reexecAsRoot } from './root.js';
import { Command, Option } from 'commander';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EXIT, OpenCloudError, UsageError } from '../errors.js';
import { applyPolicies, applySummary, executeApply, prepareApply } from '../ledger/apply.js';
import { compareDocuments, describeDifference, isServiceDifference } from '../ledger/diff.js';
import { emptyDocument, type LedgerDocument } from '../ledger/document.js';
import { exportDocument, writeDocument } from '../ledger/export.js';
import { parseDocument } from '../ledger/validate.js';
import type { Config } from '../config/schema.js';
import { openState as openRegistryState } from '../state/open.js';
import type { StateStore } from '../state/store.js';
import { configFrom, withConfigOptions, type ConfigOptions } from './options.js';
import { usableDataDir } from '../doctor/data-dir.js';

interface LedgerCliOptions extends ConfigOptions {
  output?: string;
  json?: boolean;
  yes?: boolean;
}

/** The state store of `dataDir`; undefined when it has none and `create` is false. */
async function openState(dataDir: string, create: boolean): Promise<StateStore | undefined> {
  if (!create && !existsSync(join(dataDir, 'state.db'))) return undefined;
  await usableDataDir(dataDir);
  const { openStateAsOwner } = await import('../state/ownership.js');
  return openStateAsOwner(dataDir);
}

/** `state` as a document, its repositories from the shared PostgreSQL when one is configured. */
async function documentOf(config: Config, state: StateStore): Promise<LedgerDocument> {
  if (!config.state.postgresUrl) return exportDocument(state);
  const registry = await openRegistryState(config);
  try {
    return await exportDocument(state, new Date(), registry);
  } finally {
    await registry.close();
  }
}

/** This instance as a document (an empty one when the data dir has no state yet). */
async function currentDocument(config: Config): Promise<LedgerDocument> {
  const state = await openState(config.dataDir, false);
  if (!state) return emptyDocument();
  try {
    return await documentOf(config, state);
  } finally {
    await state.close();
  }
}

async function readDocument(file: string): Promise<LedgerDocument> {
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new UsageError(`cannot read ${file}: ${err.code ?? err.message}`);
  });
  return parseDocument(text, file);
}

async function exportAction(opts: LedgerCliOptions): Promise<void> {
  const { config } = configFrom(opts);
  const state = await openState(config.dataDir, false);
  if (!state) {
    throw new OpenCloudError(
      `no OpenCloud state in ${config.dataDir} (state.db is missing): nothing to export`,
      {
        hint: 'pass --data-dir (or --config) of the instance to export',
      },
    );
  }
  try {
    const text = await writeDocument(await documentOf(config, state), opts.output);
    if (opts.output === undefined) process.stdout.write(text);
  } finally {
    await state.close();
  }
}

async function diffAction(file: string, opts: LedgerCliOptions): Promise<void> {
  const doc = await readDocument(file);
  const { config } = configFrom(opts);
  const differences = compareDocuments(doc, await currentDocument(config));
  if (opts.json) {
    const rows = differences.map((d) => ({ ...d, message: describeDifference(d) }));
    process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
  } else {
    const lines = differences.length === 0 ? ['no differences'] : differences.map(describeDifference);
    process.stdout.write(lines.join('\n') + '\n');
  }
  if (differences.length > 0) process.exitCode = EXIT.failure;
}

async function applyAction(file: string, opts: LedgerCliOptions): Promise<void> {
  const doc = await readDocument(file);
  const { config } = configFrom(opts);
  const out = (line: string) => process.stdout.write(line + '\n');
  const say = opts.json ? () => undefined : out;
  const first = prepareApply(doc, await currentDocument(config));
  if (first.actions.length > 0) {
    const status = reexecAsRoot();
    if (status !== undefined) {
      process.exitCode = status;
      return;
    }
  }
  let prepared = first;
  let outcomes: Awaited<ReturnType<typeof executeApply>> = [];
  if (first.actions.length > 0) {
    const { humanRenderer } = await import('../installer/render.js');
    const { runService } = await import('../installer/container-registry.js');
    const state = (await openState(config.dataDir, true)) as StateStore;
    try {
      prepared = prepareApply(doc, await documentOf(config, state)); // as of now, under root
      for (const d of prepared.differences.filter(isServiceDifference)) say(describeDifference(d));
      const interactive = !opts.yes && !opts.json && process.stdin.isTTY && process.stdout.isTTY;
      outcomes = await executeApply(prepared, {
        state,
        config,
        run: runService,
        emit: opts.json ? (e) => out(JSON.stringify(e)) : humanRenderer(process.stdout),
        say,
        ...(interactive ? { confirm } : {}),
      });
    } finally {
      await state.close();
    }
  }
  // Policies go to the registry's state (the shared PostgreSQL when configured), after the services.
  if (prepared.policies.length > 0 && !outcomes.some((o) => o.status !== 'applied')) {
    const registry = config.state.postgresUrl
      ? await openRegistryState(config)
      : ((await openState(config.dataDir, true)) as StateStore);
    try {
      (await applyPolicies(doc, prepared, registry)).forEach(say);
    } finally {
      await registry.close();
    }
  }
  for (const d of prepared.registry)
    say(`${describeDifference(d)}: not applied, copy it with a registry client`);
  const summary = applySummary(prepared, outcomes);
  if (opts.json) {
    out(
      JSON.stringify({
        type: 'ledger-apply',
        differences: prepared.differences.map((d) => ({ ...d, message: describeDifference(d) })),
        services: outcomes,
        summary,
      }),
    );
  } else {
    summary.forEach(out);
  }
  if (outcomes.some((o) => o.status === 'failed' || o.status === 'plan-failed'))
    process.exitCode = EXIT.failure;
}

export function ledgerCommand(): Command {
  const ledger = new Command('ledger').description(
    'this instance as one JSON document: export it, compare one with it, apply one to it',
  );
  withConfigOptions(
    ledger
      .command('export')
      .description('write the services and registry contents as a versioned JSON document'),
  )
    .addOption(new Option('-o, --output <file>', 'write to this file (atomically) instead of stdout'))
    .action((opts: LedgerCliOptions) => exportAction(opts));
  withConfigOptions(
    ledger
      .command('diff')
      .description('what applying the document would change here (exit 1 when anything would)')
      .argument('<file>', 'a document from `opencloud ledger export`'),
  )
    .addOption(new Option('--json', 'print the differences as JSON').env('OPENCLOUD_JSON'))
    .action((file: string, opts: LedgerCliOptions) => diffAction(file, opts));
  withConfigOptions(
    ledger
      .command('apply')
      .description("make this instance's services what the document says (plan, then enable or disable)")
      .argument('<file>', 'a document from `opencloud ledger export`'),
  )
    .addOption(new Option('--yes', 'do not ask before changing the host').env('OPENCLOUD_YES'))
    .addOption(
      new Option('--json', 'print JSON (run events, one per line, then a summary)').env('OPENCLOUD_JSON'),
    )
    .action((file: string, opts: LedgerCliOptions) => applyAction(file, opts));
  return ledger;
}
