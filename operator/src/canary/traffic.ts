// The output check's samples from primary's traffic: the image service keeps a bounded record of
// its recent renders on its management port (image-service/src/recent.ts); the operator reads it
// from the primary pod it compares and takes the newest `fromTraffic` entries. The record comes
// from a pod the ImageService's author controls: it is bounded in bytes and time, validated with
// the service's own schema, each entry again as a sample, and never repeated in status.
import { RECENT_PATH, type RecentRecord, RecentRecordSchema } from '../../../image-service/src/recent-record.ts';
import { type OutputSample, OutputSampleSchema } from '../api/image-service.ts';
import { sampleName } from './output.ts';
import { fetchBounded } from './providers/bounded-fetch.ts';
import { AnalysisError } from './providers/provider.ts';

/** Largest record read: the service keeps at most 32 KiB of keys, JSON escapes can double it. */
export const MAX_RECORD_BYTES = 256 * 1024;
const WHO = "primary's record of recent requests";

export interface TrafficSamples {
  samples: OutputSample[];
  /** Why fewer than asked were taken, for status and the Event; absent when all were. */
  note?: string;
}

/**
 * The newest `count` entries that are not already listed and are valid samples. Deterministic:
 * the record is newest first, so a check compares what users asked for last, and the same record
 * always gives the same samples.
 */
export function pickFromTraffic(record: RecentRecord, count: number, listed: readonly OutputSample[]): OutputSample[] {
  const seen = new Set(listed.map(sampleName));
  const picked: OutputSample[] = [];
  for (const entry of record.entries) {
    if (picked.length === count) break;
    const sample = OutputSampleSchema.safeParse(entry);
    if (!sample.success || seen.has(sampleName(sample.data))) continue;
    seen.add(sampleName(sample.data));
    picked.push(sample.data);
  }
  return picked;
}

/** Reads the record from `base` (a primary pod's management port) and picks from it; a record that cannot be read gives no samples and a note. */
export async function samplesFromTraffic(base: string, count: number, listed: readonly OutputSample[], timeoutMs: number, signal: AbortSignal): Promise<TrafficSamples> {
  const none = (why: string): TrafficSamples => ({ samples: [], note: `${WHO}: ${why}` });
  let text: string;
  try {
    const answer = await fetchBounded(`${base}${RECENT_PATH}`, { timeoutMs, maxBytes: MAX_RECORD_BYTES, accept: 'application/json', who: WHO, signal });
    if (answer.status !== 200) return none(`HTTP ${answer.status}`);
    text = answer.text;
  } catch (error) {
    if (signal.aborted || !(error instanceof AnalysisError)) throw error;
    return none(error.kind === 'timeout' ? 'no answer in time' : error.kind === 'bad-answer' ? `an answer over ${MAX_RECORD_BYTES} bytes` : 'unreachable');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return none('no JSON');
  }
  const record = RecentRecordSchema.safeParse(json);
  if (!record.success) return none('JSON that is not a record');
  const samples = pickFromTraffic(record.data, count, listed);
  if (samples.length === count) return { samples };
  return { samples, note: `${WHO}: ${record.data.entries.length === 0 ? 'empty' : `${samples.length} of ${count} usable`}` };
}
