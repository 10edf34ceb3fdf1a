import { readdirSync, readFileSync } from 'node:fs';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpError } from './errors.ts';
import { parseParams } from './params.ts';
import { type TransformJob, TransformPool } from './pool.ts';
import { until } from './service.testkit.ts';

const limits = { maxInputPixels: 50_000_000, memoryPerWorker: 1024 ** 3, timeoutSeconds: 60 };
const params = (query: string) => parseParams(query)!;
const noise = (width: number, height: number) =>
  sharp({ create: { width, height, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 128, sigma: 60 } } })
    .png()
    .toBuffer();

let pool: TransformPool;
afterEach(() => pool.close());

describe('TransformPool', () => {
  it('resizes each job in a fresh child, started ahead, and passes a failed resize on as its HttpError', async () => {
    pool = new TransformPool(2);
    const job: TransformJob = { bytes: await noise(400, 300), params: params('w=100'), format: 'webp', limits };
    for (let i = 0; i < 3; i++) {
      expect(await sharp(await pool.run(job, new AbortController().signal)).metadata()).toMatchObject({ format: 'webp', width: 100, height: 75 });
    }
    const broken = pool.run({ ...job, bytes: job.bytes.subarray(0, 200) }, new AbortController().signal);
    await expect(broken).rejects.toBeInstanceOf(HttpError);
    await expect(broken).rejects.toMatchObject({ status: 422, code: 'undecodable_image' });
    expect(await pool.run(job, new AbortController().signal)).toBeInstanceOf(Buffer);
    // Five jobs, each child ended after its one: the first started on demand, each next one ahead.
    expect(pool.started).toBe(6);
    expect(pool.alive).toBe(1);
    expect(pool.killed).toBe(0);
  });

  it('kills the child when the signal aborts, rejects with its reason once the child is gone, and starts another for the next job', async () => {
    pool = new TransformPool(1);
    const job: TransformJob = { bytes: await noise(2048, 2048), params: params('fm=avif'), format: 'avif', limits };
    const client = new AbortController();
    const running = pool.run(job, client.signal);
    client.abort(new Error('the client went away'));
    await expect(running).rejects.toThrow('the client went away');
    expect(pool.killed).toBe(1);
    expect(pool.alive).toBe(0);
    const small = await pool.run({ ...job, bytes: await noise(64, 64) }, new AbortController().signal);
    expect(await sharp(small).metadata()).toMatchObject({ format: 'heif', width: 64 });
    expect(pool.started).toBe(2);
  });

  it('kills an encode that outlives the time limit (libaom does not look at it): 422 too_slow', { timeout: 60_000 }, async () => {
    pool = new TransformPool(1);
    // 4 MP of noise: seconds of CPU in one libaom call, far beyond 1 s.
    const job: TransformJob = { bytes: await noise(2048, 2048), params: params('fm=avif'), format: 'avif', limits: { ...limits, timeoutSeconds: 1 } };
    await expect(pool.run(job, new AbortController().signal)).rejects.toMatchObject({ status: 422, code: 'too_slow' });
    expect(pool.killed).toBe(1);
  });

  it('answers a child that dies mid-job (the OOM killer) with an error, not a hang, and goes on', { timeout: 60_000 }, async () => {
    pool = new TransformPool(1);
    const job: TransformJob = { bytes: await noise(2048, 2048), params: params('fm=avif'), format: 'avif', limits };
    const running = pool.run(job, new AbortController().signal);
    const children = () =>
      readdirSync('/proc')
        .filter((entry) => /^\d+$/.test(entry))
        .filter((pid) => {
          try {
            return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('transform-child') && readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ')[1] === String(process.pid);
          } catch {
            return false;
          }
        });
    await until(() => children().length === 1);
    process.kill(Number(children()[0]), 'SIGKILL');
    await expect(running).rejects.toThrow(/ended during a resize \(SIGKILL\)/);
    expect(pool.killed).toBe(0);
    expect(await pool.run({ ...job, bytes: await noise(32, 32) }, new AbortController().signal)).toBeInstanceOf(Buffer);
  });

  it('refuses a job whose signal has already aborted without starting a child', async () => {
    pool = new TransformPool(1);
    const job: TransformJob = { bytes: await noise(16, 16), params: params('w=8'), format: 'jpeg', limits };
    await expect(pool.run(job, AbortSignal.abort(new Error('gone')))).rejects.toThrow('gone');
    expect(pool.started).toBe(0);
  });
});
