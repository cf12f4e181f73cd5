// The containerd client: the few gRPC calls OpenCloud needs. containerd wants the namespace
// header on every call, even where the call ignores it.
import { unixClient, type UnaryClient } from './grpc.js';

export interface ContainerdVersion {
  version: string;
  revision: string;
}

export class ContainerdClient {
  private readonly version: UnaryClient;
  constructor(
    readonly socket: string,
    readonly namespace = 'default',
  ) {
    this.version = unixClient('containerd.proto', 'containerd.services.version.v1.Version', socket, {
      'containerd-namespace': namespace,
    });
  }

  getVersion(timeoutMs?: number): Promise<ContainerdVersion> {
    return this.version.call<ContainerdVersion>('Version', {}, timeoutMs);
  }

  close(): void {
    this.version.close();
  }
}
