// The output check: each sample request is fetched from a primary pod and from a canary pod and
// the two answers compared (status, content type, dimensions, byte size, then the decoded
// pixels). Everything fetched is bounded (bytes, time, decoded pixels) and nothing fetched is
// repeated: a failure names the sample, the metric and the two values, never a body.
import type { Sharp, SharpOptions } from 'sharp';
import { UNRECORDED_HEADER } from '../../../image-service/src/recent-record.ts';
import { signUrl } from '../../../image-service/src/signing.ts';
import type { OutputCheckSpec, OutputSample } from '../api/image-service.ts';
import { deltaE2000Map, type LabImage, ssimLightness } from './perceptual.ts';
import { type BytesAnswer, fetchBoundedBytes } from './providers/bounded-fetch.ts';
import { AnalysisError } from './providers/provider.ts';
import { formatNumber } from './verdict.ts';

/** Pictures are compared fitted inside this square: bounds the operator's memory and time per sample (docs/canary.md). */
export const COMPARE_SIZE = 1024;
/** Largest picture decoded (its header says); more is a failed sample, never a decode. */
export const MAX_DECODE_PIXELS = 8192 * 8192;
/** Longest side of a visual diff PNG. */
export const DIFF_SIZE = 256;
/** What the check asks for: what a browser sends, so `fm=auto` negotiates as for users. */
const ACCEPT = 'image/webp,image/*;q=0.8';
/** sharp loads libvips and its threads: only an operator whose ImageServices list samples pays for it. */
async function sharp(input: Buffer, options: SharpOptions): Promise<Sharp> {
  const { default: load } = await import('sharp');
  return load(input, options);
}
const IMAGE_TYPES = new Set(['image/jpeg', 'image/png', 'image/webp', 'image/avif', 'image/gif']);

export interface SampleFailure {
  /** `key?params` as the spec names it. */
  sample: string;
  metric: 'status' | 'content type' | 'dimensions' | 'byte size ratio' | 'lightness SSIM' | 'colour difference (mean CIEDE2000)' | 'decode';
  primary: string;
  canary: string;
  /** The limit broken, for the perceptual and size metrics. */
  limit?: string;
  /** A PNG of where the pictures differ (the perceptual failures only). */
  diff?: Buffer;
}

export interface OutputResult {
  samples: number;
  failures: SampleFailure[];
  worstSsim: number | undefined;
  worstDeltaE: number | undefined;
}

/** The base URLs of one primary pod and one canary pod. */
export interface OutputTargets {
  primary: string;
  canary: string;
}

export function sampleName(sample: OutputSample): string {
  const query = [sample.params ?? '', sample.preset === undefined ? '' : `preset=${sample.preset}`].filter((p) => p !== '').join('&');
  return query === '' ? sample.key : `${sample.key}?${query}`;
}

export function samplePath(sample: OutputSample): string {
  const key = sample.key.split('/').map(encodeURIComponent).join('/');
  const query = sampleName(sample).slice(sample.key.length);
  return `/image/files/${key}${query}`;
}

export function describeFailure(f: SampleFailure): string {
  const limit = f.limit === undefined ? '' : ` (limit ${f.limit})`;
  return `output of ${f.sample}: ${f.metric} primary ${f.primary}, canary ${f.canary}${limit}`;
}

/**
 * Compares every sample, one at a time (one pair of pictures in memory at once). `signingKey`:
 * a service with signed URLs gets each sample signed with it, as the service verifies.
 */
export async function checkOutput(spec: OutputCheckSpec, targets: OutputTargets, signal: AbortSignal, signingKey?: string): Promise<OutputResult> {
  const result: OutputResult = { samples: 0, failures: [], worstSsim: undefined, worstDeltaE: undefined };
  for (const sample of spec.samples) {
    signal.throwIfAborted();
    const name = sampleName(sample);
    const path = signingKey === undefined ? samplePath(sample) : signUrl(samplePath(sample), signingKey);
    const fetchOne = (base: string, who: string) =>
      fetchBoundedBytes(`${base}${path}`, {
        accept: ACCEPT,
        // The check's own requests are not users': they stay out of primary's record of recent requests.
        headers: { [UNRECORDED_HEADER]: '1' },
        who: `the ${who} (${name})`,
        timeoutMs: spec.timeoutSeconds * 1000,
        maxBytes: spec.maxBytes,
        signal,
      });
    const [primary, canary] = await Promise.all([answerOf(fetchOne(targets.primary, 'primary')), answerOf(fetchOne(targets.canary, 'canary'))]);
    result.samples++;
    const compared = await compare(name, primary, canary, spec);
    if (compared.ssim !== undefined) result.worstSsim = Math.min(result.worstSsim ?? 1, compared.ssim);
    if (compared.deltaE !== undefined) result.worstDeltaE = Math.max(result.worstDeltaE ?? 0, compared.deltaE);
    result.failures.push(...compared.failures);
  }
  return result;
}

type Fetched = { ok: true; answer: BytesAnswer } | { ok: false; message: string };

async function answerOf(pending: Promise<BytesAnswer>): Promise<Fetched> {
  try {
    return { ok: true, answer: await pending };
  } catch (error) {
    if (error instanceof AnalysisError) return { ok: false, message: error.kind === 'timeout' ? 'no answer in time' : error.kind === 'bad-answer' ? 'answer over maxBytes' : 'unreachable' };
    throw error;
  }
}

/** A content type as the status may show it: a known image type, else a fixed word. */
function typeOf(answer: BytesAnswer): string {
  const type = (answer.contentType ?? '').split(';')[0]!.trim().toLowerCase();
  return IMAGE_TYPES.has(type) ? type : type === '' ? 'none' : 'not an image';
}

interface Compared {
  failures: SampleFailure[];
  ssim?: number;
  deltaE?: number;
}

async function compare(sample: string, p: Fetched, c: Fetched, spec: OutputCheckSpec): Promise<Compared> {
  const fail = (metric: SampleFailure['metric'], primary: string, canary: string, extra: Partial<SampleFailure> = {}): Compared => ({
    failures: [{ sample, metric, primary, canary, ...extra }],
  });
  if (!p.ok || !c.ok) return fail('status', p.ok ? String(p.answer.status) : p.message, c.ok ? String(c.answer.status) : c.message);
  const [a, b] = [p.answer, c.answer];
  // A sample primary cannot serve compares nothing: the sample is wrong, and says so.
  if (a.status !== 200 || b.status !== 200) return fail('status', String(a.status), String(b.status), a.status === 200 ? {} : { limit: 'primary must answer 200: check the sample' });
  if (typeOf(a) !== typeOf(b) || !IMAGE_TYPES.has(typeOf(a))) return fail('content type', typeOf(a), typeOf(b));
  const ratio = Math.max(a.body.length, b.body.length) / Math.max(1, Math.min(a.body.length, b.body.length));
  const failures: SampleFailure[] = [];
  if (ratio > spec.maxSizeRatio) {
    failures.push({ sample, metric: 'byte size ratio', primary: `${a.body.length} B`, canary: `${b.body.length} B`, limit: `x${formatNumber(spec.maxSizeRatio)}` });
  }
  let la: Decoded, lb: Decoded;
  try {
    [la, lb] = [await decode(a.body), await decode(b.body)];
  } catch (error) {
    return { failures: [...failures, { sample, metric: 'decode', primary: 'decoded', canary: 'decoded', limit: (error as Error).message }] };
  }
  if (la.width !== lb.width || la.height !== lb.height) return { failures: [...failures, { sample, metric: 'dimensions', primary: `${la.width}x${la.height}`, canary: `${lb.width}x${lb.height}` }] };
  const ssim = ssimLightness(la.lab, lb.lab);
  const { mean: deltaE, map, width, height } = deltaE2000Map(la.lab, lb.lab);
  const perceptual: SampleFailure[] = [];
  if (!(ssim >= spec.minSsim)) perceptual.push({ sample, metric: 'lightness SSIM', primary: '1', canary: formatNumber(ssim), limit: `at least ${formatNumber(spec.minSsim)}` });
  if (!(deltaE <= spec.maxDeltaE))
    perceptual.push({ sample, metric: 'colour difference (mean CIEDE2000)', primary: '0', canary: formatNumber(deltaE), limit: `at most ${formatNumber(spec.maxDeltaE)}` });
  if (perceptual.length > 0) {
    const diff = await diffPng(map, width, height);
    perceptual[0]!.diff = diff;
  }
  return { failures: [...failures, ...perceptual], ssim, deltaE };
}

export interface Decoded {
  /** The answer's own size. */
  width: number;
  height: number;
  /** The picture fitted inside COMPARE_SIZE, in Lab, flattened on white. */
  lab: LabImage;
}

/** Decodes within MAX_DECODE_PIXELS, to Lab floats at most COMPARE_SIZE a side. */
export async function decode(bytes: Buffer): Promise<Decoded> {
  const meta = await (await sharp(bytes, { limitInputPixels: MAX_DECODE_PIXELS })).metadata();
  const { data, info } = await (await sharp(bytes, { limitInputPixels: MAX_DECODE_PIXELS, failOn: 'error' }))
    .resize(COMPARE_SIZE, COMPARE_SIZE, { fit: 'inside', withoutEnlargement: true })
    .flatten({ background: '#ffffff' })
    .toColourspace('lab')
    .raw({ depth: 'float' })
    .timeout({ seconds: 30 })
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels, expected 3`);
  const floats = new Float32Array(data.buffer, data.byteOffset, data.byteLength / 4);
  return { width: meta.width ?? info.width, height: meta.height ?? info.height, lab: { width: info.width, height: info.height, data: floats } };
}

/** Where the pictures differ, one grey pixel per block, at most DIFF_SIZE a side: black is equal, white a CIEDE2000 of 10 or more. */
async function diffPng(map: Float32Array, width: number, height: number): Promise<Buffer> {
  const grey = Buffer.alloc(map.length);
  for (let i = 0; i < map.length; i++) grey[i] = Math.min(255, Math.round((map[i]! / 10) * 255));
  return (await sharp(grey, { raw: { width, height, channels: 1 } })).resize(DIFF_SIZE, DIFF_SIZE, { fit: 'inside', withoutEnlargement: true }).png({ compressionLevel: 9 }).toBuffer();
}
