// Server-streaming gRPC calls to local daemons over unix sockets (containerd's Content/Read,
// BuildKit's Control/Prune), beside grpc.ts's unary ones: same proto loading options, 16 MiB
// receive limit, socket probe and deadline. Failures keep their gRPC status code, so a caller
// can tell "no such blob" from a daemon fault.
import * as grpc from '@grpc/grpc-js';
import { serviceClient } from './grpc.js';
import { probeSocket, SocketError } from './socket.js';

/** The daemon answered with a gRPC error status (`grpcCode`, e.g. grpc.status.NOT_FOUND). */
export class GrpcCallError extends SocketError {
  constructor(
    readonly grpcCode: grpc.status,
    path: string,
    detail: string,
  ) {
    super('error', path, detail);
    this.name = 'GrpcCallError';
  }
}

type ServerStream = (
  req: unknown,
  meta: grpc.Metadata,
  opts: grpc.CallOptions,
) => grpc.ClientReadableStream<unknown>;

export interface StreamClient {
  /**
   * Calls `method` and hands each streamed message to `onMessage`; resolves when the stream
   * ends. If `onMessage` throws, the call is canceled and the promise rejects with that error.
   */
  stream<T>(method: string, request: object, onMessage: (m: T) => void, timeoutMs?: number): Promise<void>;
  close(): void;
}

export function unixStreamClient(
  protoFile: string,
  service: string,
  socketPath: string,
  metadata: Record<string, string> = {},
): StreamClient {
  const client = serviceClient(protoFile, service, socketPath);
  return {
    async stream<T>(method: string, request: object, onMessage: (m: T) => void, timeoutMs = 5000) {
      await probeSocket(socketPath, Math.min(timeoutMs, 5000));
      const meta = new grpc.Metadata();
      for (const [k, v] of Object.entries(metadata)) meta.set(k, v);
      const fn = (client as unknown as Record<string, ServerStream>)[method];
      if (!fn) throw new Error(`${service} has no method ${method}`);
      await new Promise<void>((resolve, reject) => {
        let settled = false;
        const settle = (err?: Error) => {
          if (settled) return;
          settled = true;
          if (err) reject(err);
          else resolve();
        };
        const call = fn.call(client, request, meta, { deadline: Date.now() + timeoutMs });
        call.on('data', (m: unknown) => {
          try {
            onMessage(m as T);
          } catch (err) {
            settle(err as Error);
            call.cancel();
          }
        });
        call.on('error', (err: grpc.ServiceError) => {
          if (err.code === grpc.status.DEADLINE_EXCEEDED) {
            settle(
              new SocketError(
                'timeout',
                socketPath,
                `${service}/${method} did not finish within ${timeoutMs} ms`,
              ),
            );
          } else {
            settle(
              new GrpcCallError(
                err.code,
                socketPath,
                `${service}/${method} failed: ${err.details || err.message}`,
              ),
            );
          }
        });
        call.on('end', () => settle());
      });
    },
    close: () => client.close(),
  };
}
