// `opencloud login [SERVER] -u USER [--password-stdin]` signs in once with the password and keeps
// an API token made for this machine (named after it) in the login file, 0600; the password is
// not kept. Later commands (`opencloud build`) use it for that server. `opencloud logout [SERVER]`
// revokes the token on the server and forgets it here.
import { Command, Option } from 'commander';
import { hostname } from 'node:os';
import { loginFilePath, readLoginFile, writeLoginFile } from '../client/login-file.js';
import { resolveServer, serverRequest } from '../client/server-api.js';
import { OpenCloudError, UsageError } from '../errors.js';
import { readPassword } from './password-prompt.js';

export function loginCommand(): Command {
  return new Command('login')
    .description('sign in to an OpenCloud server and keep an API token for later commands')
    .argument('[server]', 'the server URL (default: $OPENCLOUD_SERVER, the last login, 127.0.0.1:5000)')
    .addOption(new Option('-u, --username <name>', 'the user to sign in as').makeOptionMandatory())
    .addOption(new Option('--password-stdin', 'read the password from stdin'))
    .action(async (server: string | undefined, opts: { username: string; passwordStdin?: boolean }) => {
      // Sign in with the password only: not with a token that may be in the environment.
      const target = await resolveServer(server, { ...process.env, OPENCLOUD_TOKEN: '' });
      const password = await readPassword(opts.passwordStdin ?? false, {
        confirm: false,
        otherwise: 'pass --password-stdin',
      });
      if (!password) throw new UsageError('the password is empty');
      const name = `opencloud-cli@${hostname()}`.slice(0, 64);
      const res = await serverRequest(
        {
          url: target.url,
          authorization: `Basic ${Buffer.from(`${opts.username}:${password}`).toString('base64')}`,
          credentials: `the password of ${opts.username}`,
        },
        `/api/v1/users/${encodeURIComponent(opts.username)}/tokens`,
        { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name }) },
      ).catch((err: Error) => {
        if (/wants credentials/.test(err.message))
          throw new OpenCloudError(`the user name or password is not valid for ${target.url}`);
        throw err;
      });
      const made = (await res.json()) as { id: string; token: string };
      const path = loginFilePath();
      const file = await readLoginFile(path);
      file.servers[target.url] = { user: opts.username, token: made.token, tokenId: made.id };
      file.default = target.url;
      await writeLoginFile(file, path);
      process.stdout.write(
        `signed in to ${target.url} as ${opts.username}; API token ${made.id} ("${name}") kept in ${path}\n`,
      );
    });
}

export function logoutCommand(): Command {
  return new Command('logout')
    .description('revoke the API token `opencloud login` kept for a server, and forget it')
    .argument('[server]', 'the server URL (default: the last login)')
    .action(async (server: string | undefined) => {
      const path = loginFilePath();
      const file = await readLoginFile(path);
      const target = await resolveServer(server, { ...process.env, OPENCLOUD_TOKEN: '' });
      const login = file.servers[target.url];
      if (!login) throw new UsageError(`not signed in to ${target.url} (${path})`);
      // The token revokes itself; one the server no longer takes has nothing left to revoke.
      const revoked = await serverRequest(target, `/api/v1/tokens/${encodeURIComponent(login.tokenId)}`, {
        method: 'DELETE',
      }).then(
        () => true,
        (err: Error) => {
          if (/wants credentials/.test(err.message)) return false;
          throw err;
        },
      );
      delete file.servers[target.url];
      if (file.default === target.url) delete file.default;
      await writeLoginFile(file, path);
      process.stdout.write(
        `signed out of ${target.url}; token ${login.tokenId} ${revoked ? 'revoked' : 'was no longer valid there'}\n`,
      );
    });
}
