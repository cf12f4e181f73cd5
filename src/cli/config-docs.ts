// docs/configuration.md is generated from the configuration schema (FIELDS), never edited by
// hand. Regenerate: `npm run -s build && node dist/cli/config-docs.js`; the unit test
// config-docs.test.ts fails when the file is stale.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_CONFIG_FILE } from '../config/load.js';
import { envName, FIELDS, type FieldSpec } from '../config/schema.js';
import { PACKAGE_ROOT } from '../paths.js';

export const CONFIG_DOCS = join(PACKAGE_ROOT, 'docs/configuration.md');
export const CONFIG_DOCS_COMMAND = 'npm run -s build && node dist/cli/config-docs.js';

/** A default as one writes it in config.yaml or an environment variable. */
function show(value: unknown): string {
  if (Array.isArray(value)) return value.join(',');
  if (value && typeof value === 'object' && 'host' in value && 'port' in value) {
    const { host, port } = value as { host: string; port: number };
    return `${host.includes(':') ? `[${host}]` : host}:${port}`;
  }
  return String(value);
}

function defaultOf(field: FieldSpec): string {
  if (field.default({ checkout: false, root: '<checkout>' }) === undefined) return 'unset';
  const installed = show(field.default({ checkout: false, root: '<checkout>' }));
  const checkout = show(field.default({ checkout: true, root: '<checkout>' }));
  return installed === checkout
    ? `\`${installed}\``
    : `\`${installed}\` when installed, \`${checkout}\` in a source checkout`;
}

export function renderConfigDocs(): string {
  const lines = [
    '# Configuration',
    '',
    `<!-- Generated from FIELDS in src/config/schema.ts by src/cli/config-docs.ts: do not edit. Regenerate with \`${CONFIG_DOCS_COMMAND}\`. -->`,
    '',
    `This file is generated from the configuration schema (\`FIELDS\` in \`src/config/schema.ts\`); edit the schema, then run \`${CONFIG_DOCS_COMMAND}\`.`,
    '',
    `Values come from the defaults, then \`${DEFAULT_CONFIG_FILE}\` (or \`--config FILE\`, or \`OPENCLOUD_CONFIG\`), then the \`OPENCLOUD_*\` environment variables, then command-line flags. Every value is validated once at start; a bad value stops start-up naming the key, the value, where it came from and what is allowed. Unknown keys in the file are errors. Dotted keys are nested mappings in the YAML file (\`buildkit.socket\` is \`socket\` under \`buildkit\`).`,
    '',
  ];
  for (const field of FIELDS) {
    lines.push(
      `## \`${field.key}\``,
      '',
      field.description,
      '',
      `- Environment: \`${envName(field.key)}\``,
      `- Default: ${defaultOf(field)}`,
      '',
    );
  }
  return lines.join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(CONFIG_DOCS, renderConfigDocs());
  process.stdout.write(`wrote ${CONFIG_DOCS}\n`);
}
