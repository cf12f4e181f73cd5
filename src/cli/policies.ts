// `opencloud policies …`: the registry's policies as code, on the data dir's state (a running
// server applies a change on the next push or delete). `list` shows them in the ledger
// document's shape; `immutable-tags set|remove` keeps tags matching an expression fixed in the
// repositories matching a pattern; `retention set|remove` says which tags garbage collection
// keeps (`opencloud gc --dry-run` names what it would delete). Each change is audited.
import { Command, Option } from 'commander';
import { UsageError } from '../errors.js';
import { immutableTagRules, PolicyError, setImmutableTagRules } from '../policies/immutable-tags.js';
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
  const policies = new Command('policies').description(
    'policies: retention and immutable tags (quotas: next)',
  );
  withConfigOptions(policies.command('list').description('the policies, as the ledger document holds them'))
    .addOption(new Option('--json', 'print JSON'))
    .action(async (opts: ConfigOptions & { json?: boolean }) => {
      const { retention, immutableTags } = await withState(opts, async (s) => ({
        retention: await retentionRules(s),
        immutableTags: await immutableTagRules(s),
      }));
      if (opts.json)
        return void process.stdout.write(
          JSON.stringify({ retention, immutableTags, quotas: [] }, null, 2) + '\n',
        );
      if (immutableTags.length + retention.length === 0) process.stdout.write('no policies\n');
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
  return policies;
}
