/**
 * A transform child (pool.ts): resizes the jobs its parent sends over the IPC channel, one at a
 * time, and answers each with the image or the HttpError. It exits when the parent goes away.
 * Started without a parent (the compile-cache warmer does), it loads its modules and exits 2.
 */
import { HttpError } from './errors.ts';
import type { ChildAnswer, TransformJob } from './pool.ts';
import { configureSharp, resize } from './transform.ts';

if (process.send === undefined) {
  process.stderr.write('transform-child: runs only as a child of the image service (no IPC channel)\n');
  process.exit(2);
}
configureSharp(Number(process.env.VIPS_CONCURRENCY) || 1);
const reply = (answer: ChildAnswer) => process.send!(answer);

process.on('message', (job: TransformJob) => {
  resize(Buffer.from(job.bytes.buffer, job.bytes.byteOffset, job.bytes.byteLength), job.params, job.format, job.limits, job.drift).then(
    (body) => reply({ ok: true, body }),
    (error: unknown) => {
      if (error instanceof HttpError) reply({ ok: false, status: error.status, code: error.code, message: error.message });
      else reply({ ok: false, status: 500, code: 'internal_error', message: 'the image could not be processed (internal error)' });
    },
  );
});
process.on('disconnect', () => process.exit(0));
