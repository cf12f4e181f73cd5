// Extracts chosen files from a .tar.gz release archive (BuildKit, containerd and runc ship that way)
// with our own small streaming reader: gunzip, then 512-byte tar headers (ustar and GNU, with GNU
// long names and pax path overrides). Only wanted members touch the disk, each hashed while it is
// written; an archive naming any member with an absolute or `..` path is refused outright. Member
// bodies are streamed, so memory stays bounded whatever the archive holds.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import { StepError } from '../types.js';

export interface ExtractedMember {
  sha256: string;
  size: number;
  mode: number;
}

const BLOCK = 512;
const MAX_META = 1 << 20; // largest pax or GNU long-name record we accept
const LISTED = 20; // member names quoted when a wanted one is missing
const TYPES: Record<string, string> = {
  '1': 'hard link',
  '2': 'symlink',
  '3': 'character device',
  '4': 'block device',
  '5': 'directory',
  '6': 'FIFO',
};

/** Becomes "<archive> is truncated or corrupt: <message>". */
class Corrupt extends Error {}

/** Pulls exact byte counts out of the gunzipped stream. */
class Reader {
  private pending: Buffer = Buffer.alloc(0);
  offset = 0;

  constructor(private readonly source: AsyncIterator<Buffer>) {}

  /** Up to max bytes (at least one), or undefined at the end of the stream. */
  async next(max: number): Promise<Buffer | undefined> {
    while (this.pending.length === 0) {
      const r = await this.source.next();
      if (r.done) return undefined;
      this.pending = r.value;
    }
    const out = this.pending.subarray(0, max);
    this.pending = this.pending.subarray(out.length);
    this.offset += out.length;
    return out;
  }

  /** n bytes, or fewer if the stream ends first. */
  async read(n: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    let got = 0;
    for (let chunk; got < n && (chunk = await this.next(n - got)); got += chunk.length) parts.push(chunk);
    return Buffer.concat(parts, got);
  }

  /** Passes the next n bytes to sink (or drops them); the stream ending first is corruption. */
  async pump(n: number, what: string, sink?: (chunk: Buffer) => Promise<void> | void): Promise<void> {
    for (let left = n; left > 0;) {
      const chunk = await this.next(left);
      if (!chunk) throw new Corrupt(`archive ends inside ${what}`);
      left -= chunk.length;
      await sink?.(chunk);
    }
  }
}

function text(buf: Buffer, start: number, len: number): string {
  const raw = buf.subarray(start, start + len);
  const nul = raw.indexOf(0);
  return raw.toString('utf8', 0, nul === -1 ? raw.length : nul);
}

function number(block: Buffer, start: number, len: number, what: string): number {
  const raw = block.subarray(start, start + len);
  if (raw.readUInt8(0) & 0x80) {
    // GNU base-256, for values too large for octal
    if (raw.readUInt8(0) & 0x40) throw new Corrupt(`negative ${what} in header at byte ${start}`);
    return raw.subarray(1).reduce((n, b) => n * 256 + b, raw.readUInt8(0) & 0x3f);
  }
  const octal = text(block, start, len).trim();
  if (!/^[0-7]*$/.test(octal)) throw new Corrupt(`bad ${what} field ${JSON.stringify(octal)}`);
  return octal ? parseInt(octal, 8) : 0;
}

/** The stored checksum is the byte sum with the checksum field read as spaces (some old tars sum signed bytes). */
function checksumOk(block: Buffer): boolean {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : block.readUInt8(i);
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  const octal = text(block, 148, 8).trim();
  const stored = /^[0-7]+$/.test(octal) ? parseInt(octal, 8) : NaN;
  return stored === unsigned || stored === signed;
}

/** pax records: "<length> <key>=<value>\n", length counting the whole record. */
function paxRecords(data: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  for (let pos = 0; pos < data.length;) {
    const space = data.indexOf(0x20, pos);
    const len = space === -1 ? NaN : Number(data.toString('latin1', pos, space));
    const record = data.toString('utf8', space + 1, pos + len - 1);
    const eq = record.indexOf('=');
    if (!(len > 0) || pos + len > data.length || data[pos + len - 1] !== 0x0a || eq === -1) {
      throw new Corrupt('bad pax header record');
    }
    out.set(record.slice(0, eq), record.slice(eq + 1));
    pos += len;
  }
  return out;
}

const normalise = (name: string) => name.replace(/^(\.\/+)+/, '').replace(/\/+$/, '');
const padding = (size: number) => (BLOCK - (size % BLOCK)) % BLOCK;

async function writeAll(fh: FileHandle, buf: Buffer): Promise<void> {
  for (let off = 0; off < buf.length;) off += (await fh.write(buf, off)).bytesWritten;
}

export async function extractMembers(
  archive: string,
  wanted: Record<string, string>,
): Promise<Record<string, ExtractedMember>> {
  const byName = new Map(Object.entries(wanted).map(([key, dest]) => [normalise(key), { key, dest }]));
  const found: Record<string, ExtractedMember> = {};
  const written: string[] = [];
  const names: string[] = [];
  let count = 0;

  const input = createReadStream(archive);
  const gunzip = createGunzip();
  input.on('error', (err) => gunzip.destroy(err));
  const reader = new Reader(input.pipe(gunzip)[Symbol.asyncIterator]());

  /** Writes the next size bytes to a new dest file, hashing them. */
  async function extract(name: string, dest: string, size: number): Promise<string> {
    const hash = createHash('sha256');
    const fh = await open(dest, 'wx', 0o700);
    written.push(dest);
    try {
      await reader.pump(size, name, async (chunk) => {
        hash.update(chunk);
        await writeAll(fh, chunk);
      });
      await fh.sync();
    } finally {
      await fh.close();
    }
    return hash.digest('hex');
  }

  try {
    let pax = new Map<string, string>(); // 'x' record: overrides for the next member
    let longName: string | undefined; // GNU 'L' record: the next member's name
    for (;;) {
      const block = await reader.read(BLOCK);
      if (block.length === 0) break; // a clean end without end-of-archive blocks: accepted, like GNU tar
      if (block.length < BLOCK) throw new Corrupt('archive ends inside a header');
      if (block.every((b) => b === 0)) break;
      if (!checksumOk(block)) throw new Corrupt(`header checksum mismatch at byte ${reader.offset - BLOCK}`);

      const type = String.fromCharCode(block.readUInt8(156));
      const headerSize = number(block, 124, 12, 'size');
      if ('xgLK'.includes(type)) {
        if (headerSize > MAX_META) throw new Corrupt(`'${type}' record of ${headerSize} bytes`);
        const data = await reader.read(headerSize);
        if (data.length < headerSize) throw new Corrupt(`archive ends inside a '${type}' record`);
        await reader.pump(padding(headerSize), `a '${type}' record`);
        if (type === 'x') pax = paxRecords(data);
        if (type === 'L') longName = text(data, 0, data.length);
        continue; // 'g' (global pax) and 'K' (long link target) do not matter here
      }

      const ustar = block.toString('latin1', 257, 263) === 'ustar\0';
      const prefix = ustar ? text(block, 345, 155) : '';
      const name = normalise(
        pax.get('path') ?? longName ?? (prefix ? `${prefix}/` : '') + text(block, 0, 100),
      );
      const size = pax.has('size') ? Number(pax.get('size')) : headerSize;
      const mode = number(block, 100, 8, 'mode') & 0o7777;
      pax = new Map();
      longName = undefined;
      if (!Number.isSafeInteger(size) || size < 0) throw new Corrupt(`bad size for ${name}`);
      if (name.startsWith('/') || name.split('/').includes('..')) {
        throw new StepError(`unsafe member ${name} in ${archive}: absolute path or ..`);
      }
      if (name !== '' && count++ < LISTED) names.push(name);

      const want = byName.get(name);
      if (!want) {
        await reader.pump(size + padding(size), name);
        continue;
      }
      if (type !== '0' && type !== '\0' && type !== '7') {
        const kind = TYPES[type] ?? `tar entry of type '${type}'`;
        throw new StepError(`${name} in ${archive} is a ${kind}, expected a regular file`);
      }
      if (found[want.key]) throw new StepError(`${archive} holds ${name} more than once`);
      const sha256 = await extract(name, want.dest, size);
      found[want.key] = { sha256, size, mode };
      await reader.pump(padding(size), name);
    }
    while (await reader.next(1 << 16)); // read to the end so gunzip checks its CRC and length

    const missing = [...byName.values()].filter((w) => !found[w.key]).map((w) => w.key);
    if (missing.length > 0) {
      const more = count > LISTED ? ` and ${count - LISTED} more` : '';
      throw new StepError(`${archive} has no ${missing.join(', ')}; it holds: ${names.join(', ')}${more}`);
    }
    return found;
  } catch (err) {
    await Promise.all(written.map((p) => rm(p, { force: true })));
    const zlib = String((err as NodeJS.ErrnoException).code).startsWith('Z_');
    if (err instanceof Corrupt || zlib) {
      throw new StepError(`${archive} is truncated or corrupt: ${(err as Error).message}`);
    }
    throw err;
  } finally {
    input.destroy();
    gunzip.destroy();
  }
}
