// A small streaming tar reader, shared by the installer (release archives) and the builder
// (uploaded build contexts). It reads 512-byte headers (ustar and GNU), checks each header's
// checksum, and applies GNU long names and link targets ('L', 'K') and pax extended headers
// ('x'; global 'g' records are skipped) to the member that follows. Members come out one at a time
// with a body to read or to leave: whatever is left unread is skipped. Memory stays bounded:
// headers are 512 bytes, pax and long-name records at most 1 MiB, bodies pass through in the
// source's own chunks. After the end-of-archive block the rest of the source is read to its end,
// so a gunzip stream in front checks its CRC and length. Names are handed over as recorded (less
// a leading "./" and a trailing "/"): whether a name is safe is the caller's decision.

/** The archive is truncated or corrupt; the message says where. */
export class TarFormatError extends Error {}

export type TarEntryType =
  'file' | 'directory' | 'symlink' | 'hardlink' | 'character-device' | 'block-device' | 'fifo' | 'other';

export interface TarEntry {
  /** The member's path (pax path, GNU long name or ustar prefix/name), without leading "./" or trailing "/". */
  name: string;
  type: TarEntryType;
  /** The header's type flag as a character ('0', '5', '\0', …). */
  typeflag: string;
  /** Bytes in the body. */
  size: number;
  /** Permission bits, setuid/setgid/sticky included (& 0o7777). */
  mode: number;
  /** Target of a symlink or hard link (pax linkpath, GNU long link or the header's field); '' otherwise. */
  linkname: string;
  /** Offset of the member's header in the (uncompressed) archive. */
  offset: number;
  /** The member's bytes; read it at most once, before asking for the next entry. */
  body: AsyncIterable<Buffer>;
}

const BLOCK = 512;
const MAX_META = 1 << 20; // largest pax or GNU long-name record we accept
const DRAIN = 1 << 16;

const TYPES: Record<string, TarEntryType> = {
  '\0': 'file',
  '0': 'file',
  '7': 'file', // contiguous file: a regular file everywhere that matters
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'character-device',
  '4': 'block-device',
  '5': 'directory',
  '6': 'fifo',
};

const KINDS: Record<TarEntryType, string> = {
  file: 'regular file',
  directory: 'directory',
  symlink: 'symlink',
  hardlink: 'hard link',
  'character-device': 'character device',
  'block-device': 'block device',
  fifo: 'FIFO',
  other: 'tar entry',
};

/** "symlink", "FIFO", "tar entry of type 'S'": what an entry is, for messages. */
export function describeType(e: Pick<TarEntry, 'type' | 'typeflag'>): string {
  return e.type === 'other' ? `tar entry of type '${e.typeflag}'` : KINDS[e.type];
}

/** True for a name that is absolute or has a ".." segment: it would land outside the extraction dir. */
export function escapesRoot(name: string): boolean {
  return name.startsWith('/') || name.split('/').includes('..');
}

/** Pulls exact byte counts out of a stream of chunks. */
class ByteReader {
  private pending: Buffer = Buffer.alloc(0);
  offset = 0;

  constructor(private readonly source: AsyncIterator<Uint8Array>) {}

  /** Up to max bytes (at least one), or undefined at the end of the stream. */
  async next(max: number): Promise<Buffer | undefined> {
    while (this.pending.length === 0) {
      const r = await this.source.next();
      if (r.done) return undefined;
      this.pending = Buffer.isBuffer(r.value)
        ? r.value
        : Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
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

  /** Drops the next n bytes; the stream ending first is corruption. */
  async skip(n: number, what: string): Promise<void> {
    for (let left = n; left > 0;) {
      const chunk = await this.next(left);
      if (!chunk) throw new TarFormatError(`archive ends inside ${what}`);
      left -= chunk.length;
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
    if (raw.readUInt8(0) & 0x40) throw new TarFormatError(`negative ${what} in header at byte ${start}`);
    return raw.subarray(1).reduce((n, b) => n * 256 + b, raw.readUInt8(0) & 0x3f);
  }
  const octal = text(block, start, len).trim();
  if (!/^[0-7]*$/.test(octal)) throw new TarFormatError(`bad ${what} field ${JSON.stringify(octal)}`);
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
      throw new TarFormatError('bad pax header record');
    }
    out.set(record.slice(0, eq), record.slice(eq + 1));
    pos += len;
  }
  return out;
}

/** A member name as readTar hands it over: no leading "./", no trailing "/". */
export const normaliseName = (name: string): string => name.replace(/^(\.\/+)+/, '').replace(/\/+$/, '');
const padding = (size: number) => (BLOCK - (size % BLOCK)) % BLOCK;

/**
 * The members of the tar stream `source` (already gunzipped), one at a time. Throws
 * TarFormatError for a truncated or corrupt archive; errors of the source pass through.
 */
export async function* readTar(source: AsyncIterable<Uint8Array>): AsyncGenerator<TarEntry, void, undefined> {
  const iterator = source[Symbol.asyncIterator]();
  const reader = new ByteReader(iterator);
  try {
    let pax = new Map<string, string>(); // 'x' record: overrides for the next member
    let longName: string | undefined; // GNU 'L' record: the next member's name
    let longLink: string | undefined; // GNU 'K' record: the next member's link target
    for (;;) {
      const block = await reader.read(BLOCK);
      if (block.length === 0) break; // a clean end without end-of-archive blocks: accepted, like GNU tar
      if (block.length < BLOCK) throw new TarFormatError('archive ends inside a header');
      if (block.every((b) => b === 0)) break;
      const offset = reader.offset - BLOCK;
      if (!checksumOk(block)) throw new TarFormatError(`header checksum mismatch at byte ${offset}`);

      const typeflag = String.fromCharCode(block.readUInt8(156));
      const headerSize = number(block, 124, 12, 'size');
      if ('xgLK'.includes(typeflag)) {
        if (headerSize > MAX_META) throw new TarFormatError(`'${typeflag}' record of ${headerSize} bytes`);
        const data = await reader.read(headerSize);
        if (data.length < headerSize) throw new TarFormatError(`archive ends inside a '${typeflag}' record`);
        await reader.skip(padding(headerSize), `a '${typeflag}' record`);
        if (typeflag === 'x') pax = paxRecords(data);
        if (typeflag === 'L') longName = text(data, 0, data.length);
        if (typeflag === 'K') longLink = text(data, 0, data.length);
        continue; // 'g' (global pax) does not matter here
      }

      const ustar = block.toString('latin1', 257, 263) === 'ustar\0';
      const prefix = ustar ? text(block, 345, 155) : '';
      const name = normaliseName(
        pax.get('path') ?? longName ?? (prefix ? `${prefix}/` : '') + text(block, 0, 100),
      );
      const linkname = pax.get('linkpath') ?? longLink ?? text(block, 157, 100);
      const size = pax.has('size') ? Number(pax.get('size')) : headerSize;
      const mode = number(block, 100, 8, 'mode') & 0o7777;
      pax = new Map();
      longName = undefined;
      longLink = undefined;
      if (!Number.isSafeInteger(size) || size < 0) throw new TarFormatError(`bad size for ${name}`);

      const state = { left: size, started: false, done: false };
      const body: AsyncIterable<Buffer> = {
        async *[Symbol.asyncIterator]() {
          if (state.started) throw new Error(`the body of tar member ${name} was read twice`);
          state.started = true;
          if (state.done) throw new Error(`the body of tar member ${name} was read after the next member`);
          while (state.left > 0) {
            if (state.done) throw new Error(`the body of tar member ${name} was read after the next member`);
            const chunk = await reader.next(state.left);
            if (!chunk) throw new TarFormatError(`archive ends inside ${name}`);
            state.left -= chunk.length;
            yield chunk;
          }
        },
      };
      yield { name, type: TYPES[typeflag] ?? 'other', typeflag, size, mode, linkname, offset, body };
      state.done = true;
      await reader.skip(state.left + padding(size), name);
      state.left = 0;
    }
    while (await reader.next(DRAIN)); // read to the end so a gunzip in front checks its CRC and length
  } finally {
    try {
      await iterator.return?.();
    } catch {
      // the error that ended the loop (if any) is the one worth reporting
    }
  }
}
