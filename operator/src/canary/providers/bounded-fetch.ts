// Every answer the analysis reads from outside the operator (Prometheus, a canary pod's /metrics, a hook)
// comes through here, bounded in bytes and in time (headers and body alike), without following
// redirects: whoever writes an ImageService chooses what is fetched, and an endless or slow
// answer must cost the operator no more than the bound. Callers never copy the body into
// anything a tenant reads (status, Events): a status code and a fixed reason at most.
import { AnalysisError } from './provider.ts';

export interface Answer {
  status: number;
  text: string;
}

export interface BytesAnswer {
  status: number;
  contentType: string | undefined;
  body: Buffer;
}

export interface FetchLimits {
  /** Longest wait for the whole answer, body included. */
  timeoutMs: number;
  /** Largest body read; a longer one is cut there. */
  maxBytes: number;
}

export interface FetchRequest extends FetchLimits {
  accept: string;
  /** Other request headers. */
  headers?: Record<string, string>;
  /** Who is asked, for messages: `Prometheus at http://... (requests query)`. */
  who: string;
  signal?: AbortSignal | undefined;
  /** A JSON body to POST; unset: a GET. */
  json?: string;
}

/**
 * GETs `url` (POSTs `json`, when given) and reads at most `maxBytes` of its body within `timeoutMs`; otherwise an
 * AnalysisError: `timeout`, `unreachable`, or `bad-answer` for an answer over the cap.
 */
export async function fetchBounded(url: string, limits: FetchRequest): Promise<Answer> {
  const answer = await fetchBoundedBytes(url, limits);
  return { status: answer.status, text: answer.body.toString('utf8') };
}

/** fetchBounded's answer as bytes, with its content type (an image's). */
export async function fetchBoundedBytes(url: string, limits: FetchRequest): Promise<BytesAnswer> {
  const timeout = AbortSignal.timeout(limits.timeoutMs);
  const signal = limits.signal ? AbortSignal.any([limits.signal, timeout]) : timeout;
  const tooLarge = () => new AnalysisError('bad-answer', `${limits.who} answered with more than ${limits.maxBytes} bytes`);
  try {
    const post = limits.json === undefined ? {} : { method: 'POST', body: limits.json };
    const headers = { ...limits.headers, accept: limits.accept, ...(limits.json === undefined ? {} : { 'content-type': 'application/json' }) };
    const response = await fetch(url, { signal, redirect: 'manual', headers, ...post });
    const declared = Number(response.headers.get('content-length') ?? 0);
    const reader = response.body?.getReader();
    if (declared > limits.maxBytes) {
      reader?.cancel().catch(() => undefined);
      throw tooLarge();
    }
    const chunks: Uint8Array[] = [];
    let size = 0;
    for (;;) {
      const chunk = reader === undefined ? { done: true as const } : await reader.read();
      if (chunk.done) break;
      size += chunk.value.byteLength;
      if (size > limits.maxBytes) {
        reader?.cancel().catch(() => undefined);
        throw tooLarge();
      }
      chunks.push(chunk.value);
    }
    return { status: response.status, contentType: response.headers.get('content-type') ?? undefined, body: Buffer.concat(chunks) };
  } catch (error) {
    if (error instanceof AnalysisError) throw error;
    if (timeout.aborted) throw new AnalysisError('timeout', `${limits.who} did not answer within ${limits.timeoutMs} ms`, { cause: error });
    throw new AnalysisError('unreachable', `${limits.who} is unreachable: ${causeText(error)}`, { cause: error });
  }
}

/** The error's message with its system code (ECONNREFUSED, ENOTFOUND): never a body. */
function causeText(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause;
  if (cause instanceof Error) return `${error.message} (${(cause as NodeJS.ErrnoException).code ?? cause.message})`;
  return error.message;
}
