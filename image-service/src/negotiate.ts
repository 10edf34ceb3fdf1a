import type { RequestedFormat } from './params.ts';

/** Formats the service writes. */
export type OutputFormat = 'jpeg' | 'png' | 'webp' | 'avif';
export type AutoFormat = 'avif' | 'webp';

export interface Negotiated {
  format: OutputFormat;
  /** True when the answer depends on the Accept header: the response then carries `Vary: Accept`. */
  negotiated: boolean;
}

/**
 * The output format. An explicit `fm` wins. `fm=auto` picks, in order, AVIF then WebP when the
 * operator allows it (`autoFormats`) and the client names it in Accept with q > 0 (wildcards do
 * not count: `*\/*` from curl or an old client is no promise to decode WebP, as imgproxy and CDNs
 * treat it), else JPEG, or PNG when the image has alpha.
 */
export function negotiateFormat(fm: RequestedFormat, accept: string | undefined, autoFormats: readonly AutoFormat[], hasAlpha: boolean): Negotiated {
  if (fm !== 'auto') return { format: fm, negotiated: false };
  const fallback: OutputFormat = hasAlpha ? 'png' : 'jpeg';
  if (autoFormats.length === 0) return { format: fallback, negotiated: false };
  if (accept !== undefined) {
    for (const candidate of ['avif', 'webp'] as const) {
      if (autoFormats.includes(candidate) && accepts(accept, `image/${candidate}`)) return { format: candidate, negotiated: true };
    }
  }
  return { format: fallback, negotiated: true };
}

/** Whether an Accept header names `type` explicitly with a non-zero quality. */
export function accepts(accept: string, type: string): boolean {
  let from = 0;
  const lower = accept.toLowerCase();
  for (;;) {
    const at = lower.indexOf(type, from);
    if (at === -1) return false;
    from = at + type.length;
    const before = at === 0 ? ',' : lower[at - 1];
    const after = lower[from];
    if ((before === ',' || before === ' ') && (after === undefined || after === ',' || after === ';' || after === ' ')) {
      const end = lower.indexOf(',', from);
      const rest = lower.slice(from, end === -1 ? undefined : end);
      const q = /;\s*q\s*=\s*([0-9.]+)/.exec(rest);
      return q === null || Number(q[1]) > 0;
    }
  }
}

export const CONTENT_TYPES: Readonly<Record<OutputFormat, string>> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  avif: 'image/avif',
};
