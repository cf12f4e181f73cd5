// A small layer over @grpc/grpc-js for unary calls to local daemons over unix sockets:
// our own .proto declarations, a 16 MiB receive limit and a deadline on every call.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { join } from 'node:path';
import { PROTO_DIR } from '../paths.js';
import { probeSocket, SocketError } from './socket.js';

const MAX_RECEIVE = 16 * 1024 * 1024;

type Unary = (
  req: unknown,
  meta: grpc.Metadata,
  opts: grpc.CallOptions,
  cb: (err: grpc.ServiceError | null, res: unknown) => void,
) => void;

export interface UnaryClient {
  call<T>(method: string, request: object, timeoutMs?: number): Promise<T>;
  close(): void;
}

const packages = new Map<string, grpc.GrpcObject>();

function loadPackage(protoFile: string): grpc.GrpcObject {
  let pkg = packages.get(protoFile);
  if (!pkg) {
    const def = protoLoader.loadSync(join(PROTO_DIR, protoFile), {
      keepCase: true,
      longs: Number,
      enums: String,
      defaults: true,
      oneofs: true,
    });
    pkg = grpc.loadPackageDefinition(def);
    packages.set(protoFile, pkg);
  }
  return pkg;
}

function clientConstructor(protoFile: string, service: string): grpc.ServiceClientConstructor {
  let ctor: unknown = loadPackage(protoFile);
  for (const part of service.split('.')) ctor = (ctor as Record<string, unknown>)[part];
  return ctor as grpc.ServiceClientConstructor;
}

/** A grpc-js client for `service` declared in `protoFile`, on the unix socket, 16 MiB receive limit. */
export function serviceClient(protoFile: string, service: string, socketPath: string): grpc.Client {
  const Client = clientConstructor(protoFile, service);
  return new Client(`unix://${socketPath}`, grpc.credentials.createInsecure(), {
    'grpc.max_receive_message_length': MAX_RECEIVE,
  });
}

/**
 * Opens a client for `service` (e.g. "moby.buildkit.v1.Control") declared in `protoFile`,
 * talking to the unix socket at `socketPath`. `metadata` is sent with every call.
 */
export function unixClient(
  protoFile: string,
  service: string,
  socketPath: string,
  metadata: Record<string, string> = {},
): UnaryClient {
  const client = serviceClient(protoFile, service, socketPath);
  return unary(client, service, socketPath, metadata, (timeoutMs) => probeSocket(socketPath, timeoutMs));
}

/**
 * The same over TCP with mutual TLS (a daemon on another machine): the PEM files are read when
 * the client is made, so a renewed certificate needs a new client.
 */
export function tlsClient(
  protoFile: string,
  service: string,
  target: {
    host: string;
    port: number;
    ca: Buffer;
    cert: Buffer;
    key: Buffer;
    serverName?: string | undefined;
  },
): UnaryClient {
  const Client = clientConstructor(protoFile, service);
  const host = target.host.includes(':') ? `[${target.host}]` : target.host;
  const where = `${host}:${target.port}`;
  const client = new Client(where, grpc.credentials.createSsl(target.ca, target.key, target.cert), {
    'grpc.max_receive_message_length': MAX_RECEIVE,
    ...(target.serverName ? { 'grpc.ssl_target_name_override': target.serverName } : {}),
  });
  return unary(client, service, `tcp://${where}`, {});
}

function unary(
  client: grpc.Client,
  service: string,
  where: string,
  metadata: Record<string, string>,
  before?: (timeoutMs: number) => Promise<void>,
): UnaryClient {
  return {
    async call<T>(method: string, request: object, timeoutMs = 5000): Promise<T> {
      await before?.(timeoutMs);
      const meta = new grpc.Metadata();
      for (const [k, v] of Object.entries(metadata)) meta.set(k, v);
      const fn = (client as unknown as Record<string, Unary>)[method];
      if (!fn) throw new Error(`${service} has no method ${method}`);
      return new Promise<T>((resolve, reject) => {
        fn.call(client, request, meta, { deadline: Date.now() + timeoutMs }, (err, res) => {
          if (!err) return resolve(res as T);
          if (err.code === grpc.status.DEADLINE_EXCEEDED) {
            reject(
              new SocketError('timeout', where, `${service}/${method} got no answer within ${timeoutMs} ms`),
            );
          } else {
            reject(
              new SocketError('error', where, `${service}/${method} failed: ${err.details || err.message}`),
            );
          }
        });
      });
    },
    close: () => client.close(),
  };
}
