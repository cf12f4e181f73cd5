// The containerd client: the few gRPC calls OpenCloud needs (version, the image list, blob
// reads). containerd wants the namespace header on every call, even where the call ignores it.
import { status } from '@grpc/grpc-js';
import { unixClient, type UnaryClient } from './grpc.js';
import { GrpcCallError, unixStreamClient, type StreamClient } from './grpc-stream.js';
import { isoFromTimestamp, type ProtoTimestamp } from './proto-time.js';

export interface ContainerdVersion {
  version: string;
  revision: string;
}

interface RawDescriptor {
  media_type: string;
  digest: string;
  size: number;
}
interface RawImage {
  name: string;
  labels: Record<string, string>;
  target: RawDescriptor | null;
  created_at: ProtoTimestamp | null;
  updated_at: ProtoTimestamp | null;
}

export interface ContainerdImage {
  name: string;
  labels: Record<string, string>;
  target: { mediaType: string; digest: string; size: number };
  createdAt: string | null;
  updatedAt: string | null;
}

/** Manifests, indexes and configs are small; a bigger "manifest" is not read whole. */
const MAX_BLOB_READ = 8 * 1024 * 1024;

export class ContainerdClient {
  private readonly version: UnaryClient;
  private images?: UnaryClient;
  private content?: StreamClient;
  private readonly metadata: Record<string, string>;
  constructor(
    readonly socket: string,
    readonly namespace = 'default',
  ) {
    this.metadata = { 'containerd-namespace': namespace };
    this.version = unixClient(
      'containerd.proto',
      'containerd.services.version.v1.Version',
      socket,
      this.metadata,
    );
  }

  getVersion(timeoutMs?: number): Promise<ContainerdVersion> {
    return this.version.call<ContainerdVersion>('Version', {}, timeoutMs);
  }

  /** Every image record in this client's namespace. */
  async listImages(timeoutMs = 10_000): Promise<ContainerdImage[]> {
    this.images ??= unixClient(
      'containerd-images.proto',
      'containerd.services.images.v1.Images',
      this.socket,
      this.metadata,
    );
    const res = await this.images.call<{ images: RawImage[] }>('List', { filters: [] }, timeoutMs);
    return res.images.map((i) => ({
      name: i.name,
      labels: i.labels,
      target: {
        mediaType: i.target?.media_type ?? '',
        digest: i.target?.digest ?? '',
        size: i.target?.size ?? 0,
      },
      createdAt: isoFromTimestamp(i.created_at),
      updatedAt: isoFromTimestamp(i.updated_at),
    }));
  }

  /** A whole blob from the content store, or null when this namespace does not hold it. */
  async readContent(digest: string, maxBytes = MAX_BLOB_READ, timeoutMs = 10_000): Promise<Buffer | null> {
    this.content ??= unixStreamClient(
      'containerd-content.proto',
      'containerd.services.content.v1.Content',
      this.socket,
      this.metadata,
    );
    const chunks: Buffer[] = [];
    let total = 0;
    try {
      await this.content.stream<{ offset: number; data: Buffer }>(
        'Read',
        { digest, offset: 0, size: 0 },
        (m) => {
          total += m.data.length;
          if (total > maxBytes) throw new Error(`blob ${digest} is larger than ${maxBytes} bytes; not read`);
          chunks.push(m.data);
        },
        timeoutMs,
      );
    } catch (err) {
      if (err instanceof GrpcCallError && err.grpcCode === status.NOT_FOUND) return null;
      throw err;
    }
    return Buffer.concat(chunks, total);
  }

  close(): void {
    this.version.close();
    this.images?.close();
    this.content?.close();
  }
}
