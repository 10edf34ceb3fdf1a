import type { ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { Admission } from './admission.ts';
import { ANSWER_BYTES } from './cost.ts';
import { errorBody, HttpError } from './errors.ts';
import { SourceError } from './sources/source.ts';

/**
 * How the service writes answers. An answer its client has not taken within the send timeout is
 * dropped with its connection, which frees the body; so are the oldest unfinished answers when
 * more than ANSWER_BYTES wait for their clients: readers that never read hold a bounded amount of
 * memory, for a bounded time. While draining, every answer closes its connection.
 */
export class Answers {
  readonly #sendTimeoutMs: number;
  readonly #logger: Logger;
  /** Answers not yet taken by their clients, oldest first, with their bytes. */
  readonly #unsent = new Map<ServerResponse, number>();
  #unsentBytes = 0;
  /** Answers that were admission refusals, until their log line is written. */
  readonly #refused = new WeakSet<ServerResponse>();
  /** The answer to each admission refusal, built once: under a refusal storm the 503 path is a write. */
  readonly #refusals = new Map<HttpError, { headers: Record<string, string | number>; body: string }>();
  draining = false;

  constructor(sendTimeoutMs: number, logger: Logger) {
    this.#sendTimeoutMs = sendTimeoutMs;
    this.#logger = logger;
  }

  /** Writes an answer; `written` runs once the body is handed to the socket (it may free the body). */
  send(res: ServerResponse, status: number, headers: Readonly<Record<string, string | number>>, body?: Buffer | string, written?: () => void): void {
    res.writeHead(status, this.draining ? { ...headers, connection: 'close' } : headers);
    res.end(body, written);
    if (res.writableFinished) return;
    const bytes = body === undefined ? 0 : typeof body === 'string' ? Buffer.byteLength(body) : body.length;
    for (const [oldest] of this.#unsent) {
      if (this.#unsentBytes + bytes <= ANSWER_BYTES) break;
      this.#forget(oldest);
      oldest.destroy();
    }
    this.#unsent.set(res, bytes);
    this.#unsentBytes += bytes;
    const timer = setTimeout(() => res.destroy(), this.#sendTimeoutMs);
    res.once('close', () => {
      clearTimeout(timer);
      this.#forget(res);
    });
  }

  /** An error as its JSON answer; anything but an HttpError is a 500 naming the request id, logged in full. */
  sendError(res: ServerResponse, error: unknown, reqId: string): void {
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    let httpError: HttpError;
    if (error instanceof HttpError) httpError = error;
    else {
      this.#logger.error({ reqId, err: error }, 'unexpected error');
      httpError = new HttpError(500, 'internal_error', `internal error; request id ${reqId}`);
    }
    if (Admission.isRefusal(httpError)) this.#refused.add(res);
    // What the client may not see (an origin's URL) is logged for the operator.
    if (error instanceof SourceError && error.detail !== undefined) this.#logger.warn({ reqId, code: error.code, detail: error.detail }, 'source failure');
    const answer = this.#errorAnswer(httpError);
    this.send(res, httpError.status, answer.headers, answer.body);
  }

  /** Whether the answer was an admission refusal (asked once, when its log line is written). */
  wasRefusal(res: ServerResponse): boolean {
    return this.#refused.delete(res);
  }

  #errorAnswer(httpError: HttpError): { headers: Record<string, string | number>; body: string } {
    const prepared = this.#refusals.get(httpError);
    if (prepared !== undefined) return prepared;
    const body = errorBody(httpError);
    const answer = { headers: { ...httpError.headers, 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) }, body };
    if (Admission.isRefusal(httpError)) this.#refusals.set(httpError, answer);
    return answer;
  }

  #forget(res: ServerResponse): void {
    const bytes = this.#unsent.get(res);
    if (bytes === undefined) return;
    this.#unsent.delete(res);
    this.#unsentBytes -= bytes;
  }
}
