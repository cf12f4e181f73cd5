import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { envName, FIELDS } from '../config/schema.js';
import { CONFIG_DOCS, CONFIG_DOCS_COMMAND, renderConfigDocs } from './config-docs.js';

describe('docs/configuration.md', () => {
  it('is generated from the schema and up to date', () => {
    const stale = `docs/configuration.md is stale or missing: run \`${CONFIG_DOCS_COMMAND}\``;
    expect(existsSync(CONFIG_DOCS), stale).toBe(true);
    expect(readFileSync(CONFIG_DOCS, 'utf8') === renderConfigDocs(), stale).toBe(true);
  });

  it('names every key with its environment variable and says it is generated', () => {
    const doc = renderConfigDocs();
    expect(doc).toContain('This file is generated');
    for (const f of FIELDS) {
      expect(doc).toContain(`## \`${f.key}\``);
      expect(doc).toContain(`\`${envName(f.key)}\``);
    }
    expect(doc).toContain(
      '- Default: `/var/lib/opencloud` when installed, `<checkout>/data` in a source checkout',
    );
  });
});
