// `opencloud policies …`: the registry's policies as code, on the data dir's state (a running
// server applies a change on the next push or delete). `list` shows them in the ledger
// document's shape; `immutable-tags set|remove` keeps tags matching an expression fixed in the
// repositories matching a pattern; `retention set|remove` says which tags garbage collection
// keeps (`opencloud gc --dry-run` names what it would delete). Each change is audited.
import { Command, Option } from 'commander';
import { UsageError } from '../errors.js';
import {
  immutableTagRules,
  PolicyError,
  setImmutableTagRules,
  type ImmutableTagRule,
} from '../policies/immutable-tags.js';
import { quotaRules, quotaUsage, setQuotaRules, type QuotaRule } from '../policies/quotas.js';
import { retentionRules, setRetentionRules, type RetentionRule } from '../policies/retention.js';
import type { StateStore } from '../state/store.js';
import { withCommandState } from './command-state.js';
import { withConfigOptions, type ConfigOptions } from './options.js';

function withState<T>(
  opts: ConfigOptions,
  fn: (state: StateStore) => Promise<T>,
  audit?: { action: string; target: string },
): Promise<T> {
  return withCommandState(opts, fn, { ...(audit ? { audit: () => audit } : {}), refusal: PolicyError });
}

/** One kind of rule as the commands change it: read, write, its audit action, its name in messages. */
interface RuleKind<R extends { repositories: string }> {
  get(state: StateStore): Promise<R[]>;
  set(state: StateStore, rules: R[]): Promise<void>;
  action: string;
  noun: string;
}

const IMMUTABLE: RuleKind<ImmutableTagRule> = {
  get: immutableTagRules,
  set: setImmutableTagRules,
  action: 'policy-immutable-tags',
  noun: 'immutable-tags rule',
};
const RETENTION: RuleKind<RetentionRule> = {
  get: retentionRules,
  set: setRetentionRules,
  action: 'policy-retention',
  noun: 'retention rule',
};
const QUOTAS: RuleKind<QuotaRule> = {
  get: quotaRules,
  set: setQuotaRules,
  action: 'policy-quotas',
  noun: 'quota',
};

/**
 * Puts `rule` in place of the kind's rule for `repositories`, or (no `rule`) removes that one — a
 * usage error when there is none. Audited.
 */
function changeRule<R extends { repositories: string }>(
  opts: ConfigOptions,
  kind: RuleKind<R>,
  repositories: string,
  rule?: R,
): Promise<void> {
  return withState(
    opts,
    async (s) => {
      const rules = await kind.get(s);
      const others = rules.filter((r) => r.repositories !== repositories);
      if (!rule && others.length === rules.length)
        throw new UsageError(`no ${kind.noun} for ${repositories}`);
      await kind.set(s, rule ? [...others, rule] : others);
    },
    { action: kind.action, target: repositories },
  );
}

/** `<group> remove <repositories>` for one kind; `done` is what it prints. */
function removeCommand<R extends { repositories: string }>(
  group: Command,
  kind: RuleKind<R>,
  description: string,
  done: (repositories: string) => string,
): void {
  withConfigOptions(
    group
      .command('remove')
      .argument('<repositories>', `the ${kind.noun === 'quota' ? 'quota' : 'rule'}’s repository pattern`)
      .description(description),
  ).action(async (repositories: string, opts: ConfigOptions) => {
    await changeRule(opts, kind, repositories);
    process.stdout.write(`${done(repositories)}\n`);
  });
}

export function policiesCommand(): Command {
  const policies = new Command('policies').description('policies: retention, immutable tags and quotas');
  withConfigOptions(policies.command('list').description('the policies, as the ledger document holds them'))
    .addOption(new Option('--json', 'print JSON'))
    .action(async (opts: ConfigOptions & { json?: boolean }) => {
      const { retention, immutableTags, quotas } = await withState(opts, async (s) => ({
        retention: await retentionRules(s),
        immutableTags: await immutableTagRules(s),
        quotas: await quotaUsage(s),
      }));
      if (opts.json) {
        const limits = quotas.map((q) => ({ repositories: q.repositories, bytes: q.bytes }));
        return void process.stdout.write(
          JSON.stringify({ retention, immutableTags, quotas: limits }, null, 2) + '\n',
        );
      }
      if (immutableTags.length + retention.length + quotas.length === 0)
        process.stdout.write('no policies\n');
      for (const q of quotas)
        process.stdout.write(`quota  ${q.repositories}  ${q.bytes} bytes (${q.used} used)\n`);
      for (const { repositories, ...rule } of retention)
        process.stdout.write(
          `retention  ${repositories}  ${Object.entries(rule)
            .map(([k, v]) => `${k}=${String(v)}`)
            .join(' ')}\n`,
        );
      for (const r of immutableTags) process.stdout.write(`immutable-tags  ${r.repositories}  /${r.tags}/\n`);
    });

  const immutable = policies
    .command('immutable-tags')
    .description('tags pushed once and then never moved or deleted (admins included)');
  withConfigOptions(
    immutable
      .command('set')
      .argument('<repositories>', 'repository pattern: team/app, team/*, team/**')
      .argument('<tags>', 'regular expression over tag names, e.g. ^v[0-9]')
      .description('keep matching tags fixed (replaces the rule for the same repositories)'),
  ).action(async (repositories: string, tags: string, opts: ConfigOptions) => {
    await changeRule(opts, IMMUTABLE, repositories, { repositories, tags });
    process.stdout.write(`tags matching /${tags}/ in ${repositories} are immutable\n`);
  });
  removeCommand(
    immutable,
    IMMUTABLE,
    'remove the rule for these repositories',
    (r) => `the immutable-tags rule for ${r} is removed`,
  );
  const retention = policies
    .command('retention')
    .description('which tags and untagged manifests garbage collection deletes');
  const count = (flag: string) => (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new UsageError(`${flag} ${v}: a whole number of 0 or more`);
    return n;
  };
  withConfigOptions(
    retention
      .command('set')
      .argument('<repositories>', 'repository pattern: team/app, team/*, team/**')
      .description('keep tags as these say; the others go at the next collection (replaces the rule)'),
  )
    .addOption(
      new Option('--keep-last <n>', 'the n newest tags by push time').argParser(count('--keep-last')),
    )
    .addOption(new Option('--keep-tags <regex>', 'tags matching this expression'))
    .addOption(
      new Option('--pulled-within-days <n>', 'tags pulled within n days').argParser(
        count('--pulled-within-days'),
      ),
    )
    .addOption(
      new Option('--untagged-after-days <n>', 'delete untagged manifests older than n days').argParser(
        count('--untagged-after-days'),
      ),
    )
    .action(
      async (
        repositories: string,
        opts: ConfigOptions & {
          keepLast?: number;
          keepTags?: string;
          pulledWithinDays?: number;
          untaggedAfterDays?: number;
        },
      ) => {
        const rule: RetentionRule = { repositories };
        if (opts.keepLast !== undefined) rule.keepLast = opts.keepLast;
        if (opts.keepTags !== undefined) rule.keepTags = opts.keepTags;
        if (opts.pulledWithinDays !== undefined) rule.pulledWithinDays = opts.pulledWithinDays;
        if (opts.untaggedAfterDays !== undefined) rule.untaggedAfterDays = opts.untaggedAfterDays;
        await changeRule(opts, RETENTION, repositories, rule);
        process.stdout.write(
          `retention for ${repositories} set; \`opencloud gc --dry-run\` names what it would delete\n`,
        );
      },
    );
  removeCommand(
    retention,
    RETENTION,
    'remove the retention rule for these repositories',
    (r) => `the retention rule for ${r} is removed`,
  );
  const quota = policies
    .command('quotas')
    .description('bytes a namespace may store (each blob counted once)');
  withConfigOptions(
    quota
      .command('set')
      .argument('<repositories>', 'repository pattern: team/app, team/*, team/**')
      .argument('<bytes>', 'the limit in bytes, or with a unit: 500MiB, 10GiB')
      .description('limit what matching repositories store together (replaces the quota)'),
  ).action(async (repositories: string, size: string, opts: ConfigOptions) => {
    const bytes = parseBytes(size);
    await changeRule(opts, QUOTAS, repositories, { repositories, bytes });
    process.stdout.write(`${repositories} may store ${bytes} bytes\n`);
  });
  removeCommand(quota, QUOTAS, 'remove the quota', (r) => `the quota of ${r} is removed`);
  return policies;
}

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
};

/** `10GiB`, `500MB`, `1048576` as bytes. */
export function parseBytes(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  const unit = UNITS[(m?.[2] ?? '').toLowerCase()];
  const bytes = m && unit ? Math.round(Number(m[1]) * unit) : NaN;
  if (!Number.isSafeInteger(bytes) || bytes <= 0)
    throw new UsageError(`${text}: a size in bytes, or with a unit (KiB, MiB, GiB, TiB, KB, MB, GB, TB)`);
  return bytes;
}
