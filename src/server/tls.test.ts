import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeCa, makeServerCert } from '../../test/support/certs.js';
import { describeCertificate, loadTlsPair, TlsPairError, validityProblem } from './tls.js';

const dir = mkdtempSync(join(tmpdir(), 'opencloud-tls-unit-'));
const ca = makeCa(join(dir, 'ca'));
const one = makeServerCert(ca, dir, 'one', 0x1001);
const two = makeServerCert(ca, dir, 'two', 0x2002);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function refusal(cert: string, key: string): Promise<string> {
  try {
    await loadTlsPair(cert, key);
  } catch (err) {
    expect(err).toBeInstanceOf(TlsPairError);
    return (err as Error).message;
  }
  throw new Error('the pair was accepted');
}

describe('loadTlsPair', () => {
  it('loads a matching pair and describes its certificate', async () => {
    const pair = await loadTlsPair(one.cert, one.key);
    const d = describeCertificate(pair.x509);
    expect(d.subject).toBe(`O=OpenCloud tests, CN=${one.commonName}`);
    expect(d.serial).toBe(one.serial);
    expect(d.issuer).toBe('CN=OpenCloud Test CA');
    expect(Date.parse(d.notAfter)).toBeGreaterThan(Date.now());
    expect(validityProblem(pair.x509)).toBeUndefined();
    expect(validityProblem(pair.x509, Date.now() + 3 * 86400_000)).toMatch(/expired/);
  });

  it('names the file and the problem when the pair cannot be used', async () => {
    expect(await refusal(one.cert, two.key)).toBe(
      `tls.key ${two.key} does not match the certificate in tls.cert ${one.cert} (the key belongs to another certificate)`,
    );
    expect(await refusal(join(dir, 'missing.crt'), one.key)).toMatch(
      new RegExp(`^tls.cert ${dir}/missing.crt cannot be read: ENOENT`),
    );
    const garbage = join(dir, 'garbage.pem');
    writeFileSync(garbage, 'not a certificate\n');
    expect(await refusal(garbage, one.key)).toContain(`tls.cert ${garbage} is not a PEM certificate`);
    expect(await refusal(one.cert, garbage)).toContain(
      `tls.key ${garbage} is not an unencrypted PEM private key`,
    );
    // A certificate where the key should be.
    expect(await refusal(one.cert, one.cert)).toContain(`tls.key ${one.cert} is not an unencrypted PEM`);
  });
});
