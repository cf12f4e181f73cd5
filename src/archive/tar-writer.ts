// A small streaming tar writer (POSIX ustar, with pax extended headers for what ustar cannot
// hold: names and link targets over 100 bytes, sizes of 8 GiB and more). Members go out one at
// a time and a file's body is read as it is written, so an archive of any size takes a few
// blocks of memory. A file that turns out shorter or longer than its declared size (it changed
// while being read) stops the archive with an error rather than writing a corrupt member.

export interface TarMember {
  /** The path inside the archive, '/'-separated, relative (no leading '/'). */
  name: string;
  type: 'file' | 'directory' | 'symlink';
  /** Permission bits (& 0o7777). */
  mode: number;
  /** Modification time, seconds since the epoch. */
  mtime: number;
  /** A file's bytes (declared), with `body` giving exactly that many. */
  size?: number;
  body?: () => AsyncIterable<Buffer>;
  /** A symlink's target. */
  linkname?: string;
}

export class TarWriteError extends Error {}

const BLOCK = 512;
const TYPEFLAG = { file: '0', directory: '5', symlink: '2' } as const;

/** `value` in octal, NUL-terminated, in a field of `width` bytes; undefined when it does not fit. */
function octal(value: number, width: number): string | undefined {
  const digits = Math.floor(value).toString(8);
  return digits.length > width - 1 ? undefined : `${digits.padStart(width - 1, '0')}\0`;
}

/** One pax record: "<length> <key>=<value>\n", the length counting itself. */
function paxRecord(key: string, value: string): string {
  const rest = ` ${key}=${value}\n`;
  const restBytes = Buffer.byteLength(rest);
  let length = restBytes + String(restBytes).length;
  if (String(length).length + restBytes !== length) length = restBytes + String(length).length;
  return `${length}${rest}`;
}

function header(
  name: string,
  typeflag: string,
  mode: number,
  size: number,
  mtime: number,
  linkname: string,
): Buffer {
  const h = Buffer.alloc(BLOCK);
  h.write(name, 0, 100, 'utf8');
  h.write(octal(mode & 0o7777, 8) as string, 100, 8, 'ascii');
  h.write(octal(0, 8) as string, 108, 8, 'ascii'); // uid
  h.write(octal(0, 8) as string, 116, 8, 'ascii'); // gid
  h.write(octal(size, 12) ?? octal(0, 12)!, 124, 12, 'ascii');
  h.write(octal(Math.max(0, mtime), 12) ?? octal(0, 12)!, 136, 12, 'ascii');
  h.write(' '.repeat(8), 148, 8, 'ascii'); // checksum, counted as spaces
  h.write(typeflag, 156, 1, 'ascii');
  h.write(linkname, 157, 100, 'utf8');
  h.write('ustar\u000000', 257, 8, 'ascii');
  let sum = 0;
  for (const byte of h) sum += byte;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return h;
}

const padding = (size: number) => Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);

/** The header blocks of one member: a pax header first when ustar's fields cannot hold it. */
function headersOf(m: TarMember): Buffer[] {
  const name = m.type === 'directory' && !m.name.endsWith('/') ? `${m.name}/` : m.name;
  const size = m.type === 'file' ? (m.size ?? 0) : 0;
  const linkname = m.linkname ?? '';
  const pax: string[] = [];
  if (Buffer.byteLength(name) > 100) pax.push(paxRecord('path', name));
  if (Buffer.byteLength(linkname) > 100) pax.push(paxRecord('linkpath', linkname));
  if (octal(size, 12) === undefined) pax.push(paxRecord('size', String(size)));
  const main = header(
    Buffer.byteLength(name) > 100 ? name.slice(0, 99) : name,
    TYPEFLAG[m.type],
    m.mode,
    size,
    m.mtime,
    Buffer.byteLength(linkname) > 100 ? '' : linkname,
  );
  if (pax.length === 0) return [main];
  const body = Buffer.from(pax.join(''), 'utf8');
  return [header('././@PaxHeader', 'x', 0o644, body.length, m.mtime, ''), body, padding(body.length), main];
}

/** The archive of `members`, as it is written: headers, bodies, and the two end blocks. */
export async function* tarStream(
  members: AsyncIterable<TarMember> | Iterable<TarMember>,
): AsyncGenerator<Buffer> {
  for await (const m of members) {
    yield* headersOf(m);
    if (m.type !== 'file') continue;
    const size = m.size ?? 0;
    let written = 0;
    if (m.body) {
      for await (const chunk of m.body()) {
        written += chunk.length;
        if (written > size) throw new TarWriteError(`${m.name} grew while being archived`);
        yield chunk;
      }
    }
    if (written !== size) throw new TarWriteError(`${m.name} shrank while being archived`);
    const pad = padding(size);
    if (pad.length) yield pad;
  }
  yield Buffer.alloc(BLOCK * 2);
}
