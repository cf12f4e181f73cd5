// Stand-ins for the public images OpenCloud's Dockerfile starts from, as OCI image layouts pushed
// into a registry under test so a build can name them in place of the public ones: node:20-bookworm
// and node:20-bookworm-slim (scripts/test-env/node-base.sh made their root file systems), and
// moby/buildkit:v0.16.0 (only /usr/bin/buildctl, the Go-built one of the test environment, is taken
// from it). Each node image gets a second layer with this machine's CA bundle,
// and NODE_EXTRA_CA_CERTS naming it: where HTTPS goes through an intercepting proxy (as on these
// machines) the site's own base images trust its CA, or `npm ci` inside a build cannot fetch.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { writeLayoutFiles } from '../../bench/oci-layout.js';
import { layerBlob } from './oci-layout.js';

const NODE_BASES = {
  full: 'node:20-bookworm',
  slim: 'node:20-bookworm-slim',
} as const;
type NodeBase = keyof typeof NODE_BASES;
const BUILDKIT = 'moby/buildkit:v0.16.0';

const CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

/** The layout of one stand-in, made once next to its tarball (again when the CA bundle changes). */
function layoutOf(dir: string, which: NodeBase): string {
  const bundle = readFileSync(CA_BUNDLE, 'utf8');
  const layout = join(
    dir,
    // named by the recipe below (v2) and the bundle: either changing makes a new one
    `${which}-v2-${createHash('sha256').update(bundle).digest('hex').slice(0, 12)}.layout`,
  );
  if (existsSync(join(layout, 'index.json'))) return layout;
  const work = mkdtempSync(join(dir, `.${which}-`));
  try {
    writeLayoutFiles(
      work,
      [
        {
          blob: readFileSync(join(dir, `${which}.tar.gz`)),
          diffId: `sha256:${readFileSync(join(dir, `${which}.diffid`), 'utf8').trim()}`,
          mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
        },
        layerBlob({ [CA_BUNDLE.slice(1)]: bundle }),
      ],
      {
        tag: 'latest',
        runConfig: {
          Env: [
            'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
            `NODE_VERSION=${process.versions.node}`,
            `NODE_EXTRA_CA_CERTS=${CA_BUNDLE}`,
          ],
          Cmd: ['node'],
        },
      },
    );
    renameSync(work, layout); // whole or not at all
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return layout;
}

/** A layout holding buildctl at /usr/bin/buildctl, made once per buildctl binary. */
function buildkitLayout(dir: string, buildctl: string): string {
  const binary = readFileSync(buildctl);
  const layout = join(
    dir,
    `buildkit-${createHash('sha256').update(binary).digest('hex').slice(0, 12)}.layout`,
  );
  if (existsSync(join(layout, 'index.json'))) return layout;
  const work = mkdtempSync(join(dir, '.buildkit-'));
  try {
    mkdirSync(join(work, 'root/usr/bin'), { recursive: true });
    writeFileSync(join(work, 'root/usr/bin/buildctl'), binary, { mode: 0o755 });
    writeLayoutFiles(join(work, 'layout'), [layerBlob({ dir: join(work, 'root') })], { tag: 'latest' });
    renameSync(join(work, 'layout'), layout);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return layout;
}

/**
 * Pushes the stand-ins into the registry at `host` under base/ (base/node:20-bookworm …,
 * base/buildkit:v0.16.0); returns the build's baseImages (FROM name → repository:tag there).
 * `dir`: node-base.sh's output; `buildctl`: the binary to ship.
 */
export async function pushImageBases(
  dir: string,
  buildctl: string,
  host: string,
  creds?: string,
): Promise<Record<string, string>> {
  const layouts: [string, string, string][] = (Object.keys(NODE_BASES) as NodeBase[]).map((which) => [
    NODE_BASES[which],
    `base/${NODE_BASES[which]}`,
    layoutOf(dir, which),
  ]);
  layouts.push([BUILDKIT, 'base/buildkit:v0.16.0', buildkitLayout(dir, buildctl)]);
  const bases: Record<string, string> = {};
  for (const [name, ref, layout] of layouts) {
    await promisify(execFile)('skopeo', [
      'copy',
      '--dest-tls-verify=false',
      ...(creds ? ['--dest-creds', creds] : []),
      `oci:${layout}:latest`,
      `docker://${host}/${ref}`,
    ]);
    bases[name] = ref;
  }
  return bases;
}
