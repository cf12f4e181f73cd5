// More than one watcher on the listening socket, so a crowd of new connections is let in quickly.
//
// Node 20's libuv accepts one connection per turn of the event loop (libuv PR 3696). When hundreds
// of connections are already busy, a turn serves hundreds of requests, and new connections wait
// seconds in the kernel's accept queue: measured at 1000 connections, ~470 waited there and the
// slowest request took 10 s, where Distribution's slowest took 0.8 s. The remedy libuv's
// maintainers give is several watchers on the same socket, each accepting one per turn. Node 20 has
// neither dup() nor SO_REUSEPORT, but a handle sent over an IPC channel arrives as a new descriptor
// of the same socket: a short-lived helper process sends ours back `count - 1` times. It passes the
// raw TCP handle, never a net.Server: a server would start accepting in the helper, and the
// connections it took would be reset when the helper exits.
// The connections those descriptors accept are handed to the real server, which serves them as its
// own. Lanes open once, the first time the server holds `openAt` connections: a server that never
// sees a crowd never starts the helper.
import { spawn } from 'node:child_process';
import { Server, type Socket } from 'node:net';
import type { Logger } from 'pino';

// The helper answers each raw handle it receives with the same handle, then exits when the channel
// closes. Sent from this process, so no file has to ship with the build.
const ECHO = "process.on('message',(m,h)=>process.send(m,h,()=>h.close()));";
const HELPER_TIMEOUT_MS = 10_000;

export interface AcceptLaneOptions {
  /** Watchers in all, the server's own included. */
  count: number;
  /** Open connections at which the lanes are opened. */
  openAt: number;
}

/** What net.Server keeps of its options; a lane takes the server's own. */
interface SocketOptions {
  allowHalfOpen?: boolean;
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
}

export class AcceptLanes {
  private readonly lanes: Server[] = [];
  private open = 0;
  /** Connections the lanes accepted and handed to the server. */
  handedOver = 0;
  private closed = false;

  constructor(
    private readonly server: Server,
    private readonly options: AcceptLaneOptions,
    private readonly logger: Logger,
  ) {
    if (options.count < 2) return;
    server.on('connection', this.counted);
  }

  /** Watchers accepting now, the server's own included. */
  get watchers(): number {
    return 1 + this.lanes.length;
  }

  /** Stops the lanes accepting; the connections they handed over stay with the server. */
  close(): void {
    this.closed = true;
    this.server.off('connection', this.counted);
    for (const lane of this.lanes.splice(0)) lane.close();
  }

  // Counted only until the lanes start opening: after that, no listener on the connection path.
  private readonly counted = (socket: Socket): void => {
    this.open++;
    socket.once('close', () => this.open--);
    if (this.open >= this.options.openAt) {
      this.server.off('connection', this.counted);
      void this.openLanes();
    }
  };

  private async openLanes(): Promise<void> {
    try {
      const received = await duplicates(this.server, this.options.count - 1);
      if (this.closed) {
        for (const handle of received) handle.close();
        return;
      }
      const own = this.server as Server & SocketOptions;
      for (const handle of received) {
        const lane = new Server({
          allowHalfOpen: own.allowHalfOpen ?? false,
          noDelay: own.noDelay ?? false,
          keepAlive: own.keepAlive ?? false,
          keepAliveInitialDelay: own.keepAliveInitialDelay ?? 0,
        });
        lane.on('connection', (socket: Socket) => {
          this.handedOver++;
          this.server.emit('connection', socket);
        });
        lane.listen(handle);
        this.lanes.push(lane);
      }
      this.logger.info({ watchers: this.watchers, openConnections: this.open }, 'accept lanes opened');
    } catch (err) {
      // Serving goes on with the one watcher; the crowd is let in slower.
      this.logger.warn(
        { err },
        'accept lanes could not be opened; new connections are accepted one per turn',
      );
    }
  }
}

/** A raw listening handle (libuv's TCP wrap, Node's `server._handle`). */
interface RawHandle {
  close(): void;
}

/** `n` new raw handles on descriptors of `server`'s socket, made by the echo helper. */
function duplicates(server: Server, n: number): Promise<RawHandle[]> {
  const handle = (server as Server & { _handle?: RawHandle })._handle;
  if (!handle) return Promise.reject(new Error('the server is not listening'));
  return new Promise((resolve, reject) => {
    const helper = spawn(process.execPath, ['-e', ECHO], {
      stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
      env: {},
    });
    const received: RawHandle[] = [];
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      helper.kill();
      for (const h of received) h.close();
      reject(err);
    };
    const timer = setTimeout(
      () => fail(new Error('the lane helper did not answer in time')),
      HELPER_TIMEOUT_MS,
    );
    timer.unref();
    helper.once('error', fail);
    // Resolved once the helper is gone: until then it may still hold a descriptor of the socket,
    // and a port closed meanwhile would stay bound.
    helper.once('exit', (code, signal) => {
      if (received.length < n) fail(new Error(`the lane helper exited (${signal ?? code}) before answering`));
      else if (!settled) {
        settled = true;
        clearTimeout(timer);
        resolve(received);
      }
    });
    helper.on('message', (_message, back) => {
      if (!back) return;
      received.push(back as unknown as RawHandle);
      if (received.length === n) helper.disconnect();
    });
    for (let i = 0; i < n; i++) helper.send('lane', handle as never);
  });
}
