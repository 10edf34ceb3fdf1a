// `npm run bench -- --scenario output-check`: the canary's output check on the corpus's
// photographs (docs/benchmarks.md, "Canary: the output check"; docs/canary.md, "The output check"):
//  - what the two metrics (lightness SSIM, mean CIEDE2000) read for changes a rebuild or a new
//    version may bring, each applied to a resized 2560x1600 photograph;
//  - one check of 20 samples between a primary and a canary image service (real processes of
//    this checkout's service, a -drift canary and a rebuild): its duration and the memory of the
//    process running it.
import { type ChildProcess, spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { OutputCheckSchema } from '../operator/src/api/image-service.ts';
import { checkOutput, decode } from '../operator/src/canary/output.ts';
import { deltaE2000Map, ssimLightness } from '../operator/src/canary/perceptual.ts';
import type { Corpus } from './corpus.ts';

export interface MetricRow {
  change: string;
  ssimWorst: number;
  ssimMean: number;
  deltaEWorst: number;
  deltaEMean: number;
  sizeRatioWorst: number;
}

export interface CheckRow {
  canary: string;
  samples: number;
  seconds: number;
  failures: number;
  worstSsim: number | undefined;
  worstDeltaE: number | undefined;
  rssBeforeBytes: number;
  rssPeakBytes: number;
}

export interface OutputCheckStudy {
  photographs: number;
  metrics: MetricRow[];
  checks: CheckRow[];
}

/** This checkout's image service as a process on a free loopback port; its base URL once it listens. */
async function startService(source: string, drift: boolean): Promise<{ base: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [fileURLToPath(new URL('../image-service/src/main.ts', import.meta.url))], {
    env: { ...process.env, IMAGE_SOURCE: pathToFileURL(source).href, IMAGE_SERVICE_HOST: '127.0.0.1', IMAGE_SERVICE_PORT: '0', IMAGE_SERVICE_INJECT_DRIFT: String(drift) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  for await (const line of createInterface({ input: child.stdout! })) {
    const port = (JSON.parse(line) as { msg?: string; port?: number }).port;
    if (port !== undefined) return { base: `http://127.0.0.1:${port}`, child };
  }
  throw new Error('the image service exited before listening');
}

export async function runOutputCheck(corpus: Corpus, progress: (line: string) => void): Promise<OutputCheckStudy> {
  const gc = globalThis.gc;
  if (gc === undefined) throw new Error('the output-check scenario measures memory after a collection: run it through `npm run bench` (node --expose-gc)');
  const files = (await readdir(corpus.origin)).filter((f) => f.endsWith('-2560x1600.jpg')).sort();
  if (files.length === 0) throw new Error(`no *-2560x1600.jpg photographs in ${corpus.origin}`);
  // Read as buffers: the image service's module allows libvips only its buffer loaders.
  const originals = new Map(await Promise.all(files.map(async (f) => [f, await readFile(join(corpus.origin, f))] as const)));
  const base = (file: string) => sharp(originals.get(file)).resize({ width: 1280 });
  const variants: Record<string, (file: string) => Promise<Buffer>> = {
    'rebuild (same bytes)': (f) => base(f).jpeg({ quality: 80 }).toBuffer(),
    'quality 80 -> 75': (f) => base(f).jpeg({ quality: 75 }).toBuffer(),
    'quality 80 -> 60': (f) => base(f).jpeg({ quality: 60 }).toBuffer(),
    'chroma 4:2:0 -> 4:4:4': (f) => base(f).jpeg({ quality: 80, chromaSubsampling: '4:4:4' }).toBuffer(),
    'mozjpeg encoder': (f) => base(f).jpeg({ quality: 80, mozjpeg: true }).toBuffer(),
    'hue +5 degrees': (f) => base(f).modulate({ hue: 5 }).jpeg({ quality: 80 }).toBuffer(),
    'hue +20 degrees (the `-drift` build)': (f) => base(f).modulate({ hue: 20 }).jpeg({ quality: 80 }).toBuffer(),
    'saturation x1.2': (f) => base(f).modulate({ saturation: 1.2 }).jpeg({ quality: 80 }).toBuffer(),
    'blur sigma 1': (f) => base(f).blur(1).jpeg({ quality: 80 }).toBuffer(),
    'sRGB -> wide gamut, untagged': (f) =>
      base(f)
        .pipelineColourspace('rgb16')
        .toColourspace('srgb')
        .recomb([
          [0.82, 0.18, 0],
          [0.03, 0.97, 0],
          [0.02, 0.07, 0.91],
        ])
        .jpeg({ quality: 80 })
        .toBuffer(),
  };

  const metrics: MetricRow[] = [];
  const mean = (v: number[]) => v.reduce((s, x) => s + x, 0) / v.length;
  for (const [change, make] of Object.entries(variants)) {
    const ssims: number[] = [];
    const des: number[] = [];
    const ratios: number[] = [];
    for (const file of files) {
      const reference = await base(file).jpeg({ quality: 80 }).toBuffer();
      const changed = await make(file);
      const [a, b] = [await decode(reference), await decode(changed)];
      ssims.push(ssimLightness(a.lab, b.lab));
      des.push(deltaE2000Map(a.lab, b.lab).mean);
      ratios.push(Math.max(reference.length, changed.length) / Math.min(reference.length, changed.length));
    }
    metrics.push({ change, ssimWorst: Math.min(...ssims), ssimMean: mean(ssims), deltaEWorst: Math.max(...des), deltaEMean: mean(des), sizeRatioWorst: Math.max(...ratios) });
    progress(`output-check: ${change}`);
  }

  // One check of 20 samples: the photographs as originals and at w=1280, the first 4 also as WebP.
  const samples = [
    ...files.flatMap((key) => [
      { key, params: '' },
      { key, params: 'w=1280' },
    ]),
    ...files.slice(0, 4).map((key) => ({ key, params: 'w=640&fm=webp' })),
  ].slice(0, 20);
  const spec = OutputCheckSchema.parse({ samples });
  const checks: CheckRow[] = [];
  const services = await Promise.all([startService(corpus.origin, false), startService(corpus.origin, false), startService(corpus.origin, true)]);
  try {
    const [primary, rebuild, drift] = services;
    for (const [name, canary] of [
      ['rebuild', rebuild!],
      ['`-drift`', drift!],
    ] as const) {
      // Warm both services' caches so that the check's own cost is measured.
      await checkOutput(spec, { primary: primary!.base, canary: canary.base }, AbortSignal.timeout(600_000));
      gc();
      const rssBefore = process.memoryUsage().rss;
      let peak = rssBefore;
      const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
      const started = performance.now();
      const result = await checkOutput(spec, { primary: primary!.base, canary: canary.base }, AbortSignal.timeout(600_000));
      const seconds = (performance.now() - started) / 1000;
      clearInterval(sampler);
      checks.push({
        canary: name,
        samples: result.samples,
        seconds,
        failures: result.failures.length,
        worstSsim: result.worstSsim,
        worstDeltaE: result.worstDeltaE,
        rssBeforeBytes: rssBefore,
        rssPeakBytes: peak,
      });
      progress(`output-check: a check against the ${name} canary in ${seconds.toFixed(2)} s`);
    }
  } finally {
    for (const s of services) s.child.kill();
  }
  return { photographs: files.length, metrics, checks };
}
