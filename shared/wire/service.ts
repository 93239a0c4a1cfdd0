// Loading the Trainer service of proto/emotrain.proto at run time, typed by the generated
// definitions (shared/wire/generated, from scripts/wire-types.mjs with the same options), and the
// limits both ends of a channel share.

import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import os from 'node:os';
import path from 'node:path';
import { ProtocolError } from '../errors.js';
import { packageRoot } from '../package-root.js';
import type { ProtoGrpcType } from './generated/emotrain.js';
import type { PeerClient, PeerDefinition } from './generated/emotrain/v1/Peer.js';
import type { TrainerClient, TrainerDefinition } from './generated/emotrain/v1/Trainer.js';

export type { PeerClient, PeerHandlers } from './generated/emotrain/v1/Peer.js';
export type { TrainerClient, TrainerHandlers } from './generated/emotrain/v1/Trainer.js';

// 2: the reduced chunks stream back during the upload and the verdict comes last.
// 3: world generations (Abandon, TrainStep/GradientHeader/RingHeader.generation), StepFailure reports,
//    checksum request ids.
export const PROTOCOL_VERSION = 3;
/** Bulk payloads travel in chunks of this many bytes (SPEC §2: "bytes fields of a few MiB"). */
export const CHUNK_BYTES = 2 * 1024 * 1024;
/** Large enough for a chunk plus a step command with its sample images. */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

export const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
  'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
};

/**
 * What a server (the coordinator; a worker's Peer service, worker/peer-server.ts, holds itself to
 * the same) accepts from a client. Clients send
 * nothing bigger than a payload chunk and its header, or an evaluation report (about 35 bytes per
 * sample of a shard), so a bigger message is refused from its length prefix, before it is
 * buffered and before the token is checked; and a connection may hold only so many streams.
 */
export const MAX_REQUEST_BYTES = 16 * 1024 * 1024;
export const SERVER_OPTIONS: grpc.ServerOptions = {
  'grpc.max_receive_message_length': MAX_REQUEST_BYTES,
  'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
  'grpc.max_concurrent_streams': 32,
};

/**
 * The coordinator's server also closes a connection with no call open for a minute (GOAWAY):
 * idle tokenless connections are held that long at most. A worker in the run always has its
 * command and heartbeat streams open, so its connections are never idle. (A worker's Peer service
 * closes only connections that never showed the token: ring links carry no call between steps,
 * and a validation can take minutes.)
 */
export const COORDINATOR_SERVER_OPTIONS: grpc.ServerOptions = {
  ...SERVER_OPTIONS,
  'grpc.max_connection_idle_ms': 60_000,
};

if (os.endianness() !== 'LE') {
  // Payloads are the raw bytes of typed arrays; every platform Node and tfjs support is little-endian.
  throw new ProtocolError('PROTOCOL_INVALID', 'emotrain needs a little-endian host: tensor payloads are raw little-endian bytes');
}

/** What `new` on a loaded service gives: a client whose methods are typed by the proto. */
export type ClientConstructor<C> = new (address: string, credentials: grpc.ChannelCredentials, options?: grpc.ChannelOptions) => C;
export type TrainerClientConstructor = ClientConstructor<TrainerClient>;

interface LoadedServices {
  trainer: { client: TrainerClientConstructor; service: TrainerDefinition };
  peer: { client: ClientConstructor<PeerClient>; service: PeerDefinition };
}

let services: LoadedServices | undefined;

function loadServices(): LoadedServices {
  if (!services) {
    const definition = protoLoader.loadSync(path.join(packageRoot(), 'proto', 'emotrain.proto'), {
      keepCase: false,
      longs: Number,
      enums: String,
      defaults: true,
      oneofs: true,
    });
    const loaded = grpc.loadPackageDefinition(definition) as unknown as ProtoGrpcType;
    const { Trainer, Peer } = loaded.emotrain.v1;
    services = {
      trainer: { client: Trainer as unknown as TrainerClientConstructor, service: Trainer.service },
      peer: { client: Peer as unknown as ClientConstructor<PeerClient>, service: Peer.service },
    };
  }
  return services;
}

/** The Trainer service (coordinator ← workers), loaded once per process. */
export function loadTrainerService(): LoadedServices['trainer'] {
  return loadServices().trainer;
}

/** The Peer service (worker → worker, the ring), loaded once per process. */
export function loadPeerService(): LoadedServices['peer'] {
  return loadServices().peer;
}
