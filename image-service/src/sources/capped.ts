import type { Readable } from 'node:stream';
import { SourceError } from './source.ts';

export function tooLarge(where: string, maxBytes: number): SourceError {
  return new SourceError('too_large', `${where} is larger than the ${maxBytes}-byte limit (maxSourceBytes)`);
}

/**
 * Reads a response body into one buffer, giving up (and destroying the stream, which closes its
 * connection) as soon as it passes `maxBytes` or `signal` aborts: an oversize original is never
 * held whole, and a deadline or a departed client stops a slow body too.
 */
export async function readCapped(body: Readable, maxBytes: number, signal: AbortSignal, where: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  const onAbort = () => body.destroy(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
  if (signal.aborted) onAbort();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const chunk of body) {
      const buf = chunk as Buffer;
      total += buf.length;
      if (total > maxBytes) {
        body.destroy();
        throw tooLarge(where, maxBytes);
      }
      chunks.push(buf);
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  return Buffer.concat(chunks, total);
}
