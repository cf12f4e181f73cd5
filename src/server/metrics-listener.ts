// `metrics.listen`: a second, plain HTTP listener that answers GET /metrics and nothing else, for
// a Prometheus on a private network (no credentials: bind it to an address only it can reach).
import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';
import { CONTENT_TYPE } from '../metrics/exposition.js';

export async function listenMetrics(
  where: { host: string; port: number },
  scrape: () => Promise<string>,
  logger: Logger,
): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('only GET /metrics here\n');
      return;
    }
    scrape().then(
      (body) => {
        res.writeHead(200, { 'content-type': CONTENT_TYPE, 'cache-control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      (err: unknown) => {
        logger.error({ err }, 'metrics scrape failed');
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('scrape failed\n');
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(where.port, where.host, () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : where.port;
  const url = `http://${where.host.includes(':') ? `[${where.host}]` : where.host}:${port}/metrics`;
  logger.info({ metricsUrl: url }, `metrics also served on ${url}`);
  return { server, url };
}
