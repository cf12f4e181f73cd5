// podman as root without systemd, with everything it writes under one directory: storage (vfs,
// which needs no mounts), run root, temp and events file, network config, registries.conf, auth
// file and signature policy. The one thing left global is containers/image's blob-info cache
// (/var/lib/containers/cache), which podman 4.3 has no setting for.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface PodmanSandbox {
  /** The environment every podman call must get. */
  env: Record<string, string> & { REGISTRY_AUTH_FILE: string };
  /** A signature policy that accepts anything (pass with --signature-policy). */
  policy: string;
}

/** `driver`: vfs (the default) needs no mounts; overlay is far faster for large images. */
export function podmanSandbox(dir: string, opts: { driver?: 'vfs' | 'overlay' } = {}): PodmanSandbox {
  mkdirSync(join(dir, 'tmp'), { recursive: true });
  const file = (name: string, text: string) => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  };
  const env = {
    CONTAINERS_CONF: file(
      'containers.conf',
      [
        '[engine]',
        'cgroup_manager = "cgroupfs"',
        'events_logger = "file"',
        `events_logfile_path = "${dir}/events.log"`,
        `tmp_dir = "${dir}/tmp"`,
        `image_copy_tmp_dir = "${dir}/tmp"`,
        '[network]',
        `network_config_dir = "${dir}/net"`,
        '',
      ].join('\n'),
    ),
    CONTAINERS_STORAGE_CONF: file(
      'storage.conf',
      [
        '[storage]',
        `driver = "${opts.driver ?? 'vfs'}"`,
        `graphroot = "${dir}/root"`,
        `runroot = "${dir}/run"`,
        '',
      ].join('\n'),
    ),
    CONTAINERS_REGISTRIES_CONF: file('registries.conf', ''),
    REGISTRY_AUTH_FILE: file('auth.json', '{"auths":{}}'),
    TMPDIR: join(dir, 'tmp'),
  };
  return { env, policy: file('policy.json', '{"default":[{"type":"insecureAcceptAnything"}]}') };
}
