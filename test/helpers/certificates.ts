// Certificates the TLS tests make for themselves with openssl (nothing is shipped).

import { execFileSync } from 'node:child_process';
import path from 'node:path';

/** A self-signed certificate and its key in `dir`, for `subjectAltName` (e.g. IP:127.0.0.1,DNS:localhost). */
export function selfSignedCertificate(dir: string, subjectAltName = 'IP:127.0.0.1,DNS:localhost', commonName = 'localhost'): { cert: string; key: string } {
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1',
    '-subj', `/CN=${commonName}`, '-addext', `subjectAltName=${subjectAltName}`,
  ], { stdio: 'ignore' });
  return { cert, key };
}
