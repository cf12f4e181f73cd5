// /etc/opencloud/config.yaml for an installed host: written once with the settings a production
// install wants, then never overwritten. A later install only adds keys the file lacks (the plan
// shows them as a diff); what an administrator set stays as it is, comments included.
import { isMap, parseDocument } from 'yaml';

export interface InstalledSettings {
  listen: string;
  dataDir: string;
}

/** Keys an installed host's config file holds, in order, with why (as YAML comments). */
export function wantedKeys(s: InstalledSettings): { key: string; value: unknown; comment: string }[] {
  return [
    { key: 'listen', value: s.listen, comment: 'address of the registry, API and web UI' },
    { key: 'dataDir', value: s.dataDir, comment: 'blobs, state and the token key (owned by opencloud)' },
    { key: 'logLevel', value: 'info', comment: 'logs go to the journal: journalctl -u opencloud' },
  ];
}

const HEADER =
  '# OpenCloud configuration, written by `opencloud install`. Edit freely: a later install only adds\n' +
  '# keys this file lacks. Every key and its OPENCLOUD_* variable: docs/configuration.md.\n';

export function renderNew(s: InstalledSettings): string {
  return (
    HEADER +
    wantedKeys(s)
      .map((k) => `\n# ${k.comment}\n${k.key}: ${JSON.stringify(k.value)}\n`)
      .join('')
  );
}

/**
 * The existing file with the wanted keys it lacks appended; `overrides` (keys given on the
 * command line, e.g. --listen) replace what the file says. Unchanged input comes back unchanged.
 */
export function merged(existing: string, s: InstalledSettings, overrides: Set<string>): string {
  const doc = parseDocument(existing);
  if (doc.errors.length > 0) throw new Error(`the config file is not valid YAML: ${doc.errors[0]?.message}`);
  if (doc.contents !== null && !isMap(doc.contents))
    throw new Error('the config file must be a YAML mapping of keys to values');
  let text = existing;
  const keys = wantedKeys(s);
  const replaced = keys.filter((k) => doc.has(k.key) && overrides.has(k.key) && doc.get(k.key) !== k.value);
  if (replaced.length > 0) {
    for (const k of replaced) doc.set(k.key, k.value);
    text = doc.toString();
  }
  for (const k of keys.filter((k) => !doc.has(k.key))) {
    if (text !== '' && !text.endsWith('\n')) text += '\n';
    text += `\n# ${k.comment} (added by opencloud install)\n${k.key}: ${JSON.stringify(k.value)}\n`;
  }
  return text;
}
