// `opencloud serve`: load and validate the configuration once, then run the HTTP(S) server until
// SIGTERM/SIGINT; SIGHUP reloads the TLS certificate and key.
import { Command, Option } from 'commander';
import { createLogger } from '../logger.js';
import { reloadOnHangup, startServer, stopOnSignals } from '../server/lifecycle.js';
import { configFrom, withConfigOptions, type ConfigOptions } from './options.js';

interface ServeOptions extends ConfigOptions {
  listen?: string;
  insecureNoAuth?: boolean;
}

export function serveCommand(): Command {
  return withConfigOptions(new Command('serve').description('run the registry, API and web UI'))
    .addOption(new Option('--listen <host:port>', 'address to listen on (default 127.0.0.1:5000)'))
    .addOption(new Option('--insecure-no-auth', 'allow listening beyond loopback without authentication'))
    .action(async (opts: ServeOptions) => {
      const { config, file } = configFrom(opts, { listen: opts.listen, insecureNoAuth: opts.insecureNoAuth });
      const logger = createLogger(config.logLevel);
      const server = await startServer(config, logger);
      stopOnSignals(server, logger);
      reloadOnHangup(server, logger);
      logger.info(
        { url: server.url, dataDir: config.dataDir, configFile: file ?? null },
        `listening on ${server.url}`,
      );
      await new Promise<never>(() => undefined); // runs until a signal ends the process
    });
}
