import { createServer, type AddressInfo } from 'node:net';
import { expect } from 'vitest';
import { SourceError } from './source.ts';

/** What the sources' tests share. */

/** The SourceError a source call rejected with (the test fails if it resolved or threw anything else). */
export async function failure(call: Promise<unknown>): Promise<SourceError> {
  const err = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SourceError);
  return err as SourceError;
}

/** A loopback port nothing listens on: a store or origin that is down. */
export function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}
