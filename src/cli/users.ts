// `opencloud users …`: the accounts that may sign in, their grants, and their API tokens.
// Works on the data dir's state (a running server sees changes on the next request: a changed
// password or a deleted user signs in no more, and its sessions and registry tokens end). The
// first admin is made here; there is no default password.
import { Command, Option } from 'commander';
import { generatePassword } from '../auth/passwords.js';
import { parseActions } from '../auth/patterns.js';
import { AuthError, AuthStore, type Scope } from '../auth/store.js';
import { UsageError } from '../errors.js';
import { withCommandState } from './command-state.js';
import { withConfigOptions, type ConfigOptions } from './options.js';
import { readPassword } from './password-prompt.js';

/** Runs `fn` on the data dir's users; a change (`audit`) is recorded in the audit trail. */
function withStore<T>(
  opts: ConfigOptions,
  fn: (store: AuthStore) => Promise<T>,
  audit?: { action: string; target: string },
): Promise<T> {
  return withCommandState(opts, (state) => fn(new AuthStore(state)), {
    ...(audit ? { audit: () => audit } : {}),
    refusal: AuthError,
  });
}

function parseScope(text: string): Scope {
  const colon = text.lastIndexOf(':');
  if (colon <= 0) throw new UsageError(`--scope ${text}: expected PATTERN:ACTIONS, e.g. team/*:pull,push`);
  try {
    return { pattern: text.slice(0, colon), actions: parseActions(text.slice(colon + 1)) };
  } catch (err) {
    throw new UsageError(`--scope ${text}: ${(err as Error).message}`);
  }
}

export function usersCommand(): Command {
  const users = new Command('users').description('accounts, their grants and API tokens');
  withConfigOptions(users.command('add').argument('<name>').description('create a user'))
    .addOption(new Option('--admin', 'may do everything, including installing and managing users'))
    .addOption(new Option('--password-stdin', 'read the password from stdin'))
    .addOption(new Option('--generate', 'generate a password and print it once'))
    .action(
      async (
        name: string,
        opts: ConfigOptions & { admin?: boolean; passwordStdin?: boolean; generate?: boolean },
      ) => {
        const password = opts.generate ? generatePassword() : await readPassword(opts.passwordStdin ?? false);
        await withStore(opts, (s) => s.addUser(name, password, opts.admin ?? false), {
          action: 'user-add',
          target: `${name}${opts.admin ? ' (admin)' : ''}`,
        });
        process.stdout.write(`user ${name} created${opts.admin ? ' (admin)' : ''}\n`);
        if (opts.generate) process.stdout.write(`password: ${password}\n(shown once; store it now)\n`);
      },
    );
  withConfigOptions(users.command('passwd').argument('<name>').description("change a user's password"))
    .addOption(new Option('--password-stdin', 'read the password from stdin'))
    .action(async (name: string, opts: ConfigOptions & { passwordStdin?: boolean }) => {
      const password = await readPassword(opts.passwordStdin ?? false);
      await withStore(opts, (s) => s.setPassword(name, password), { action: 'user-passwd', target: name });
      process.stdout.write(
        `password of ${name} changed; its web sessions and registry tokens are ended (API tokens stay until revoked)\n`,
      );
    });
  withConfigOptions(
    users.command('delete').argument('<name>').description('delete a user, its grants and tokens'),
  ).action(async (name: string, opts: ConfigOptions) => {
    await withStore(opts, (s) => s.deleteUser(name), { action: 'user-delete', target: name });
    process.stdout.write(`user ${name} deleted, with its grants, API tokens and sessions\n`);
  });
  withConfigOptions(users.command('list').description('users and their grants'))
    .addOption(new Option('--json', 'print JSON'))
    .action(async (opts: ConfigOptions & { json?: boolean }) => {
      const list = await withStore(opts, async (s) => ({
        users: await s.listUsers(),
        anonymous: await s.grantsFor(['anonymous']),
      }));
      if (opts.json) return void process.stdout.write(JSON.stringify(list, null, 2) + '\n');
      for (const u of list.users) {
        const grants = u.grants.map((g) => `${g.pattern}:${g.actions.join(',')}`).join(' ');
        process.stdout.write(`${u.name}${u.admin ? ' (admin)' : ''}${grants ? `  ${grants}` : ''}\n`);
      }
      if (list.anonymous.length) {
        process.stdout.write(
          `anonymous  ${list.anonymous.map((g) => `${g.pattern}:${g.actions.join(',')}`).join(' ')}\n`,
        );
      }
    });
  withConfigOptions(
    users
      .command('grant')
      .argument('<subject>', 'a user name, or "anonymous"')
      .argument('<pattern>', 'repository pattern: team/app, team/*, team/**')
      .argument('<actions>', 'pull,push,delete,build — or "none" to revoke')
      .description('set what a user (or anyone) may do on matching repositories'),
  ).action(async (subject: string, pattern: string, actions: string, opts: ConfigOptions) => {
    let list;
    try {
      list = actions === 'none' ? [] : parseActions(actions);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    await withStore(opts, (s) => s.grant(subject, pattern, list), {
      action: 'grant',
      target: `${subject} ${pattern} ${list.join(',') || 'none'}`,
    });
    process.stdout.write(
      list.length
        ? `${subject} may ${list.join(', ')} on ${pattern}\n`
        : `${subject}: grant on ${pattern} removed\n`,
    );
  });

  const tokens = users.command('token').description('API tokens (for CI, scripts and registry clients)');
  withConfigOptions(
    tokens
      .command('create')
      .argument('<user>')
      .argument('<name>')
      .description('create a token; it is shown once'),
  )
    .addOption(
      new Option('--scope <pattern:actions...>', 'narrow the token, e.g. team/*:pull,push (repeatable)'),
    )
    .addOption(new Option('--admin', "the token carries the user's admin rights"))
    .addOption(new Option('--expires <days>', 'days until it expires'))
    .action(
      async (
        user: string,
        name: string,
        opts: ConfigOptions & { scope?: string[]; admin?: boolean; expires?: string },
      ) => {
        if (opts.admin && opts.scope) throw new UsageError('--admin and --scope exclude each other');
        const days = opts.expires === undefined ? undefined : Number(opts.expires);
        if (days !== undefined && !(days > 0))
          throw new UsageError(`--expires must be a positive number of days, got ${opts.expires}`);
        const scopes = opts.admin ? 'admin' : opts.scope ? opts.scope.map(parseScope) : null;
        const expires = days === undefined ? null : new Date(Date.now() + days * 86_400_000);
        const t = await withStore(opts, (s) => s.createToken(user, name, scopes, expires), {
          action: 'token-create',
          target: `${user} ${name}`,
        });
        process.stdout.write(
          `token ${t.id} for ${user}${expires ? `, expires ${expires.toISOString()}` : ''}:\n${t.token}\n(shown once; store it now)\n`,
        );
      },
    );
  withConfigOptions(tokens.command('list').argument('[user]').description('tokens (never their secrets)'))
    .addOption(new Option('--json', 'print JSON'))
    .action(async (user: string | undefined, opts: ConfigOptions & { json?: boolean }) => {
      const list = await withStore(opts, (s) => s.listTokens(user));
      if (opts.json) return void process.stdout.write(JSON.stringify(list, null, 2) + '\n');
      for (const t of list) {
        const state = t.revokedAt
          ? 'revoked'
          : t.expiresAt && Date.parse(t.expiresAt) < Date.now()
            ? 'expired'
            : 'active';
        process.stdout.write(`${t.id}  ${t.user}  ${t.name}  ${state}\n`);
      }
    });
  withConfigOptions(tokens.command('revoke').argument('<id>').description('revoke a token')).action(
    async (id: string, opts: ConfigOptions) => {
      await withStore(opts, (s) => s.revokeToken(id), { action: 'token-revoke', target: id });
      process.stdout.write(`token ${id} revoked\n`);
    },
  );
  return users;
}
