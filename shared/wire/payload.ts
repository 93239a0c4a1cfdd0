// Byte payloads on the wire (SPEC §2): tensors travel as the raw little-endian bytes of typed
// arrays, cut into chunks of a few MiB; the receiving side checks that chunks arrive in order,
// without gaps or overlap, and add up exactly to what the header declared.

import { ProtocolError } from '../errors.js';
import type { TensorChunk } from './messages.js';
import { CHUNK_BYTES } from './service.js';

export function bytesOf(array: Float32Array | Uint16Array): Uint8Array {
  return new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
}

/** Cuts a payload made of consecutive segments into chunks; a chunk never spans two segments. */
export function* chunkPayload(segments: readonly Uint8Array[], chunkBytes = CHUNK_BYTES): Generator<TensorChunk> {
  let offset = 0;
  for (const segment of segments) {
    for (let start = 0; start < segment.byteLength; start += chunkBytes) {
      const end = Math.min(start + chunkBytes, segment.byteLength);
      yield { offset: offset + start, data: Buffer.from(segment.buffer, segment.byteOffset + start, end - start) };
    }
    offset += segment.byteLength;
  }
}

/**
 * Receives a chunked payload into consecutive target segments, checking that chunks arrive in
 * order, without gaps or overlap, and never past the end. `what` names the payload in errors.
 */
export class PayloadReceiver {
  private readonly totalBytes: number;
  private received = 0;

  constructor(
    private readonly segments: readonly Uint8Array[],
    private readonly what: string,
  ) {
    this.totalBytes = segments.reduce((sum, s) => sum + s.byteLength, 0);
  }

  get complete(): boolean {
    return this.received === this.totalBytes;
  }

  get receivedBytes(): number {
    return this.received;
  }

  get expectedBytes(): number {
    return this.totalBytes;
  }

  write(chunk: TensorChunk): void {
    const data = chunk.data;
    if (chunk.offset !== this.received) {
      throw new ProtocolError('PROTOCOL_INVALID', `${this.what}: TensorChunk.offset is ${chunk.offset}; the next chunk starts at byte ${this.received} (chunks must arrive in order)`);
    }
    if (this.received + data.byteLength > this.totalBytes) {
      throw new ProtocolError(
        'PROTOCOL_WRONG_SIZE',
        `${this.what}: ${this.received + data.byteLength} bytes received, more than the ${this.totalBytes} declared`,
      );
    }
    let source = 0;
    let position = this.received;
    for (const segment of this.segments) {
      if (source === data.byteLength) break;
      if (position >= segment.byteLength) {
        position -= segment.byteLength;
        continue;
      }
      const n = Math.min(segment.byteLength - position, data.byteLength - source);
      segment.set(data.subarray(source, source + n), position);
      source += n;
      position = 0;
    }
    this.received += data.byteLength;
  }

  /** Throws unless every declared byte arrived. */
  finish(): void {
    if (!this.complete) {
      throw new ProtocolError('PROTOCOL_WRONG_SIZE', `${this.what}: stream ended after ${this.received} of ${this.totalBytes} bytes`);
    }
  }
}

/**
 * Writes a message to a gRPC stream and resolves once grpc-js has serialised it. Chunks are views
 * of buffers that are reused (the next step's gradients overwrite them), so a chunk must not sit
 * unserialised in the stream's queue when its buffer changes; waiting for each write's callback
 * also bounds memory to one chunk in flight per stream.
 */
export function writeMessage<T>(stream: { write(message: T, callback: (error?: Error | null) => void): boolean }, message: T): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.write(message, (error) => (error ? reject(error) : resolve()));
  });
}
