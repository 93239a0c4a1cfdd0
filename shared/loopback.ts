// Which listening addresses only this machine can reach: the coordinator needs no token there
// (SPEC §8), and `emotrain serve` needs no --allow-remote.

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

export function isLoopbackHost(host: string): boolean {
  return LOOPBACK_HOSTS.has(host) || /^127\.\d+\.\d+\.\d+$/.test(host);
}
