// The shared token on every call: `authorization: Bearer <token>` metadata (SPEC §8).

import * as grpc from '@grpc/grpc-js';
import { timingSafeEqual } from 'node:crypto';
import { AuthError } from '../errors.js';

export function authMetadata(token: string): grpc.Metadata {
  const metadata = new grpc.Metadata();
  metadata.set('authorization', `Bearer ${token}`);
  return metadata;
}

export function tokenFromMetadata(metadata: grpc.Metadata): string | undefined {
  return bearerToken(metadata.get('authorization')[0]);
}

/** The token of an `authorization: Bearer <token>` header value. */
export function bearerToken(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const match = /^Bearer (.+)$/.exec(value);
  return match ? match[1] : undefined;
}

/** Checks the token of every call against the run's, in constant time. */
export class TokenCheck {
  private readonly expected: Buffer;

  constructor(token: string) {
    this.expected = Buffer.from(token, 'utf8');
  }

  /** Throws AUTH_REFUSED naming `peer` unless `metadata` carries the run's token. */
  require(metadata: grpc.Metadata, peer: string): void {
    this.requireToken(tokenFromMetadata(metadata), peer);
  }

  /** The same for a token already taken from its header (undefined: none given). */
  requireToken(token: string | undefined, peer: string): void {
    const given = Buffer.from(token ?? '', 'utf8');
    if (token === undefined || given.length !== this.expected.length || !timingSafeEqual(given, this.expected)) {
      throw new AuthError('AUTH_REFUSED', `${peer}: ${token === undefined ? 'no token given' : 'wrong token'} (workers need the run's --token or EMOTRAIN_TOKEN)`);
    }
  }
}
