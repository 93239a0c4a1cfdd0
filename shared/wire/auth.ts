// The shared token on every call: `authorization: Bearer <token>` metadata (SPEC §8).

import * as grpc from '@grpc/grpc-js';

export function authMetadata(token: string): grpc.Metadata {
  const metadata = new grpc.Metadata();
  metadata.set('authorization', `Bearer ${token}`);
  return metadata;
}

export function tokenFromMetadata(metadata: grpc.Metadata): string | undefined {
  const value = metadata.get('authorization')[0];
  if (typeof value !== 'string') return undefined;
  const match = /^Bearer (.+)$/.exec(value);
  return match ? match[1] : undefined;
}
