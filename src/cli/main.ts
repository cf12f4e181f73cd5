// The `opencloud` CLI: one commander program, one file per command group, and the single
// top-level catch that turns any error into a message, a hint and an exit code.
import { Command, CommanderError } from 'commander';
import { EXIT, OpenCloudError } from '../errors.js';
import { BUILDKIT_VERSION, gitCommit, IS_CHECKOUT, PACKAGE_VERSION } from '../paths.js';
import { buildCommand } from './build.js';
import { doctorCommand } from './doctor.js';
import { gcCommand } from './gc.js';
import { installCommand, uninstallCommand } from './install.js';
import { ledgerCommand } from './ledger.js';
import { loginCommand, logoutCommand } from './login.js';
import { policiesCommand } from './policies.js';
import { serveCommand } from './serve.js';
import { servicesCommand } from './services.js';
import { usersCommand } from './users.js';
import { webhooksCommand } from './webhooks.js';

export function program(): Command {
  const cli = new Command('opencloud')
    .description('OpenCloud Container Registry: OCI registry, image builder and runtime installer')
    .version(versionText(), '-V, --version')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  // addCommand() does not pass exitOverride/output settings down; copy them explicitly.
  for (const cmd of [
    serveCommand(),
    doctorCommand(),
    gcCommand(),
    servicesCommand(),
    usersCommand(),
    webhooksCommand(),
    policiesCommand(),
    ledgerCommand(),
    installCommand(),
    uninstallCommand(),
    buildCommand(),
    loginCommand(),
    logoutCommand(),
  ])
    cli.addCommand(cmd.copyInheritedSettings(cli));
  return cli;
}

/** `opencloud --version`: the program, the checkout's commit, Node and the pinned BuildKit. */
export function versionText(): string {
  return [
    `opencloud ${PACKAGE_VERSION}`,
    `commit ${IS_CHECKOUT ? gitCommit() : 'unknown'}`,
    `node ${process.version}`,
    `buildkit ${BUILDKIT_VERSION}`,
  ].join('\n');
}

/** Runs the CLI and resolves to the process exit code. Long-running commands resolve late. */
export async function run(argv: string[]): Promise<number> {
  try {
    const cli = program();
    await cli.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (err) {
    return report(err);
  }
}

function report(err: unknown): number {
  if (err instanceof CommanderError) {
    // commander has already printed its message (or the help/version text).
    return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  }
  if (err instanceof OpenCloudError) {
    process.stderr.write(`opencloud: ${err.message}\n`);
    if (err.hint) process.stderr.write(`  fix: ${err.hint}\n`);
    return err.exitCode;
  }
  process.stderr.write(`opencloud: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`);
  return EXIT.software;
}
