import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Answers } from './answers.ts';
import { matches } from './conditional.ts';
import { HttpError } from './errors.ts';
import type { Metrics } from './metrics.ts';
import { type AutoFormat, negotiateFormat } from './negotiate.ts';
import { normalizeParams, paramsQuery, parseKey, parseParams } from './params.ts';
import { expandPreset, type Presets } from './presets.ts';
import type { RecentRequests } from './recent.ts';
import { UNRECORDED_HEADER } from './recent-record.ts';
import { type Rendered, type RenderParts, render } from './render.ts';
import { verifySignature } from './signing.ts';
import { Stampede } from './stampede.ts';

export interface ImageRouteSettings {
  signingKeys: readonly string[];
  presets: Presets;
  autoFormats: readonly AutoFormat[];
  cacheControl: string;
  injectDelayMs: number;
  injectErrorPercent: number;
}

/**
 * GET and HEAD of an image: the signature first (an unsigned URL costs no I/O), the drills'
 * injected faults, the key and parameters, format negotiation, then the result cache and
 * coalescing, or the render pipeline alone for a conditional request.
 */
export class ImageRoute {
  readonly #settings: ImageRouteSettings;
  readonly #parts: RenderParts;
  readonly #stampede: Stampede;
  readonly #metrics: Metrics;
  readonly #answers: Answers;
  readonly #recent: RecentRequests | undefined;

  /** `recent`: where rendered requests are recorded, when the management port serves them. */
  constructor(settings: ImageRouteSettings, parts: RenderParts, stampede: Stampede, metrics: Metrics, answers: Answers, recent?: RecentRequests) {
    this.#settings = settings;
    this.#recent = recent;
    this.#parts = parts;
    this.#stampede = stampede;
    this.#metrics = metrics;
    this.#answers = answers;
  }

  async serve(req: IncomingMessage, res: ServerResponse, path: string, rawKey: string, query: string, signal: AbortSignal, arrivedAt: number): Promise<void> {
    const settings = this.#settings;
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, 'method_not_allowed', `${req.method} is not allowed here`, { allow: 'GET, HEAD' });
    const search = new URLSearchParams(query);
    // Before anything else: an unsigned URL costs no I/O and no parsing beyond its signature.
    if (settings.signingKeys.length > 0 && !verifySignature(path, search, settings.signingKeys)) {
      throw new HttpError(403, 'invalid_signature', search.has('sig') ? 'the URL signature (sig) is not valid' : 'this service needs signed URLs: the sig parameter is missing');
    }
    search.delete('sig');
    if (settings.injectDelayMs > 0) await sleep(settings.injectDelayMs, undefined, { signal });
    if (settings.injectErrorPercent > 0 && Math.random() * 100 < settings.injectErrorPercent) {
      throw new HttpError(500, 'injected_fault', 'fault injected by IMAGE_SERVICE_INJECT_ERROR_PERCENT');
    }
    const key = parseKey(rawKey);
    const params = parseParams(expandPreset(search, settings.presets).toString());
    const accept = req.headers.accept;
    const ifNoneMatch = req.headers['if-none-match'];
    const headers: Record<string, string | number> = { 'cache-control': settings.cacheControl, 'x-content-type-options': 'nosniff' };
    let result: Rendered;
    // Originals are neither cached nor shared: each is its request's own.
    if (params === null) result = await render(this.#parts, key, null, undefined, ifNoneMatch, signal, arrivedAt);
    else {
      // The output is fixed by the parameters and the format for an opaque and for an alpha image:
      // requests that agree on those get the same bytes, so they share one cache entry and one resize.
      const opaque = negotiateFormat(params.fm, accept, settings.autoFormats, false);
      const alpha = negotiateFormat(params.fm, accept, settings.autoFormats, true);
      if (opaque.negotiated) headers.vary = 'Accept';
      const cacheKey = Stampede.key(key, `${normalizeParams(params)}&fm=${opaque.format}/${alpha.format}`);
      const cached = this.#stampede.lookup(cacheKey);
      if (cached !== undefined) {
        this.#metrics.cacheHit();
        result = cached;
      } else {
        const formats = { opaque: opaque.format, alpha: alpha.format };
        if (ifNoneMatch === undefined) result = await this.#stampede.produce(cacheKey, signal, (workSignal) => render(this.#parts, key, params, formats, undefined, workSignal, arrivedAt));
        // A conditional request renders alone, so a matching validator skips the resize.
        else result = this.#stampede.store(cacheKey, await render(this.#parts, key, params, formats, ifNoneMatch, signal, arrivedAt));
      }
    }
    headers.etag = result.etag;
    if (result.body === undefined || matches(ifNoneMatch, result.etag)) {
      result.release?.();
      this.#answers.send(res, 304, headers);
      return;
    }
    // Renders only: an original is the same bytes from every revision, and a 304 or an error is no picture.
    if (params !== null && req.headers[UNRECORDED_HEADER] === undefined) this.#recent?.record(key, paramsQuery(params));
    headers['content-type'] = result.contentType;
    headers['content-length'] = result.body.length;
    this.#answers.send(res, 200, headers, result.body, result.release);
  }
}
