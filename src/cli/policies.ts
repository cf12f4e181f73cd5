// `opencloud policies …`: the registry's policies as code, on the data dir's state (a running
// server applies a change on the next push or delete). `list` shows them in the ledger
// document's shape; `immutable-tags set|remove` keeps tags matching an expression fixed in the
// repositories matching a pattern. Each change is recorded in the audit trail.
import { Command, Option } from 'commander';
import { UsageError } from '../errors.js';
import {
  immutableTagRules,
  PolicyError,
  setImmutableTagRules,
  type ImmutableTagRule,
} from '../policies/immutable-tags.js';
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
function withRule(
  rules: ImmutableTagRule[],
  repositories: string,
  rule?: ImmutableTagRule,
): ImmutableTagRule[] {
  return [...rules.filter((r) => r.repositories !== repositories), ...(rule ? [rule] : [])];
}

export function policiesCommand(): Command {
  const policies = new Command('policies').description(
    'policies: immutable tags (retention and quotas: next)',
  );
  withConfigOptions(policies.command('list').description('the policies, as the ledger document holds them'))
    .addOption(new Option('--json', 'print JSON'))
    .action(async (opts: ConfigOptions & { json?: boolean }) => {
      const immutableTags = await withState(opts, immutableTagRules);
      if (opts.json)
        return void process.stdout.write(
          JSON.stringify({ retention: [], immutableTags, quotas: [] }, null, 2) + '\n',
        );
      if (immutableTags.length === 0) process.stdout.write('no policies\n');
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
  return policies;
}
