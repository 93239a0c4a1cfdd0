// What is left of a refused upload's body, read and thrown away before the refusal is sent.
// Fastify answers a body over its limit at once and closes the connection; a client still writing
// its body then has its unread bytes reset by the kernel and sees EPIPE or ECONNRESET instead of
// the 413 (undici's fetch did so for 1 in 6 uploads of 2 MB on loopback). Reading the rest first
// lets the close be a clean one, as nginx's lingering close and Go's net/http do, within bounds:
// nothing is kept, and a client that sends more than `limitBytes` or takes longer than `limitMs`
// is answered and cut off then.

import type { IncomingMessage } from 'node:http';

/** Resolves once the body has ended (true) or a bound was reached or the request went away (false). */
export function discardBody(request: IncomingMessage, limitBytes: number, limitMs: number): Promise<boolean> {
  if (request.readableEnded || request.destroyed) return Promise.resolve(request.readableEnded);
  return new Promise((resolve) => {
    let left = limitBytes;
    const finish = (ended: boolean): void => {
      clearTimeout(timer);
      request.off('data', onData).off('end', onEnd).off('close', onGone).off('error', onGone);
      resolve(ended);
    };
    const onData = (chunk: Buffer): void => {
      left -= chunk.length;
      if (left < 0) finish(false);
    };
    const onEnd = (): void => finish(true);
    const onGone = (): void => finish(request.readableEnded);
    const timer = setTimeout(() => finish(false), limitMs);
    request.on('data', onData).once('end', onEnd).once('close', onGone).once('error', onGone);
    request.resume();
  });
}
