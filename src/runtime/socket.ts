// Checks a daemon's unix socket before any gRPC call, so a failure is named precisely
// (missing, not a socket, permission denied, nothing listening) instead of gRPC's generic
// UNAVAILABLE. Access is checked by really connecting as the current user, never by `test -S`.
import { lstat } from 'node:fs/promises';
import { connect } from 'node:net';

export type SocketFault = 'missing' | 'not-socket' | 'permission' | 'refused' | 'timeout' | 'error';

export class SocketError extends Error {
  constructor(
    readonly fault: SocketFault,
    readonly path: string,
    detail: string,
  ) {
    super(detail);
    this.name = 'SocketError';
  }
}

export async function probeSocket(path: string, timeoutMs = 3000): Promise<void> {
  try {
    const st = await lstat(path);
    if (!st.isSocket()) throw new SocketError('not-socket', path, `${path} exists but is not a socket`);
  } catch (err) {
    if (err instanceof SocketError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR')
      throw new SocketError('missing', path, `${path} does not exist`);
    if (code === 'EACCES') throw new SocketError('permission', path, `permission denied reaching ${path}`);
    throw new SocketError('error', path, `cannot inspect ${path}: ${(err as Error).message}`);
  }
  await new Promise<void>((resolve, reject) => {
    const sock = connect(path);
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new SocketError('timeout', path, `${path} did not accept a connection within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.once('connect', () => {
      clearTimeout(timer);
      sock.end();
      resolve();
    });
    sock.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (err.code === 'EACCES' || err.code === 'EPERM') {
        reject(new SocketError('permission', path, `permission denied connecting to ${path}`));
      } else if (err.code === 'ECONNREFUSED') {
        reject(
          new SocketError(
            'refused',
            path,
            `nothing is listening on ${path} (a stale socket left by a stopped daemon)`,
          ),
        );
      } else if (err.code === 'ENOENT') {
        reject(new SocketError('missing', path, `${path} does not exist`));
      } else {
        reject(new SocketError('error', path, `cannot connect to ${path}: ${err.message}`));
      }
    });
  });
}
