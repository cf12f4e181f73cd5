// Sends a byte range of an open file on a raw HTTP response with two reused 1 MiB buffers: one
// is filled from disk while the other is being written to the socket. A stream would allocate a
// fresh 64 KiB buffer per read, and the garbage collection that costs dominated downloads
// (measured: 512 MiB download CPU 1.3-1.7 s -> ~0.4 s).
import type { FileHandle } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';

const CHUNK = 1024 * 1024;

export async function sendFileRange(
  fh: FileHandle,
  res: ServerResponse,
  start: number,
  end: number,
): Promise<void> {
  const buffers = [Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK)];
  const inFlight: Promise<void>[] = [Promise.resolve(), Promise.resolve()];
  let closed = false;
  res.once('close', () => (closed = true));
  try {
    let pos = start;
    for (let i = 0; pos <= end && !closed; i ^= 1) {
      await inFlight[i]; // this buffer's previous write has reached the socket
      const buf = buffers[i] as Buffer;
      const { bytesRead } = await fh.read(buf, 0, Math.min(CHUNK, end - pos + 1), pos);
      if (bytesRead === 0) throw new Error(`blob file ended at ${pos}, expected ${end + 1} bytes`);
      pos += bytesRead;
      inFlight[i] = new Promise((resolve, reject) =>
        res.write(buf.subarray(0, bytesRead), (err) => (err ? reject(err) : resolve())),
      );
    }
    await Promise.all(inFlight);
    if (!closed) res.end();
  } catch (err) {
    res.destroy(err as Error); // the status line is out: the only honest signal left is a cut
  } finally {
    await fh.close();
  }
}
