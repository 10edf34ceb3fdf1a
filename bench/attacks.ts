// `npm run bench -- --scenario attacks`: the hostile requests (issue 22, items 6-8)
// against the image service under a 512 MiB budget with two workers, each attack on a fresh
// process so that its peak RSS is its own: status, seconds until the answer and peak RSS. The
// hostile inputs are made by image-service/src/attacks.testkit.ts (the attack suite's) and kept
// under the output directory; the large photograph is the corpus's.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import sharp from 'sharp';
import { grainyJpeg, interlaced16BitPng, manyScanJpeg, noisyJpeg, pngTextBomb } from '../image-service/src/attacks.testkit.ts';
import { serverCpus } from './cell.ts';
import { imageService, operatorSettings } from './contenders.ts';
import type { Corpus } from './corpus.ts';
import type { Options } from './options.ts';
import { MemorySampler, memoryOf, snapshotTree } from './proc-stats.ts';
import { freePort, type RunningServer, startServer } from './server.ts';

const MiB = 2 ** 20;
export const ATTACK_LIMIT_BYTES = 512 * MiB;
const WORKERS = 2;
const TOKEN = 'bench-attack-token';
/** Slow readers: how many, and when their memory is looked at (the send timeout is 30 s). */
const SLOW_READERS = 60;
const HELD_AT_MS = [5_000, 40_000];
/** Abandoned AVIF answers: when their clients leave, and how long the CPU is watched after. */
const LEAVE_AFTER_MS = 200;
const WATCH_MS = 8_000;

export interface AttackResult {
  id: string;
  what: string;
  /** Status of each answer, in order. */
  statuses: number[];
  seconds: number;
  peakMiB: number;
  /** Slow readers: RSS at each of HELD_AT_MS. */
  heldMiB?: number[];
  /** Abandoned work: what it cost after its clients left. */
  abandoned?: Abandoned;
}

interface Abandoned {
  /** CPU seconds of the service's process tree (killed children included) from the requests to WATCH_MS after the clients left. */
  cpuSeconds: number;
  /** Seconds from the clients leaving until no request holds a worker slot. */
  slotFreeSeconds: number;
}

interface Attack {
  id: string;
  what: string;
  run(server: RunningServer, files: Record<string, string>): Promise<Omit<AttackResult, 'id' | 'what' | 'seconds' | 'peakMiB'>>;
}

function call(origin: string, path: string, init: { method?: string; body?: Buffer; signal?: AbortSignal } = {}): Promise<number> {
  return fetch(`${origin}${path}`, {
    method: init.method ?? 'GET',
    body: init.body,
    headers: init.body === undefined ? {} : { authorization: `Bearer ${TOKEN}` },
    signal: init.signal ?? AbortSignal.timeout(180_000),
  }).then(
    async (response) => {
      await response.arrayBuffer();
      return response.status;
    },
    () => 0,
  );
}

/** Written once under the output directory: some take libaom or libpng many seconds to make. */
async function materialize(dir: string, corpus: Corpus): Promise<Record<string, string>> {
  mkdirSync(dir, { recursive: true });
  const made: Record<string, () => Promise<Buffer>> = {
    'scans.jpg': async () => manyScanJpeg(5120, 2880),
    'text-bomb.png': () => pngTextBomb(25, 7_900_000),
    // The real thing, not a header, though libaom takes many seconds and gigabytes to encode 50 MP
    // of flat colour (docs/benchmarks.md, "Image service: hostile images").
    'deep.avif': () =>
      sharp({ create: { width: 7071, height: 7071, channels: 4, background: { r: 10, g: 20, b: 30, alpha: 0.5 } } })
        .avif({ bitdepth: 12, effort: 0 })
        .toBuffer(),
    'interlaced16.png': () => interlaced16BitPng(7000, 7000),
    'big-original.jpg': () => noisyJpeg(7000, 5000),
    // Grain that survives the downscale to a megapixel: the costliest AVIF answer allowed.
    'grain.jpg': () => grainyJpeg(5120, 2880, 3.75),
  };
  const files: Record<string, string> = {};
  for (const [name, make] of Object.entries(made)) {
    const file = join(dir, name);
    if (!existsSync(file)) {
      writeFileSync(`${file}.tmp`, await make());
      renameSync(`${file}.tmp`, file);
    }
    files[name] = name;
  }
  const large = corpus.large[0];
  if (large === undefined) throw new Error('the attacks need the corpus large photograph');
  writeFileSync(join(dir, 'large.jpg'), readFileSync(join(corpus.root, large)));
  return files;
}

const ATTACKS: readonly Attack[] = [
  { id: 'avif-full', what: '5120x2880 photograph as AVIF (`?fm=avif`)', run: async (s) => ({ statuses: [await call(s.origin, '/image/files/large.jpg?fm=avif')] }) },
  {
    id: 'avif-abandoned',
    what: `two clients leave 1365w AVIF answers of a 5120x2880 grainy photograph (\`q=90\`, \`q=91\`: no cache helps) after ${LEAVE_AFTER_MS} ms, then a 640w JPEG`,
    run: async (s) => {
      const cpuAtStart = snapshotTree(s.pid).cpuSeconds;
      const gone = [90, 91].map((q) => call(s.origin, `/image/files/grain.jpg?w=1365&fm=avif&q=${q}`, { signal: AbortSignal.timeout(LEAVE_AFTER_MS) }));
      await Promise.all(gone);
      const left = performance.now();
      while ((await inflight(s.origin)) > 0) await sleep(20);
      const slotFreeSeconds = (performance.now() - left) / 1000;
      const statuses = [await call(s.origin, '/image/files/large.jpg?w=640&fm=jpeg')];
      await sleep(Math.max(0, WATCH_MS - (performance.now() - left)));
      return { statuses, abandoned: { cpuSeconds: snapshotTree(s.pid).cpuSeconds - cpuAtStart, slotFreeSeconds } };
    },
  },
  { id: 'scans', what: 'valid progressive JPEG, 5120x2880, 2688 scans, to 640w', run: async (s) => ({ statuses: [await call(s.origin, '/image/files/scans.jpg?w=640')] }) },
  { id: 'text-resize', what: 'PNG with 25 zTXt chunks of 7.9 MB, to 32w', run: async (s) => ({ statuses: [await call(s.origin, '/image/files/text-bomb.png?w=32')] }) },
  { id: 'text-original', what: 'the same PNG, original', run: async (s) => ({ statuses: [await call(s.origin, '/image/files/text-bomb.png')] }) },
  {
    id: 'text-upload',
    what: 'the same PNG, uploaded (PUT)',
    run: async (s, files) => ({ statuses: [await call(s.origin, '/image/files/uploaded.png', { method: 'PUT', body: readFileSync(files['text-bomb.png']!) })] }),
  },
  { id: 'avif-12bit', what: '7071x7071 12-bit AVIF with alpha, to 100w', run: async (s) => ({ statuses: [await call(s.origin, '/image/files/deep.avif?w=100')] }) },
  { id: 'png16-interlaced', what: '7000x7000 16-bit interlaced PNG, to 100w', run: async (s) => ({ statuses: [await call(s.origin, '/image/files/interlaced16.png?w=100')] }) },
  {
    id: 'slow-readers',
    what: `${SLOW_READERS} clients ask for a 7000x5000 original and never read`,
    run: async (s) => {
      const { port, hostname } = new URL(s.origin);
      const requests = Array.from({ length: SLOW_READERS }, () => {
        const req = request({ host: hostname, port, path: '/image/files/big-original.jpg', agent: false }, (res) => res.pause());
        req.on('error', () => undefined);
        req.end();
        return req;
      });
      const heldMiB: number[] = [];
      let waited = 0;
      for (const at of HELD_AT_MS) {
        await sleep(at - waited);
        waited = at;
        heldMiB.push(Math.round((memoryOf(s.pid)?.rss ?? 0) / MiB));
      }
      for (const req of requests) req.destroy();
      return { statuses: [], heldMiB };
    },
  },
];

/** The service's in-flight gauge: requests holding a worker slot. */
async function inflight(origin: string): Promise<number> {
  const text = await (await fetch(`${origin}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('image_service_inflight '));
  if (line === undefined) throw new Error('the service exports no image_service_inflight');
  return Number(line.split(' ')[1]);
}

export async function runAttacks(options: Options, corpus: Corpus, progress: (line: string) => void): Promise<AttackResult[]> {
  const dir = join(options.out, 'attacks');
  const files = await materialize(dir, corpus);
  for (const name of Object.keys(files)) files[name] = join(dir, name);
  const tokenFile = join(dir, 'admin-token');
  writeFileSync(tokenFile, TOKEN);
  const contender = imageService(operatorSettings(WORKERS));
  const results: AttackResult[] = [];
  for (const attack of ATTACKS) {
    const port = await freePort();
    const cpus = serverCpus(WORKERS);
    const ctx = { repoRoot: options.repoRoot, corpusRoot: dir, host: '127.0.0.1', port, cpus, cpuCount: WORKERS };
    const launch = contender.launch(ctx, '');
    const server = await startServer(
      {
        command: launch.command,
        args: launch.args,
        env: {
          ...launch.env,
          IMAGE_SERVICE_CACHE_BYTES: undefined,
          IMAGE_SERVICE_COALESCE: undefined,
          IMAGE_SERVICE_MEMORY_LIMIT_BYTES: String(ATTACK_LIMIT_BYTES),
          IMAGE_SERVICE_ADMIN_TOKEN_FILE: tokenFile,
        },
        cpus,
        logFile: join(dir, `${attack.id}.log`),
      },
      `http://127.0.0.1:${port}`,
      launch.readyPath,
    );
    try {
      // The tree: costly resizes run in child processes.
      const sampler = new MemorySampler(server.pid, 100);
      const started = performance.now();
      const outcome = await attack.run(server, files);
      const seconds = (performance.now() - started) / 1000;
      const peakMiB = Math.round(Math.max(sampler.stop().peakRssBytes, memoryOf(server.pid)?.hwm ?? 0) / MiB);
      results.push({ id: attack.id, what: attack.what, ...outcome, seconds, peakMiB });
      const cost = outcome.abandoned ? `, ${outcome.abandoned.cpuSeconds.toFixed(2)} CPU s, slot free after ${outcome.abandoned.slotFreeSeconds.toFixed(2)} s` : '';
      progress(`${attack.id}: ${outcome.statuses.join(',')} in ${seconds.toFixed(1)} s, peak ${peakMiB} MiB${outcome.heldMiB ? `, held ${outcome.heldMiB.join('/')} MiB` : ''}${cost}`);
    } finally {
      await server.stop();
    }
  }
  return results;
}

/** The markdown table of one run. */
export function renderAttacks(results: readonly AttackResult[]): string {
  const rows = results.map(
    (r) =>
      `| ${r.id} | ${r.what} | ${r.statuses.join(', ') || '—'} | ${r.seconds.toFixed(1)} | ${r.peakMiB} | ${r.heldMiB?.join(' / ') ?? '—'} | ${r.abandoned ? `${r.abandoned.cpuSeconds.toFixed(2)} / ${r.abandoned.slotFreeSeconds.toFixed(2)}` : '—'} |`,
  );
  return [
    `Budget: IMAGE_SERVICE_MEMORY_LIMIT_BYTES=${ATTACK_LIMIT_BYTES} (512 MiB), ${WORKERS} workers; a fresh process per attack; IMAGE_SERVICE_ISOLATE=${process.env.IMAGE_SERVICE_ISOLATE ?? 'costly (default)'}.`,
    '',
    `| attack | input | status | seconds | peak RSS MiB | RSS MiB at ${HELD_AT_MS.map((ms) => `${ms / 1000} s`).join(' / ')} | abandoned: CPU s in ${WATCH_MS / 1000} s / s until the slot is free |`,
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
    '',
  ].join('\n');
}
