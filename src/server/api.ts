// The JSON API under /api/v1/. This file wires system endpoints; later feature areas
// (registry browsing, builds, services) register their own plugins under the same prefix.
import type { FastifyPluginAsync } from 'fastify';
import type { Config } from '../config/schema.js';
import { runDoctor } from '../doctor/checks.js';
import { BUILDKIT_VERSION, PACKAGE_VERSION } from '../paths.js';

export const apiRoutes: FastifyPluginAsync<{ config: Config }> = async (app, { config }) => {
  app.get('/', async () => ({ name: 'opencloud', version: PACKAGE_VERSION, api: 'v1' }));

  app.get('/system/info', async () => ({
    version: PACKAGE_VERSION,
    node: process.versions.node,
    buildkitVersion: BUILDKIT_VERSION,
    listen: `${config.listen.host}:${config.listen.port}`,
    dataDir: config.dataDir,
    sockets: { containerd: config.containerd.socket, buildkit: config.buildkit.socket },
  }));

  app.get('/system/doctor', async () => {
    const checks = await runDoctor(config);
    return { healthy: checks.every((c) => c.status !== 'fail'), checks };
  });
};
