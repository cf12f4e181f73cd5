// `opencloud policies …`: the registry's policies as code, on the data dir's state (a running
// server applies a change on the next push or delete). `list` shows them in the ledger
// document's shape; `immutable-tags set|remove` keeps tags matching an expression fixed in the
// repositories matching a pattern; `retention set|remove` says which tags garbage collection
// keeps (`opencloud gc --dry-run` names what it would delete). Each change is audited.
import { Command, Option } from 'commander';
import { UsageError } from '../errors.js';
import { immutableTagRules, PolicyError, setImmutableTagRules } from '../policies/immutable-tags.js';
import { quotaRules, quotaUsage, setQuotaRules } from '../policies/quotas.js';
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

/** The rules with `rule` in place of any for the same repositories (or without them: `rule` undefined). */
function withRule<R extends { repositories: string }>(rules: R[], repositories: string, rule?: R): R[] {
  return [...rules.filter((r) => r.repositories !== repositories), ...(rule ? [rule] : [])];
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
    await withState(
      opts,
      async (s) =>
        setImmutableTagRules(s, withRule(await immutableTagRules(s), repositories, { repositories, tags })),
      { action: 'policy-immutable-tags', target: repositories },
    );
    process.stdout.write(`tags matching /${tags}/ in ${repositories} are immutable\n`);
  });
  withConfigOptions(
    immutable
      .command('remove')
      .argument('<repositories>', 'the rule’s repository pattern')
      .description('remove the rule for these repositories'),
  ).action(async (repositories: string, opts: ConfigOptions) => {
    await withState(
      opts,
      async (s) => {
        const rules = await immutableTagRules(s);
        if (!rules.some((r) => r.repositories === repositories))
          throw new UsageError(`no immutable-tags rule for ${repositories}`);
        await setImmutableTagRules(s, withRule(rules, repositories));
      },
      { action: 'policy-immutable-tags', target: repositories },
    );
    process.stdout.write(`the immutable-tags rule for ${repositories} is removed\n`);
  });
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
        await withState(
          opts,
          async (s) => setRetentionRules(s, withRule(await retentionRules(s), repositories, rule)),
          { action: 'policy-retention', target: repositories },
        );
        process.stdout.write(
          `retention for ${repositories} set; \`opencloud gc --dry-run\` names what it would delete\n`,
        );
      },
    );
  withConfigOptions(
    retention
      .command('remove')
      .argument('<repositories>', 'the rule’s repository pattern')
      .description('remove the retention rule for these repositories'),
  ).action(async (repositories: string, opts: ConfigOptions) => {
    await withState(
      opts,
      async (s) => {
        const rules = await retentionRules(s);
        if (!rules.some((r) => r.repositories === repositories))
          throw new UsageError(`no retention rule for ${repositories}`);
        await setRetentionRules(s, withRule(rules, repositories));
      },
      { action: 'policy-retention', target: repositories },
    );
    process.stdout.write(`the retention rule for ${repositories} is removed\n`);
  });
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
    await withState(
      opts,
      async (s) => setQuotaRules(s, withRule(await quotaRules(s), repositories, { repositories, bytes })),
      { action: 'policy-quotas', target: repositories },
    );
    process.stdout.write(`${repositories} may store ${bytes} bytes\n`);
  });
  withConfigOptions(
    quota
      .command('remove')
      .argument('<repositories>', 'the quota’s repository pattern')
      .description('remove the quota'),
  ).action(async (repositories: string, opts: ConfigOptions) => {
    await withState(
      opts,
      async (s) => {
        const rules = await quotaRules(s);
        if (!rules.some((r) => r.repositories === repositories))
          throw new UsageError(`no quota for ${repositories}`);
        await setQuotaRules(s, withRule(rules, repositories));
      },
      { action: 'policy-quotas', target: repositories },
    );
    process.stdout.write(`the quota of ${repositories} is removed\n`);
  });
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
