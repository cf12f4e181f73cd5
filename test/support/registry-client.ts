// A tiny OCI Distribution client over fetch, for tests that speak the protocol directly.
import { createHash } from 'node:crypto';

export const sha256 = (data: Buffer | string) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

export interface OciErrorBody {
  errors: { code: string; message: string; detail?: unknown }[];
}

export class RegistryClient {
  /** `authorization`: a header value sent with every request (e.g. an admin's Basic credentials). */
  constructor(
    readonly base: string,
    private readonly authorization?: string,
  ) {}

  req(method: string, path: string, init: { body?: Buffer | string; headers?: Record<string, string> } = {}) {
    const url = path.startsWith('http') ? path : this.base + path;
    const headers = { ...init.headers, ...(this.authorization ? { authorization: this.authorization } : {}) };
    return fetch(url, { method, body: init.body ?? null, headers, redirect: 'manual' });
  }

  async errorCode(res: Response): Promise<string | undefined> {
    const body = (await res.json()) as OciErrorBody;
    return body.errors?.[0]?.code;
  }

  /** Monolithic blob push; returns the digest. */
  async pushBlob(repo: string, data: Buffer | string): Promise<string> {
    const digest = sha256(data);
    const res = await this.req('POST', `/v2/${repo}/blobs/uploads/?digest=${digest}`, {
      body: data,
      headers: { 'content-type': 'application/octet-stream' },
    });
    if (res.status !== 201) throw new Error(`blob push failed: ${res.status} ${await res.text()}`);
    return digest;
  }

  async pushManifest(
    repo: string,
    ref: string,
    manifest: object | string,
    mediaType: string,
  ): Promise<Response> {
    const body = typeof manifest === 'string' ? manifest : JSON.stringify(manifest);
    return this.req('PUT', `/v2/${repo}/manifests/${ref}`, { body, headers: { 'content-type': mediaType } });
  }

  /** Pushes a config and layers and an OCI image manifest referencing them. */
  async pushImage(
    repo: string,
    ref: string,
    extra: Record<string, unknown> = {},
    layers: string[] = ['layer'],
  ) {
    const config = Buffer.from(
      JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }),
    );
    const configDigest = await this.pushBlob(repo, config);
    const layerDescs = [];
    for (const l of layers)
      layerDescs.push({
        mediaType: 'application/vnd.oci.image.layer.v1.tar',
        digest: await this.pushBlob(repo, l),
        size: Buffer.byteLength(l),
      });
    const manifest = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: configDigest,
        size: config.length,
      },
      layers: layerDescs,
      ...extra,
    };
    const body = JSON.stringify(manifest);
    const res = await this.pushManifest(repo, ref, body, 'application/vnd.oci.image.manifest.v1+json');
    if (res.status !== 201) throw new Error(`manifest push failed: ${res.status} ${await res.text()}`);
    return { digest: sha256(body), size: Buffer.byteLength(body), body };
  }
}
