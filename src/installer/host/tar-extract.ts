// Extracts chosen files from a .tar.gz release archive (BuildKit, containerd and runc ship that way)
// with our own small streaming tar reader (src/archive/tar-reader.ts) behind a gunzip. Only wanted
// members touch the disk, each hashed while it is written; an archive naming any member with an
// absolute or `..` path is refused outright. Member bodies are streamed, so memory stays bounded
// whatever the archive holds. An archive verified by its checksum is read through the descriptor
// it was verified on (a private file, see private-file.ts), never reopened by name.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rm, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import {
  describeType,
  escapesRoot,
  normaliseName,
  readTar,
  TarFormatError,
  type TarEntry,
} from '../../archive/tar-reader.js';
import { StepError } from '../types.js';

export interface ExtractedMember {
  sha256: string;
  size: number;
  mode: number;
}

const LISTED = 20; // member names quoted when a wanted one is missing

async function writeAll(fh: FileHandle, buf: Buffer): Promise<void> {
  for (let off = 0; off < buf.length;) off += (await fh.write(buf, off)).bytesWritten;
}

/** An archive already open: read from its start through `handle`, named `name` in messages. */
export interface OpenArchive {
  name: string;
  handle: FileHandle;
}

function readArchive(from: string | OpenArchive): { archive: string; input: Readable } {
  if (typeof from === 'string') return { archive: from, input: createReadStream(from) };
  // autoClose off: the descriptor is its owner's to close (and may be read again).
  return { archive: from.name, input: from.handle.createReadStream({ start: 0, autoClose: false }) };
}

export async function extractMembers(
  from: string | OpenArchive,
  wanted: Record<string, string>,
): Promise<Record<string, ExtractedMember>> {
  const { archive, input } = readArchive(from);
  const byName = new Map(Object.entries(wanted).map(([key, dest]) => [normaliseName(key), { key, dest }]));
  const found: Record<string, ExtractedMember> = {};
  const written: string[] = [];
  const names: string[] = [];
  let count = 0;

  const gunzip = createGunzip();
  input.on('error', (err) => gunzip.destroy(err));

  /** Writes the member's body to a new dest file, hashing it. */
  async function extract(entry: TarEntry, dest: string): Promise<string> {
    const hash = createHash('sha256');
    const fh = await open(dest, 'wx', 0o700);
    written.push(dest);
    try {
      for await (const chunk of entry.body) {
        hash.update(chunk);
        await writeAll(fh, chunk);
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
    return hash.digest('hex');
  }

  try {
    for await (const entry of readTar(input.pipe(gunzip))) {
      const { name } = entry;
      if (escapesRoot(name)) {
        throw new StepError(`unsafe member ${name} in ${archive}: absolute path or ..`);
      }
      if (name !== '' && count++ < LISTED) names.push(name);

      const want = byName.get(name);
      if (!want) continue; // the reader skips the body
      if (entry.type !== 'file') {
        throw new StepError(`${name} in ${archive} is a ${describeType(entry)}, expected a regular file`);
      }
      if (found[want.key]) throw new StepError(`${archive} holds ${name} more than once`);
      const sha256 = await extract(entry, want.dest);
      found[want.key] = { sha256, size: entry.size, mode: entry.mode };
    }

    const missing = [...byName.values()].filter((w) => !found[w.key]).map((w) => w.key);
    if (missing.length > 0) {
      const more = count > LISTED ? ` and ${count - LISTED} more` : '';
      throw new StepError(`${archive} has no ${missing.join(', ')}; it holds: ${names.join(', ')}${more}`);
    }
    return found;
  } catch (err) {
    await Promise.all(written.map((p) => rm(p, { force: true })));
    const zlib = String((err as NodeJS.ErrnoException).code).startsWith('Z_');
    if (err instanceof TarFormatError || zlib) {
      throw new StepError(`${archive} is truncated or corrupt: ${(err as Error).message}`);
    }
    throw err;
  } finally {
    input.destroy();
    gunzip.destroy();
  }
}
