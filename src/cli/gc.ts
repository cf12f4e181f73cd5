// `opencloud gc`: garbage collection. With a server running on the configured address it asks
// the server (which owns the per-digest locks that keep collection safe next to pushes);
// otherwise it opens the data dir itself.
import { Command, Option } from 'commander';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Config } from '../config/schema.js';
import { OpenCloudError } from '../errors.js';
import { collectGarbage, type GcReport } from '../registry/gc.js';
import { closeRegistry, openRegistry } from '../registry/open.js';
import { configFrom, withConfigOptions, type ConfigOptions } from './options.js';
import { usableDataDir } from '../doctor/data-dir.js';

interface GcCliOptions extends ConfigOptions {
  dryRun?: boolean;
  deleteUntagged?: boolean;
  gracePeriod?: string;
  json?: boolean;
}

export function gcCommand(): Command {
  return withConfigOptions(new Command('gc').description('reclaim blobs and manifests nothing references'))
    .addOption(new Option('--dry-run', 'report what would be reclaimed, change nothing'))
    .addOption(new Option('--delete-untagged', 'also delete manifests no tag reaches'))
    .addOption(new Option('--grace-period <seconds>', 'keep content pushed more recently than this'))
    .addOption(new Option('--json', 'print the report as JSON'))
    .action(async (opts: GcCliOptions) => {
      const { config } = configFrom(opts);
      const gracePeriod = opts.gracePeriod === undefined ? config.gc.gracePeriod : Number(opts.gracePeriod);
      if (!Number.isInteger(gracePeriod) || gracePeriod < 0) {
        throw new OpenCloudError(`--grace-period must be a whole number of seconds, got ${opts.gracePeriod}`);
      }
      const body = {
        dryRun: opts.dryRun ?? false,
        deleteUntagged: opts.deleteUntagged ?? false,
        gracePeriod,
      };
      const report = (await viaServer(config, body)) ?? (await locally(config, body));
      process.stdout.write(opts.json ? JSON.stringify(report, null, 2) + '\n' : formatReport(report));
    });
}

/** The server's answer, or undefined when no server listens on the configured address. */
function viaServer(config: Config, body: object): Promise<GcReport | undefined> {
  const payload = JSON.stringify(body);
  // Under TLS the server speaks only HTTPS. Its certificate names the public host, not the
  // listen address asked here, and nothing secret is sent: no verification for this one call.
  const request = config.tls.cert ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: config.listen.host,
        port: config.listen.port,
        ...(config.tls.cert ? { rejectUnauthorized: false } : {}),
        path: '/api/v1/registry/gc',
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => {
          if (res.statusCode === 200) return resolve(JSON.parse(text) as GcReport);
          reject(new OpenCloudError(`the server refused garbage collection (${res.statusCode}): ${text}`));
        });
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED') resolve(undefined);
      else
        reject(
          new OpenCloudError(
            `cannot reach the server at ${config.listen.host}:${config.listen.port}: ${err.message}`,
          ),
        );
    });
    req.end(payload);
  });
}

async function locally(
  config: Config,
  body: { dryRun: boolean; deleteUntagged: boolean; gracePeriod: number },
): Promise<GcReport> {
  await usableDataDir(config.dataDir);
  const registry = await openRegistry(config);
  try {
    return await collectGarbage(registry, { ...body, uploadTtl: config.registry.uploadTtl });
  } finally {
    await closeRegistry(registry);
  }
}

export function formatReport(r: GcReport): string {
  const verb = r.dryRun ? 'would reclaim' : 'reclaimed';
  const lines = [
    `${verb} ${r.bytesReclaimed} bytes in ${r.blobs.length} blobs` +
      ` (${r.tagsRemoved.length} tags by retention, ${r.untaggedManifests.length} untagged manifests, ${r.linksRemoved} repository links, ${r.repositoriesRemoved.length} empty repositories, ${r.uploadsExpired} expired uploads)` +
      ` in ${r.durationMs} ms`,
  ];
  const tagVerb = r.dryRun ? 'would delete' : 'deleted';
  for (const t of r.tagsRemoved) lines.push(`  tag ${t} (${tagVerb}: no retention rule keeps it)`);
  for (const m of r.untaggedManifests) lines.push(`  manifest ${m.repository}@${m.digest}`);
  for (const name of r.repositoriesRemoved) lines.push(`  repository ${name} (empty)`);
  for (const b of r.blobs) lines.push(`  blob ${b.digest} ${b.size} bytes`);
  return lines.join('\n') + '\n';
}
