// Starting and stopping the server: refuse unsafe exposure, listen, and on SIGTERM/SIGINT
// drain gracefully: readiness goes 503, new connections are refused, in-flight requests get
// `shutdownTimeout` seconds to finish, then whatever remains is cut.
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { probeDataDir } from '../doctor/data-dir.js';
import { ConfigError, DataDirError } from '../errors.js';
import { GcRunner } from '../registry/gc-runner.js';
import { AuthStore } from '../auth/store.js';
import { openRegistry } from '../registry/open.js';
import { buildApp } from './app.js';
import type { Readiness } from './health.js';

export interface RunningServer {
  app: FastifyInstance;
  /** The address actually bound (port 0 becomes a real port). */
  url: string;
  /** Graceful stop; resolves true when every in-flight request finished in time. */
  stop(reason?: string): Promise<boolean>;
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

export async function startServer(config: Config, logger: Logger): Promise<RunningServer> {
  const { host, port } = config.listen;
  try {
    await probeDataDir(config.dataDir);
  } catch (err) {
    throw new DataDirError(`data dir ${config.dataDir} is not writable: ${(err as Error).message}`, {
      hint: 'pass --data-dir DIR (or OPENCLOUD_DATA_DIR) pointing at a writable directory',
      cause: err,
    });
  }

  const readiness: Readiness = { ready: false, draining: false, reason: 'starting' };
  const registry = await openRegistry(config.dataDir, config.registry);
  // Without a user, nothing is checked: only loopback is safe then (DESIGN.md, "exposure").
  if (
    !isLoopback(host) &&
    !config.insecureNoAuth &&
    (await new AuthStore(registry.state).userCount()) === 0
  ) {
    await registry.state.close();
    throw new ConfigError(`refusing to listen on ${host}:${port} without authentication: no user exists`, {
      hint: 'create one with `opencloud users add --admin NAME`, listen on 127.0.0.1, or pass --insecure-no-auth if the network is trusted',
    });
  }
  const gc = new GcRunner(registry, config, logger);
  const app = await buildApp({ config, logger, readiness, registry, gc });
  app.addHook('onClose', async () => {
    gc.stop();
    await registry.state.close();
  });
  await app.listen({ host, port });
  const addr = app.server.address();
  const boundPort = typeof addr === 'object' && addr ? addr.port : port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${boundPort}`;
  readiness.ready = true;
  readiness.reason = '';
  gc.start();

  let stopping: Promise<boolean> | undefined;
  const stop = (reason = 'stop requested') => {
    stopping ??= (async () => {
      readiness.ready = false;
      readiness.draining = true;
      readiness.reason = 'shutting down';
      logger.info(
        { reason, timeoutSeconds: config.shutdownTimeout },
        'shutting down: draining in-flight requests',
      );
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), config.shutdownTimeout * 1000);
      });
      const outcome = await Promise.race([app.close().then(() => 'closed' as const), deadline]);
      clearTimeout(timer);
      if (outcome === 'timeout') {
        const now = Date.now();
        const open = app.inFlight().map((r) => ({ method: r.method, url: r.url, ageMs: now - r.startedAt }));
        logger.warn({ inFlight: open }, 'shutdown deadline passed: closing the remaining connections');
        app.server.closeAllConnections();
        return false;
      }
      logger.info('shutdown complete');
      return true;
    })();
    return stopping;
  };
  return { app, url, stop };
}

/** Wires SIGTERM/SIGINT to a graceful stop and exits when it is done. */
export function stopOnSignals(server: RunningServer, logger: Logger): void {
  const onSignal = (signal: NodeJS.Signals) => {
    logger.info({ signal }, 'signal received');
    void server.stop(signal).then((clean) => process.exit(clean ? 0 : 1));
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
}
