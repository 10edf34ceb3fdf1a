// Canary webhooks end to end: a real HTTP hook server on loopback, the operator in its own
// process (allowed to call it, as an installer would allow it), real image-service pods behind
// the mesh under steady load, on both control planes.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { eventsOf, observe, routeWeights, track, waitFor } from '../sandbox/demo/rollout.ts';
import { CONTROL_PLANES } from '../sandbox/sandbox.ts';
import { changeImage, deploy, expectIdleOn, history, INTERVAL_MS, imageService, NAMESPACE, NEW_IMAGE, OLD_IMAGE, ROLLOUT_TIMEOUT_MS, STEPS, startLoad, useLab } from './canary.testkit.ts';

const HOOKS = ['confirm-rollout', 'confirm-promotion', 'post-rollout', 'pre-rollout', 'rollback'] as const;
type HookType = (typeof HOOKS)[number];

/** A hook server: answers each path with the status set for it (200 unless set), records every call. */
class HookServer {
  readonly #server = http.createServer((req, res) => this.#answer(req, res));
  readonly #status = new Map<string, number>();
  readonly calls: { path: string; body: unknown }[] = [];
  base = '';

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.base = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  /** The URL of the hook of `type` for ImageService `name`. */
  url(name: string, type: HookType): string {
    return `${this.base}/${name}/${type}`;
  }

  answer(name: string, type: HookType, status: number): void {
    this.#status.set(`/${name}/${type}`, status);
  }

  of(name: string, type: HookType): unknown[] {
    return this.calls.filter((c) => c.path === `/${name}/${type}`).map((c) => c.body);
  }

  reset(): void {
    this.#status.clear();
    this.calls.length = 0;
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise((resolve) => this.#server.close(resolve));
  }

  #answer(req: http.IncomingMessage, res: http.ServerResponse): void {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      text += c;
    });
    req.on('end', () => {
      const path = req.url ?? '/';
      this.calls.push({ path, body: JSON.parse(text) });
      res.writeHead(this.#status.get(path) ?? 200).end(`the hook's own words, never repeated: ${path}`);
    });
  }
}

const hooks = new HookServer();
const NAMES = ['approve', 'stop'];
beforeAll(() => hooks.start());
afterAll(() => hooks.stop());

const webhook = (name: string, type: HookType, more: Record<string, unknown> = {}) => ({ name: type, type, url: hooks.url(name, type), timeout: '1s', ...more });
const messages = async (lab: Parameters<typeof history>[0], ref: Parameters<typeof history>[1]) => (await eventsOf(lab.sandbox.client, ref)).map((e) => `${e.type} ${e.reason}: ${e.message}`);

describe.each(CONTROL_PLANES)('canary webhooks on the %s control plane', { timeout: ROLLOUT_TIMEOUT_MS + 60_000 }, (controlPlane) => {
  const ctx = useLab('off', controlPlane, () => ({ WEBHOOK_ALLOWED_URLS: NAMES.flatMap((n) => HOOKS.map((t) => hooks.url(n, t))).join(',') }));
  beforeEach(() => hooks.reset());

  it('(w1) confirm-rollout holds the canary unstarted, confirm-promotion its last step, each until it says yes; post-rollout is told once', async () => {
    const { client } = ctx.lab.sandbox;
    hooks.answer('approve', 'confirm-rollout', 403);
    hooks.answer('approve', 'confirm-promotion', 403);
    const spec = { webhooks: [webhook('approve', 'confirm-rollout'), webhook('approve', 'confirm-promotion'), webhook('approve', 'post-rollout', { metadata: { ticket: 'CHG-42' } })] };
    const ref = await deploy(ctx.lab, imageService('approve', { canary: spec }));
    const load = startLoad(ctx.lab, ref);
    ctx.loads.push(load);
    load.mark('start');
    const rollout = await changeImage(ctx.lab, ref, NEW_IMAGE);

    // Waiting, asked every interval: no canary pod, no traffic.
    await rollout.until([], ROLLOUT_TIMEOUT_MS, (o) => o.status.phase === 'Waiting' && hooks.of('approve', 'confirm-rollout').length >= 2);
    expect((await track(client, ref, 'canary'))?.replicas).toBe(0);
    expect(await routeWeights(client, ref)).toEqual({ primary: 100, canary: 0 });
    expect(hooks.of('approve', 'confirm-rollout')[0]).toMatchObject({
      name: 'approve',
      namespace: NAMESPACE,
      phase: 'Waiting',
      weight: 0,
      revisions: { primary: { image: OLD_IMAGE }, canary: { image: NEW_IMAGE } },
    });
    hooks.answer('approve', 'confirm-rollout', 200);

    // The analysis runs to the last step, where the promotion waits for its yes.
    const last = STEPS[STEPS.length - 1];
    await rollout.until([], ROLLOUT_TIMEOUT_MS, (o) => o.status.phase === 'Progressing' && o.status.canaryWeight === last && /confirm-promotion/.test(o.status.message ?? ''));
    const asked = hooks.of('approve', 'confirm-promotion').length;
    await waitFor('two more asks of confirm-promotion', () => hooks.of('approve', 'confirm-promotion').length >= asked + 2, 4 * INTERVAL_MS + 5_000);
    expect((await observe(client, ref))?.status).toMatchObject({ phase: 'Progressing', canaryWeight: last, failedChecks: 0 });
    expect(hooks.of('approve', 'post-rollout')).toEqual([]);
    hooks.answer('approve', 'confirm-promotion', 200);

    const done = await rollout.until(['Succeeded', 'Failed'], ROLLOUT_TIMEOUT_MS);
    load.mark('end');
    expect(done.status.phase, await history(ctx.lab, ref)).toBe('Succeeded');
    expect(rollout.phases()).toEqual(expect.arrayContaining(['Waiting', 'Progressing', 'Promoting', 'Succeeded']));
    await expectIdleOn(ctx.lab, ref, NEW_IMAGE);
    await waitFor('the post-rollout hook to be called', () => hooks.of('approve', 'post-rollout').length > 0, 10_000);
    // once, whatever happens after
    await new Promise((r) => setTimeout(r, 2 * INTERVAL_MS));
    expect(hooks.of('approve', 'post-rollout')).toEqual([
      {
        name: 'approve',
        namespace: NAMESPACE,
        phase: 'Succeeded',
        weight: 0,
        revisions: { primary: { revision: done.status.primary?.revision, image: NEW_IMAGE }, canary: { revision: done.status.primary?.revision, image: NEW_IMAGE } },
        metadata: { ticket: 'CHG-42' },
      },
    ]);

    // Events name each hook and its answer, never its body.
    const said = await messages(ctx.lab, ref);
    expect(said).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^Normal Waiting: .*confirm-rollout webhook confirm-rollout did not say yes: HTTP 403$/),
        expect.stringMatching(/^Normal RolloutConfirmed: .*webhook confirm-rollout HTTP 200/),
        expect.stringMatching(/^Normal Holding: .*confirm-promotion webhook confirm-promotion did not confirm \(HTTP 403\)$/),
        expect.stringMatching(/^Normal Promoting: .*webhook confirm-promotion HTTP 200/),
        expect.stringMatching(/^Normal PostRollout: .*webhook post-rollout HTTP 200$/),
      ]),
    );
    expect(said.join('\n')).not.toContain("hook's own words");
    expect(said.filter((m) => m.startsWith('Normal Waiting:'))).toHaveLength(1);
    const seen = load.counts('start', 'end');
    expect(seen.failed, JSON.stringify(seen.byStatus)).toBe(0);
  });

  it('(w2) a rollback hook that says yes rolls a healthy canary back at once, naming it', async () => {
    hooks.answer('stop', 'rollback', 404);
    const ref = await deploy(ctx.lab, imageService('stop', { canary: { webhooks: [webhook('stop', 'pre-rollout'), webhook('stop', 'rollback')] } }));
    const load = startLoad(ctx.lab, ref);
    ctx.loads.push(load);
    const rollout = await changeImage(ctx.lab, ref, NEW_IMAGE);
    await rollout.until([], ROLLOUT_TIMEOUT_MS, (o) => o.status.phase === 'Progressing' && (o.status.canaryWeight ?? 0) > 0);
    expect(hooks.of('stop', 'pre-rollout')).toEqual([expect.objectContaining({ phase: 'Progressing', weight: 0 })]);
    hooks.answer('stop', 'rollback', 200);

    const done = await rollout.until(['Succeeded', 'Failed'], ROLLOUT_TIMEOUT_MS);
    await load.stop();
    expect(done.status.phase, await history(ctx.lab, ref)).toBe('Failed');
    expect(done.status).toMatchObject({ failedChecks: 0, lastAnalysis: { rollbackBy: 'rollback', webhooks: { rollback: 'HTTP 200' } } });
    expect(rollout.phases()).not.toContain('Promoting');
    await expectIdleOn(ctx.lab, ref, OLD_IMAGE);
    expect(await messages(ctx.lab, ref)).toEqual(expect.arrayContaining([expect.stringMatching(/^Warning RolledBack: .*rollback webhook rollback asked for it \(HTTP 200\)$/)]));
    expect(load.counts().failed, JSON.stringify(load.counts().byStatus)).toBe(0);
  });
});
