// HTTPS material: the certificate and key named by tls.cert/tls.key, checked before use (both
// readable, PEM, the key belonging to the certificate, accepted by OpenSSL together). At start a
// bad pair is a configuration error; on SIGHUP (lifecycle.ts) it is refused and the pair in use
// keeps serving.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';

export interface TlsPair {
  cert: Buffer;
  key: Buffer;
  /** The first (leaf) certificate of the cert file. */
  x509: X509Certificate;
}

/** Why a certificate/key pair cannot be used; the message names the file and the problem. */
export class TlsPairError extends Error {}

async function read(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new TlsPairError(`${what} ${path} cannot be read: ${e.code ?? ''} ${e.message}`.trim(), {
      cause: err,
    });
  }
}

export async function loadTlsPair(certPath: string, keyPath: string): Promise<TlsPair> {
  const cert = await read(certPath, 'tls.cert');
  const key = await read(keyPath, 'tls.key');
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    throw new TlsPairError(`tls.cert ${certPath} is not a PEM certificate: ${(err as Error).message}`, {
      cause: err,
    });
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    throw new TlsPairError(
      `tls.key ${keyPath} is not an unencrypted PEM private key: ${(err as Error).message}`,
      { cause: err },
    );
  }
  if (!x509.checkPrivateKey(privateKey)) {
    throw new TlsPairError(
      `tls.key ${keyPath} does not match the certificate in tls.cert ${certPath} (the key belongs to another certificate)`,
    );
  }
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    throw new TlsPairError(
      `tls.cert ${certPath} and tls.key ${keyPath} are not usable together: ${(err as Error).message}`,
      { cause: err },
    );
  }
  return { cert, key, x509 };
}

/** What the logs say about a certificate. */
export function describeCertificate(x509: X509Certificate): {
  subject: string;
  issuer: string;
  serial: string;
  notBefore: string;
  notAfter: string;
  fingerprint256: string;
} {
  return {
    subject: x509.subject.split('\n').join(', '),
    issuer: x509.issuer.split('\n').join(', '),
    serial: x509.serialNumber,
    notBefore: new Date(x509.validFrom).toISOString(),
    notAfter: new Date(x509.validTo).toISOString(),
    fingerprint256: x509.fingerprint256,
  };
}

/** A warning for a certificate that is not (or no longer) valid now, else undefined. */
export function validityProblem(x509: X509Certificate, now = Date.now()): string | undefined {
  if (Date.parse(x509.validTo) < now) return `the certificate expired on ${x509.validTo}`;
  if (Date.parse(x509.validFrom) > now) return `the certificate is not valid before ${x509.validFrom}`;
  return undefined;
}
