// Makes the base image builds use for FROM, since nothing can be pulled from the internet: an
// OCI image layout holding one uncompressed layer with Debian's static busybox and its applet
// links. Cached under the test cache dir, keyed by the busybox binary's digest.
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { writeImageLayout } from './oci-layout.js';

export interface BaseImage {
  /** The OCI layout directory. */
  layout: string;
  /** Digest of the image manifest. */
  digest: string;
  /** Tag inside the layout (index.json's ref.name). */
  tag: string;
}

const BUSYBOX = '/bin/busybox';

function busyboxRootfs(rootfs: string): void {
  for (const d of ['bin', 'etc', 'root', 'tmp', 'proc', 'sys', 'dev', 'usr/bin', 'usr/sbin', 'sbin']) {
    mkdirSync(join(rootfs, d), { recursive: true });
  }
  chmodSync(join(rootfs, 'tmp'), 0o1777);
  copyFileSync(BUSYBOX, join(rootfs, 'bin/busybox'));
  chmodSync(join(rootfs, 'bin/busybox'), 0o755);
  const applets = execFileSync(BUSYBOX, ['--list-full'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  for (const applet of applets) {
    const at = join(rootfs, applet);
    if (applet === 'bin/busybox' || existsSync(at)) continue;
    mkdirSync(join(at, '..'), { recursive: true });
    symlinkSync('/bin/busybox', at);
  }
  writeFileSync(
    join(rootfs, 'etc/passwd'),
    'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n',
  );
  writeFileSync(join(rootfs, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
}

export function ensureBaseImage(cacheDir: string): BaseImage {
  const key = createHash('sha256').update(readFileSync(BUSYBOX)).digest('hex').slice(0, 16);
  const layout = join(cacheDir, 'base-images', `busybox-v2-${key}`);
  if (existsSync(join(layout, 'index.json'))) {
    // buildctl's --oci-layout store creates ingest/ on open: made here, so the layout also works
    // bound read-only into a test host (a layout cached by an older run may lack it).
    mkdirSync(join(layout, 'ingest'), { recursive: true });
    const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as {
      manifests: { digest: string }[];
    };
    return { layout, digest: (index.manifests[0] as { digest: string }).digest, tag: 'latest' };
  }
  const work = mkdtempSync(join(tmpdir(), 'opencloud-base-'));
  try {
    busyboxRootfs(join(work, 'rootfs'));
    const digest = writeImageLayout(join(work, 'layout'), [{ dir: join(work, 'rootfs') }], {
      gzip: false,
      runConfig: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sh'] },
    });
    mkdirSync(join(work, 'layout', 'ingest'));
    mkdirSync(join(layout, '..'), { recursive: true });
    renameSync(join(work, 'layout'), layout); // atomic: a half-made layout is never seen as cached
    return { layout, digest, tag: 'latest' };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * Copies the base image into the registry at `host` (skopeo), as library/busybox:1 unless another
 * repository:tag is named, with `creds` (user:password) when the registry asks; its reference.
 */
export async function pushBaseImage(
  cacheDir: string,
  host: string,
  opts: { to?: string; creds?: string } = {},
): Promise<string> {
  const image = ensureBaseImage(cacheDir);
  const ref = `${host}/${opts.to ?? 'library/busybox:1'}`;
  await promisify(execFile)('skopeo', [
    'copy',
    '--dest-tls-verify=false',
    ...(opts.creds ? ['--dest-creds', opts.creds] : []),
    `oci:${image.layout}:${image.tag}`,
    `docker://${ref}`,
  ]);
  return ref;
}
