// The hooks against real HTTP servers on loopback: one that says yes, one that answers 500 with a
// body that must not travel, one that hangs, one that flips from no to yes, one that never stops
// talking; and the measurement that calls them before the provider.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateImageService, type WebhookSpec } from '../api/image-service.ts';
import type { CheckDue } from '../rollout.ts';
import { canaryMeasure } from './measure.ts';
import { Providers } from './providers/select.ts';
import { noSigningKey } from './providers/testkit.ts';
import { callWebhook, describeAnswer, type WebhookPayload } from './webhooks.ts';

const SECRET = 'internal-token-7f3a';
const received: { path: string; contentType: string | undefined; body: unknown }[] = [];
const flips = new Map<string, number>();
let server: http.Server;
let base: string;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (text += c));
    req.on('end', () => {
      const path = req.url ?? '/';
      received.push({ path, contentType: req.headers['content-type'], body: text === '' ? undefined : JSON.parse(text) });
      if (path === '/yes') res.end('ok');
      else if (path === '/fail') res.writeHead(500).end(`database at 10.0.0.7 refused: ${SECRET}`);
      else if (path === '/redirect') res.writeHead(302, { location: '/yes' }).end();
      else if (path === '/endless') {
        // a yes that never ends: cut at the cap, a no
        res.writeHead(200);
        const chunk = Buffer.alloc(16 * 1024, 'x');
        const pump = () => {
          while (!res.destroyed && res.write(chunk));
          if (!res.destroyed) res.once('drain', pump);
        };
        pump();
      } else if (path.startsWith('/flip')) {
        // no on the first call of each path, yes after
        const n = (flips.get(path) ?? 0) + 1;
        flips.set(path, n);
        res.writeHead(n === 1 ? 503 : 200).end();
      }
      // '/hang': never answers
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const hook = (path: string, more: Partial<WebhookSpec> = {}): WebhookSpec => ({
  name: 'smoke',
  type: 'rollout',
  url: `${base}${path}`,
  timeout: '1s',
  retries: 0,
  metadata: { suite: 'thumbs' },
  ...more,
});
const rollout: CheckDue['webhooks'] = {
  hooks: [],
  rollout: { phase: 'Progressing', weight: 20, revisions: { primary: { revision: 'r1', image: 'img:1' }, canary: { revision: 'r2', image: 'img:2' } } },
};
const payload = { name: 'thumbs', namespace: 'shop', ...rollout.rollout };
const signal = () => new AbortController().signal;

describe('callWebhook', () => {
  it('POSTs the documented JSON payload; a 2xx is yes', async () => {
    const answer = await callWebhook(hook('/yes'), payload, signal());
    expect(answer).toEqual({ ok: true, status: 200, attempts: 1 });
    const last = received.at(-1);
    expect(last?.contentType).toBe('application/json');
    expect(last?.body).toEqual({
      name: 'thumbs',
      namespace: 'shop',
      phase: 'Progressing',
      weight: 20,
      revisions: { primary: { revision: 'r1', image: 'img:1' }, canary: { revision: 'r2', image: 'img:2' } },
      metadata: { suite: 'thumbs' },
    } satisfies WebhookPayload);
  });

  it('without retries and metadata (the spec defaults nothing in a list item): one attempt, empty metadata', async () => {
    const bare: WebhookSpec = { name: 'smoke', type: 'rollout', url: `${base}/fail` };
    expect(await callWebhook(bare, payload, signal())).toEqual({ ok: false, status: 500, reason: 'HTTP 500', attempts: 1 });
    expect(received.at(-1)?.body).toEqual(expect.objectContaining({ metadata: {} }));
  });

  it.each([
    ['a 500: the status, never the body', '/fail', 'HTTP 500'],
    ['a redirect is not followed', '/redirect', 'HTTP 302'],
    ['a hang: no answer within the timeout', '/hang', 'no answer in time'],
    ['an endless answer: cut at the cap', '/endless', 'answer too large'],
    ['nobody listening', '/yes', 'unreachable'],
  ])('%s', async (_what, path, said) => {
    const h = said === 'unreachable' ? { ...hook(path), url: 'http://127.0.0.1:9/yes' } : hook(path);
    const answer = await callWebhook(h, payload, signal());
    expect(answer.ok).toBe(false);
    expect(describeAnswer(answer)).toBe(said);
    expect(JSON.stringify(answer)).not.toContain(SECRET);
  });

  it('a flipping hook: no without retries, yes on the retry', async () => {
    expect(describeAnswer(await callWebhook(hook('/flip-a'), payload, signal()))).toBe('HTTP 503');
    expect(describeAnswer(await callWebhook(hook('/flip-b', { retries: 1 }), payload, signal()))).toBe('HTTP 200 after 2 attempts');
    // retries end at the first yes
    expect(flips.get('/flip-b')).toBe(2);
  });

  it('says every attempt of a hook that keeps failing', async () => {
    const answer = await callWebhook(hook('/fail', { retries: 2 }), payload, signal());
    expect(describeAnswer(answer)).toBe('HTTP 500 after 3 attempts');
  });

  it('a cancelled reconcile is not an answer', async () => {
    const abort = new AbortController();
    const call = callWebhook(hook('/hang', { timeout: '10s' }), payload, abort.signal);
    abort.abort();
    await expect(call).rejects.toThrow();
  });
});

describe('the measurement with rollout hooks', () => {
  // no canary pods: the direct provider, when asked, fails with no-targets
  const measure = canaryMeasure(new Providers({ prometheusUrl: undefined, endpoints: async () => [], signingKey: noSigningKey }));
  const isvc = (hooks: WebhookSpec[]) => {
    const v = validateImageService({
      apiVersion: 'imageops.dev/v1alpha1',
      kind: 'ImageService',
      metadata: { name: 'thumbs', namespace: 'shop' },
      spec: { image: 'img:2', source: { file: {} }, canary: { webhooks: hooks } },
    });
    if (!v.ok) throw new Error(JSON.stringify(v.issues));
    return v.value;
  };
  const check = (hooks: WebhookSpec[]): CheckDue => ({ intervalMs: 10_000, metrics: [], measures: 'traffic', webhooks: { ...rollout, hooks } });

  it('a hook that does not say yes fails the check, naming it and its answer, and nothing is measured', async () => {
    const hooks = [hook('/yes'), hook('/fail', { name: 'db' }), hook('/hang', { name: 'slow' })];
    const record = await measure(isvc(hooks), check(hooks), new Date(), signal());
    expect(record).toMatchObject({ passed: false, webhooks: { smoke: 'HTTP 200', db: 'HTTP 500', slow: 'no answer in time' } });
    expect(record.reason).toBe('rollout webhook db did not say yes: HTTP 500; rollout webhook slow did not say yes: no answer in time');
    expect(record.requests).toBeUndefined();
    expect(JSON.stringify(record)).not.toContain(SECRET);
  });

  it('a rollback hook that says yes asks for the rollback, and nothing is measured; its no is no news', async () => {
    const asking = [hook('/yes', { name: 'stop', type: 'rollback' }), hook('/yes')];
    const record = await measure(isvc(asking), check(asking), new Date(), signal());
    expect(record).toMatchObject({ passed: false, rollbackBy: 'stop', reason: 'rollback webhook stop asked for a rollback: HTTP 200', webhooks: { stop: 'HTTP 200', smoke: 'HTTP 200' } });
    expect(record.requests).toBeUndefined();
    const quiet = [hook('/fail', { name: 'stop', type: 'rollback' })];
    const measuredRecord = await measure(isvc(quiet), check(quiet), new Date(), signal());
    expect(measuredRecord.rollbackBy).toBeUndefined();
    expect(measuredRecord.webhooks).toEqual({ stop: 'HTTP 500' });
    expect(measuredRecord.reason).toMatch(/endpoints|pods|no ready/i);
  });

  it('a confirm-promotion hook that does not confirm is reported for decide; the check is still measured', async () => {
    const hooks = [hook('/hang', { name: 'go', type: 'confirm-promotion' })];
    const record = await measure(isvc(hooks), check(hooks), new Date(), signal());
    expect(record).toMatchObject({ promotionHeldBy: 'go', webhooks: { go: 'no answer in time' } });
    expect(record.reason).toMatch(/endpoints|pods|no ready/i);
  });

  it('a check of hooks only asks them and measures nothing', async () => {
    const hooks = [hook('/yes', { name: 'warm', type: 'pre-rollout' })];
    const gate = (h: WebhookSpec[]): CheckDue => ({ ...check(h), measures: 'hooks' });
    expect(await measure(isvc(hooks), gate(hooks), new Date(0), signal())).toEqual({ at: new Date(0).toISOString(), passed: true, webhooks: { warm: 'HTTP 200' } });
    const refusing = [hook('/fail', { name: 'warm', type: 'pre-rollout' })];
    const record = await measure(isvc(refusing), gate(refusing), new Date(0), signal());
    expect(record).toMatchObject({ passed: false, reason: 'pre-rollout webhook warm did not say yes: HTTP 500', webhooks: { warm: 'HTTP 500' } });
    expect(record.requests).toBeUndefined();
  });

  it('a confirm-rollout or post-rollout hook that does not say yes is a no naming it', async () => {
    const ask = (h: WebhookSpec[]): CheckDue => ({ ...check(h), measures: 'hooks' });
    const confirm = [hook('/hang', { name: 'approve', type: 'confirm-rollout' })];
    expect(await measure(isvc(confirm), ask(confirm), new Date(0), signal())).toEqual({
      at: new Date(0).toISOString(),
      passed: false,
      reason: 'confirm-rollout webhook approve did not say yes: no answer in time',
      webhooks: { approve: 'no answer in time' },
    });
    const post = [hook('/fail', { name: 'notify', type: 'post-rollout' }), hook('/yes', { name: 'audit', type: 'post-rollout' })];
    const record = await measure(isvc(post), ask(post), new Date(0), signal());
    expect(record).toMatchObject({ passed: false, reason: 'post-rollout webhook notify did not say yes: HTTP 500', webhooks: { notify: 'HTTP 500', audit: 'HTTP 200' } });
    expect(JSON.stringify(record)).not.toContain(SECRET);
  });

  it('when every hook says yes the provider measures, and the answers are kept', async () => {
    const hooks = [hook('/yes')];
    const record = await measure(isvc(hooks), check(hooks), new Date(), signal());
    expect(record.webhooks).toEqual({ smoke: 'HTTP 200' });
    // the provider ran: no canary endpoints to scrape
    expect(record.reason).toMatch(/endpoints|pods|no ready/i);
  });
});
