// Calls the analysis' HTTP hooks (spec.canary.webhooks, Flagger's): a JSON payload POSTed, the
// answer judged by its status alone. Whoever writes the ImageService chooses the URL (within the
// installer's allowlist, policy.ts), so each call is bounded in time and bytes and nothing of the
// answer's body is kept: the outcome is the status code or a fixed reason.
import { parseDuration } from '../api/durations.ts';
import { DEFAULT_WEBHOOK_TIMEOUT, MAX_WEBHOOK_TIMEOUT_MS, type Phase, type WebhookSpec } from '../api/image-service.ts';
import { fetchBounded } from './providers/bounded-fetch.ts';
import { AnalysisError } from './providers/provider.ts';

/** Bytes of an answer read (and discarded): a hook's answer is its status. */
const MAX_ANSWER_BYTES = 64 * 1024;

/** The JSON a hook receives (docs/canary.md, "Webhooks"). */
export interface WebhookPayload {
  name: string;
  namespace: string;
  phase: Phase;
  /** Revisions (pod template hashes) and images of primary and canary. */
  revisions: { primary: { revision: string; image: string }; canary: { revision: string; image: string } };
  /** The canary's share of traffic, in percent. */
  weight: number;
  /** The hook's metadata from the spec. */
  metadata: Record<string, string>;
}

/** A hook's answer: yes (a 2xx), or no with the status when there was one. */
export type WebhookAnswer = { ok: true; status: number; attempts: number } | { ok: false; status?: number; reason: string; attempts: number };

/** Calls `hook` with its payload, retrying `retries` times; never throws but for a cancelled reconcile. */
export async function callWebhook(hook: WebhookSpec, payload: Omit<WebhookPayload, 'metadata'>, signal: AbortSignal): Promise<WebhookAnswer> {
  const json = JSON.stringify({ ...payload, metadata: hook.metadata ?? {} });
  const timeoutMs = Math.min(parseDuration(hook.timeout ?? DEFAULT_WEBHOOK_TIMEOUT), MAX_WEBHOOK_TIMEOUT_MS);
  let last: WebhookAnswer = { ok: false, reason: 'not called', attempts: 0 };
  for (let attempt = 1; attempt <= (hook.retries ?? 0) + 1; attempt++) {
    try {
      const { status } = await fetchBounded(hook.url, { timeoutMs, maxBytes: MAX_ANSWER_BYTES, accept: '*/*', who: `webhook ${hook.name}`, signal, json });
      if (status >= 200 && status < 300) return { ok: true, status, attempts: attempt };
      last = { ok: false, status, reason: `HTTP ${status}`, attempts: attempt };
    } catch (error) {
      if (signal.aborted) throw error;
      const reason = error instanceof AnalysisError ? WHY[error.kind] : 'failed';
      last = { ok: false, reason, attempts: attempt };
    }
  }
  return last;
}

/** Fixed reasons: the error's own text may carry what the hook's address resolved to. */
const WHY: Record<AnalysisError['kind'], string> = {
  timeout: 'no answer in time',
  unreachable: 'unreachable',
  'bad-answer': 'answer too large',
  query: 'failed',
  'no-targets': 'failed',
  unsupported: 'failed',
  configuration: 'failed',
};

/** How an answer reads in status and Events: `HTTP 200`, `HTTP 500 after 2 attempts`, `no answer in time`. */
export function describeAnswer(answer: WebhookAnswer): string {
  const what = answer.ok ? `HTTP ${answer.status}` : answer.reason;
  return answer.attempts > 1 ? `${what} after ${answer.attempts} attempts` : what;
}
