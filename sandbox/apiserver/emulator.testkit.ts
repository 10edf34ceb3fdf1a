import { type ApiServer, type ApiServerOptions, startApiServer } from './server.ts';

// Helpers for tests that talk to a running emulator over HTTP.

export type Reply = { status: number; body: Record<string, unknown> & { [k: string]: unknown }; headers: Headers; text: string };

export type Http = (method: string, path: string, body?: unknown, headers?: Record<string, string>) => Promise<Reply>;

export function httpClient(server: ApiServer): Http {
  return async (method, path, body, headers = {}) => {
    const init: RequestInit = { method, headers: { 'Content-Type': 'application/json', ...headers } };
    if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
    const res = await fetch(server.url + path, init);
    const text = await res.text();
    let parsed: Record<string, unknown> = {};
    try {
      parsed = JSON.parse(text) as Record<string, unknown>;
    } catch {
      parsed = {};
    }
    return { status: res.status, body: parsed, headers: res.headers, text };
  };
}

export type WatchEvent = { type: string; object: Record<string, unknown> };

/**
 * Reads a watch stream until `count` events arrived or `ms` passed, then aborts it. The result
 * says whether the server ended the stream itself.
 */
export async function watchStream(server: ApiServer, path: string, count: number, ms = 3000, act?: () => Promise<void>): Promise<{ events: WatchEvent[]; endedByServer: boolean }> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), ms);
  const events: WatchEvent[] = [];
  let endedByServer = false;
  try {
    const res = await fetch(server.url + path, { signal: abort.signal });
    if (!res.body) return { events, endedByServer: true };
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    const acting = act?.();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) {
        endedByServer = true;
        break;
      }
      buffer += decoder.decode(value, { stream: true });
      for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (line.trim()) events.push(JSON.parse(line) as { type: string; object: Record<string, unknown> });
      }
      if (events.length >= count) break;
    }
    await acting;
  } catch (err) {
    if (!(err instanceof Error && err.name === 'AbortError')) throw err;
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
  return { events, endedByServer };
}

export async function watchEvents(server: ApiServer, path: string, count: number, ms = 3000, act?: () => Promise<void>): Promise<WatchEvent[]> {
  return (await watchStream(server, path, count, ms, act)).events;
}

export async function withServer(options: ApiServerOptions = {}): Promise<{ server: ApiServer; http: Http }> {
  const server = await startApiServer({ crdPaths: [], ...options });
  return { server, http: httpClient(server) };
}

/** Polls until `check` returns a value (not undefined), or fails after `ms`. */
export async function eventually<T>(check: () => Promise<T | undefined> | T | undefined, ms = 3000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
