// How every emotrain program reaches NATS: the --nats flags (the coordinator, `worker --nats`,
// `emotrain status` and `emotrain stop` take the same ones), checked before anything connects,
// and turned into the client's connection options. Secrets may come from the environment, so
// they need not appear on a command line where `ps` shows them.

import { readFileSync } from 'node:fs';
import os from 'node:os';
import type { Argv } from 'yargs';
import { credsAuthenticator, type NodeConnectionOptions } from '@nats-io/transport-node';
import { ConfigError } from '../errors.js';

export interface NatsSettings {
  /** Server URLs, as given (nats://host:4222, tls://host:4222, host:4222). */
  servers: string[];
  auth: { kind: 'none' } | { kind: 'creds'; file: string; creds: Uint8Array } | { kind: 'token'; token: string } | { kind: 'user'; user: string; password: string };
}

export interface NatsFlags {
  nats?: string | undefined;
  'nats-creds'?: string | undefined;
  'nats-token'?: string | undefined;
  'nats-user'?: string | undefined;
  'nats-password'?: string | undefined;
}

/** The --nats flags, in a group of their own. `urlHelp` says what --nats is for in this command. */
export function withNatsFlags<T>(y: Argv<T>, urlHelp: string, group = 'NATS control plane:') {
  return y
    .option('nats', { type: 'string', group, describe: `${urlHelp} (nats://host:4222; several separated by commas; default: $EMOTRAIN_NATS)` })
    .option('nats-creds', { type: 'string', group, describe: 'NATS credentials file (JWT + nkey seed, as `nsc` writes it)' })
    .option('nats-token', { type: 'string', group, describe: 'NATS server token (default: $EMOTRAIN_NATS_TOKEN)' })
    .option('nats-user', { type: 'string', group, describe: 'NATS user (with --nats-password)' })
    .option('nats-password', { type: 'string', group, describe: 'NATS password (default: $EMOTRAIN_NATS_PASSWORD)' });
}

const URL_PATTERN = /^((nats|tls):\/\/)?([^\s/:@]+@)?(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.\-]+)(:\d{1,5})?$/;

function env(name: string): string | undefined {
  const value = process.env[name];
  return value === undefined || value === '' ? undefined : value;
}

/** The settings from the flags (and their environment fallbacks); undefined when no server was named. */
export function natsSettingsFrom(flags: NatsFlags): NatsSettings | undefined {
  const given = flags.nats ?? env('EMOTRAIN_NATS');
  if (given === undefined || given === '') {
    for (const flag of ['nats-creds', 'nats-token', 'nats-user', 'nats-password'] as const) {
      if (flags[flag] !== undefined) throw new ConfigError('CONFIG_INVALID', `--${flag} needs --nats URL (or $EMOTRAIN_NATS): it says how to log in to a server that was not named`);
    }
    return undefined;
  }
  const servers = given.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (servers.length === 0) throw new ConfigError('CONFIG_INVALID', `--nats ${JSON.stringify(given)} names no server`);
  for (const server of servers) {
    const match = URL_PATTERN.exec(server);
    const port = match?.[5] ? Number(match[5].slice(1)) : 4222;
    if (!match || port < 1 || port > 65535) {
      throw new ConfigError('CONFIG_INVALID', `--nats ${JSON.stringify(server)} is not a NATS server URL: expected nats://host:port, tls://host:port or host:port`);
    }
  }
  const token = flags['nats-token'] ?? env('EMOTRAIN_NATS_TOKEN');
  const password = flags['nats-password'] ?? env('EMOTRAIN_NATS_PASSWORD');
  const user = flags['nats-user'];
  const creds = flags['nats-creds'];
  const ways = [creds !== undefined && '--nats-creds', token !== undefined && '--nats-token', (user !== undefined || password !== undefined) && '--nats-user/--nats-password'].filter(Boolean);
  if (ways.length > 1) throw new ConfigError('CONFIG_INVALID', `give one way to log in to NATS, not ${ways.join(' and ')}`);
  if (creds !== undefined) {
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(creds);
    } catch (cause) {
      throw new ConfigError('CONFIG_INVALID', `--nats-creds ${creds}: cannot read it (${(cause as Error).message})`, { cause });
    }
    if (!/-----BEGIN NATS USER JWT-----/.test(Buffer.from(bytes).toString('utf8'))) {
      throw new ConfigError('CONFIG_INVALID', `--nats-creds ${creds} is not a NATS credentials file: it has no "-----BEGIN NATS USER JWT-----" section`);
    }
    return { servers, auth: { kind: 'creds', file: creds, creds: bytes } };
  }
  if (token !== undefined) return { servers, auth: { kind: 'token', token } };
  if (user !== undefined || password !== undefined) {
    if (user === undefined || password === undefined) throw new ConfigError('CONFIG_INVALID', '--nats-user and --nats-password go together');
    return { servers, auth: { kind: 'user', user, password } };
  }
  return { servers, auth: { kind: 'none' } };
}

/** What a person reads about the settings: the servers and how we log in, never a secret. */
export function describeNats(settings: NatsSettings): string {
  const how = { none: 'no authentication', creds: `credentials ${settings.auth.kind === 'creds' ? settings.auth.file : ''}`, token: 'a token', user: `user ${settings.auth.kind === 'user' ? settings.auth.user : ''}` }[settings.auth.kind];
  return `${settings.servers.join(',')} (${how})`;
}

/** The client's options: `name` shows in the server's monitoring pages. */
export function connectionOptions(settings: NatsSettings, name: string): NodeConnectionOptions {
  const base: NodeConnectionOptions = { servers: settings.servers, name: `${name}@${os.hostname()}` };
  switch (settings.auth.kind) {
    case 'creds':
      return { ...base, authenticator: credsAuthenticator(settings.auth.creds) };
    case 'token':
      return { ...base, token: settings.auth.token };
    case 'user':
      return { ...base, user: settings.auth.user, pass: settings.auth.password };
    default:
      return base;
  }
}
