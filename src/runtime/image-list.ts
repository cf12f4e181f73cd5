// containerd's images in the configured namespaces, each with its real size (config + layers
// per platform manifest) read from the content store. An unreachable daemon fails the whole
// list (a SocketError); a blob that cannot be read or parsed only leaves that image unsized.
import { status } from '@grpc/grpc-js';
import { ContainerdClient } from './containerd.js';
import { GrpcCallError } from './grpc-stream.js';
import { ImageSizer, type PlatformSize } from './image-size.js';
import { SocketError } from './socket.js';

export interface ImageSummary {
  namespace: string;
  name: string;
  digest: string;
  mediaType: string;
  /** Config + layers over the platform manifests present; null when unknown. */
  size: number | null;
  platforms: PlatformSize[];
  createdAt: string | null;
  updatedAt: string | null;
}

const CONCURRENCY = 8;

async function mapLimited<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** A fault of the daemon or its socket (as opposed to one bad or missing blob). */
const isDaemonFault = (err: unknown) =>
  err instanceof GrpcCallError ? err.grpcCode === status.UNAVAILABLE : err instanceof SocketError;

export async function listImages(
  socket: string,
  namespaces: string[],
  sizer: ImageSizer,
  onImageError: (err: Error, image: { namespace: string; name: string }) => void = () => {},
): Promise<ImageSummary[]> {
  const perNamespace = await Promise.all(
    [...new Set(namespaces)].map(async (namespace) => {
      const client = new ContainerdClient(socket, namespace);
      try {
        const images = await client.listImages();
        return await mapLimited(images, CONCURRENCY, async (img): Promise<ImageSummary> => {
          let sized: Pick<ImageSummary, 'size' | 'platforms'>;
          try {
            sized = await sizer.measure(img.target, (d) => client.readContent(d));
          } catch (err) {
            if (isDaemonFault(err)) throw err;
            onImageError(err as Error, { namespace, name: img.name });
            sized = { size: null, platforms: [] };
          }
          return {
            namespace,
            name: img.name,
            digest: img.target.digest,
            mediaType: img.target.mediaType,
            ...sized,
            createdAt: img.createdAt,
            updatedAt: img.updatedAt,
          };
        });
      } finally {
        client.close();
      }
    }),
  );
  return perNamespace.flat().sort((a, b) => cmp(a.namespace, b.namespace) || cmp(a.name, b.name));
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
