// Throwaway TLS material made with the openssl command: a CA and server certificates it signs
// (P-256 keys, SANs for 127.0.0.1, ::1 and localhost), each with its own serial and subject.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const OPENSSL = '/usr/bin/openssl';
const openssl = (args: string[]) => execFileSync(OPENSSL, args, { stdio: ['ignore', 'pipe', 'pipe'] });

export interface TestCa {
  dir: string;
  cert: string; // PEM file
  key: string;
}

export interface ServerCert {
  cert: string; // PEM file
  key: string;
  /** Upper-case hex, as node:crypto's X509Certificate.serialNumber gives it. */
  serial: string;
  commonName: string;
}

export function makeCa(dir: string, name = 'OpenCloud Test CA'): TestCa {
  mkdirSync(dir, { recursive: true });
  const cert = join(dir, 'ca.crt');
  const key = join(dir, 'ca.key');
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key]);
  openssl([
    'req',
    '-x509',
    '-new',
    '-key',
    key,
    '-out',
    cert,
    '-days',
    '2',
    '-subj',
    `/CN=${name}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return { dir, cert, key };
}

/** A server certificate signed by `ca`, written as `<name>.crt` and `<name>.key` in `dir`. */
/** A certificate for `name` signed by `ca`; `usage` "client" makes one for mutual TLS clients. */
export function makeServerCert(
  ca: TestCa,
  dir: string,
  name: string,
  serial: number,
  usage: 'server' | 'client' = 'server',
): ServerCert {
  mkdirSync(dir, { recursive: true });
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  const commonName = `opencloud-test-${name}`;
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key]);
  openssl(['req', '-new', '-key', key, '-out', csr, '-subj', `/O=OpenCloud tests/CN=${commonName}`]);
  writeFileSync(
    ext,
    [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature',
      `extendedKeyUsage=${usage === 'server' ? 'serverAuth' : 'clientAuth'}`,
      'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost',
      '',
    ].join('\n'),
  );
  openssl([
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca.cert,
    '-CAkey',
    ca.key,
    '-set_serial',
    String(serial),
    '-days',
    '1',
    '-extfile',
    ext,
    '-out',
    cert,
  ]);
  const hex = serial.toString(16).toUpperCase();
  return { cert, key, serial: hex.length % 2 ? `0${hex}` : hex, commonName };
}

export const pem = (path: string): string => readFileSync(path, 'utf8');
