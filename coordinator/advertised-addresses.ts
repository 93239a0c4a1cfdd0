// The gRPC addresses a coordinator tells workers to use (the worker command it prints, its NATS
// announcement): --advertise when given; the listen host when it is one; for a wildcard listener
// (0.0.0.0, [::]) this host's own non-loopback IPv4 addresses, then its hostname — whichever a
// worker on another host can reach, it tries them in order.

import type { NetworkInterfaceInfo } from 'node:os';
import { ConfigError } from '../shared/errors.js';

const WILDCARD_HOSTS = new Set(['0.0.0.0', '[::]', '::']);

export function isWildcardHost(host: string): boolean {
  return WILDCARD_HOSTS.has(host);
}


/** `advertise`: HOST or HOST:PORT entries (PORT defaults to the one we listen on). */
export function advertisedAddresses(
  listenHost: string,
  port: number,
  interfaces: NodeJS.Dict<NetworkInterfaceInfo[]>,
  hostname: string,
  advertise: string[] = [],
): string[] {
  if (advertise.length > 0) {
    return advertise.map((entry) => {
      const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.\-]+)(?::(\d{1,5}))?$/.exec(entry);
      if (!match || (match[2] !== undefined && (Number(match[2]) < 1 || Number(match[2]) > 65535))) {
        throw new ConfigError('CONFIG_INVALID', `--advertise ${JSON.stringify(entry)} is not HOST or HOST:PORT`);
      }
      return `${match[1]}:${match[2] ?? port}`;
    });
  }
  if (!isWildcardHost(listenHost)) return [`${listenHost}:${port}`];
  const own = Object.values(interfaces)
    .flatMap((list) => list ?? [])
    .filter((info) => info.family === 'IPv4' && !info.internal)
    .map((info) => `${info.address}:${port}`);
  return own.length > 0 ? [...own, `${hostname}:${port}`] : [`127.0.0.1:${port}`];
}
