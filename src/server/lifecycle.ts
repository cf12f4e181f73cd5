// Starting and stopping the server: refuse unsafe exposure, listen (HTTPS when tls.cert/tls.key
// are set), and on SIGTERM/SIGINT drain gracefully: readiness goes 503, new connections are
// refused, in-flight requests get `shutdownTimeout` seconds to finish, then whatever remains is
// cut. SIGHUP re-reads the certificate and key and swaps them in for new connections; open
// connections keep theirs, and a bad new pair leaves the old one in use.
import type { FastifyInstance } from 'fastify';
import type { Server as HttpsServer } from 'node:https';
import { pino, type Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { usableDataDir } from '../doctor/data-dir.js';
import { ConfigError } from '../errors.js';
import { GcRunner } from '../registry/gc-runner.js';
import { AuthStore } from '../auth/store.js';
import { closeRegistry, openRegistry } from '../registry/open.js';
import { PullTimes } from '../registry/pull-times.js';
import { openSqliteState } from '../state/sqlite.js';
import { buildApp } from './app.js';
import { listenMetrics } from './metrics-listener.js';
import type { Readiness } from './health.js';
import { describeCertificate, loadTlsPair, TlsPairError, validityProblem, type TlsPair } from './tls.js';
import { AcceptLanes } from '../http/accept-lanes.js';

const LISTEN_BACKLOG = 4096;
// Watchers on the listening socket once a crowd comes (http/accept-lanes.ts), each one descriptor.
// Measured with 1000 new connections at once (wrk, 10 s), slowest request: 1 watcher 10 s, 16 3.6 s,
// 32 0.45-1.5 s, 64 0.56-1.14 s; with a new connection per request (50 clients) 64 is no slower.
const ACCEPT_LANES = { count: 64, openAt: 8 };

export interface RunningServer {
  app: FastifyInstance;
  /** The address actually bound (port 0 becomes a real port), https:// under TLS. */
  url: string;
  /** Graceful stop; resolves true when every in-flight request finished in time. */
  stop(reason?: string): Promise<boolean>;
  /** Re-reads tls.cert/tls.key and serves new connections with them; false (logged) when the
   *  new pair is unusable (the old one stays) or TLS is off. Calls run one after another. */
  reloadTls(): Promise<boolean>;
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

export async function startServer(config: Config, logger: Logger): Promise<RunningServer> {
  const { host, port } = config.listen;
  await usableDataDir(config.dataDir);

  const tlsFiles =
    config.tls.cert && config.tls.key ? { cert: config.tls.cert, key: config.tls.key } : undefined;
  let tls: TlsPair | undefined;
  if (tlsFiles) {
    try {
      tls = await loadTlsPair(tlsFiles.cert, tlsFiles.key);
    } catch (err) {
      if (!(err instanceof TlsPairError)) throw err;
      throw new ConfigError(`cannot serve HTTPS: ${err.message}`, {
        hint: 'point tls.cert at the PEM certificate (chain) and tls.key at its unencrypted PEM private key, both readable by this user; or unset both for plain HTTP',
        cause: err,
      });
    }
    const problem = validityProblem(tls.x509);
    if (problem)
      logger.warn({ tls: describeCertificate(tls.x509) }, `TLS: ${problem}; clients will refuse it`);
  }

  const readiness: Readiness = { ready: false, draining: false, reason: 'starting' };
  const registry = await openRegistry(config);
  // Without a user, nothing is checked: only loopback is safe then (DESIGN.md, "exposure").
  if (
    !isLoopback(host) &&
    !config.insecureNoAuth &&
    (await new AuthStore(registry.state).userCount()) === 0
  ) {
    await closeRegistry(registry);
    throw new ConfigError(`refusing to listen on ${host}:${port} without authentication: no user exists`, {
      hint: 'create one with `opencloud users add --admin NAME`, listen on 127.0.0.1, or pass --insecure-no-auth if the network is trusted',
    });
  }
  registry.pullTimes = new PullTimes(
    (pulls) => registry.state.recordPulls(pulls),
    (err) => logger.warn({ err }, 'pull times not recorded yet (kept for the next batch)'),
  );
  const gc = new GcRunner(registry, config, logger);
  // With a shared PostgreSQL, what was installed on this host stays in this host's data dir.
  const hostState = config.state.postgresUrl ? await openSqliteState(config.dataDir) : undefined;
  const app = await buildApp({
    config,
    logger,
    readiness,
    registry,
    gc,
    ...(hostState ? { hostState } : {}),
    ...(tls ? { https: { cert: tls.cert, key: tls.key } } : {}),
  });
  app.addHook('onClose', async () => {
    gc.stop();
    await registry.pullTimes?.flush().catch((err: unknown) => {
      logger.warn({ err }, 'the last pull times could not be recorded');
    });
    await closeRegistry(registry);
    await hostState?.close();
  });
  // Hooks cannot be added once the app listens: the side listener comes up first.
  if (config.metrics.listen) {
    const { server: metricsServer } = await listenMetrics(
      config.metrics.listen,
      () => app.scrapeMetrics(),
      logger,
    );
    app.addHook('onClose', () => new Promise<void>((resolve) => metricsServer.close(() => resolve())));
  }
  const lanes = new AcceptLanes(app.server, ACCEPT_LANES, logger);
  app.addHook('preClose', async () => lanes.close());
  try {
    // Node's default accept queue is 511: a burst of new connections beyond it (a cluster's nodes
    // all pulling at once) has its SYNs dropped and retried after 1, 3, 7 s. The kernel caps this
    // at net.core.somaxconn (4096 on current kernels), as it does for Go servers, which ask for it.
    await app.listen({ host, port, backlog: LISTEN_BACKLOG });
  } catch (err) {
    // The address is taken (or refused): close what is open (the metrics listener, the state).
    await app.close().catch(() => undefined);
    throw err;
  }
  const addr = app.server.address();
  const boundPort = typeof addr === 'object' && addr ? addr.port : port;
  const url = `${tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${boundPort}`;
  if (tls) logger.info({ tls: describeCertificate(tls.x509) }, 'serving HTTPS');
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
  let reloading: Promise<boolean> = Promise.resolve(true);
  const reloadTls = () =>
    (reloading = reloading.then(async () => {
      if (!tlsFiles || !tls) {
        logger.info('TLS is not configured (tls.cert/tls.key): nothing to reload');
        return false;
      }
      const inUse = describeCertificate(tls.x509);
      try {
        const next = await loadTlsPair(tlsFiles.cert, tlsFiles.key);
        (app.server as unknown as HttpsServer).setSecureContext({ cert: next.cert, key: next.key });
        tls = next;
        const now = describeCertificate(next.x509);
        logger.info(
          { tls: now, previous: { subject: inUse.subject, serial: inUse.serial, notAfter: inUse.notAfter } },
          `TLS certificate reloaded: ${now.subject}, valid until ${now.notAfter}`,
        );
        const problem = validityProblem(next.x509);
        if (problem) logger.warn({ tls: now }, `TLS: ${problem}; clients will refuse it`);
        return true;
      } catch (err) {
        logger.error(
          { err, cert: tlsFiles.cert, key: tlsFiles.key, inUse },
          `TLS reload failed, still serving the previous certificate (${inUse.subject}, serial ${inUse.serial}): ${(err as Error).message}`,
        );
        return false;
      }
    }));
  return { app, url, stop, reloadTls };
}

/** Wires SIGTERM/SIGINT to a graceful stop and exits when it is done. */
export function stopOnSignals(server: RunningServer, logger: Logger): void {
  const onSignal = (signal: NodeJS.Signals) => {
    logger.info({ signal }, 'signal received');
    void server.stop(signal).then((clean) => exitAfterLog(logger, clean ? 0 : 1));
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
}

/**
 * Exits once pino has no write in flight (at most 2 s later). pino writes stdout asynchronously and
 * flushes what is left synchronously at exit; when stdout is a pipe whose reader is gone
 * (`opencloud serve | head`), that flush meets EPIPE and retries it forever (sonic-boom sleeps and
 * retries every error but EAGAIN), so the process never ends. Letting the write in flight fail
 * first turns the stream into a no-op (pino's own EPIPE handling) and the exit is clean.
 * `_writing` is sonic-boom's own flag: without it (another destination) this exits at once.
 */
function exitAfterLog(logger: Logger, code: number): void {
  const stream = (logger as unknown as Record<symbol, { _writing?: boolean } | undefined>)[
    pino.symbols.streamSym
  ];
  const deadline = Date.now() + 2_000;
  const attempt = () => {
    if (!stream?._writing || Date.now() > deadline) process.exit(code);
    else setTimeout(attempt, 10);
  };
  attempt();
}

/** SIGHUP (`systemctl reload`) re-reads the TLS certificate and key. Also installed without TLS:
 *  Node's default for SIGHUP is to exit, and a reload must never stop the server. */
export function reloadOnHangup(server: RunningServer, logger: Logger): void {
  process.on('SIGHUP', () => {
    logger.info({ signal: 'SIGHUP' }, 'signal received: reloading the TLS certificate and key');
    void server.reloadTls();
  });
}
