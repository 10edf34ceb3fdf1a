// The rollout view in a real browser (Debian's Chromium through playwright-core): a canary lab
// (real Prometheus, or none and the direct provider), the view's server beside it, the page open
// while a healthy tag is promoted and a slow one rolled back. VIEW_SCREENSHOT=FILE keeps a
// picture of the promotion measured through Prometheus.
import fs from 'node:fs';
import { pino } from 'pino';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../sandbox/demo/rollout.ts';
import { RESOURCES } from '../sandbox/kube/client.ts';
import { TRACKS, type ViewState } from '../sandbox/view/model.ts';
import { startView, type View } from '../sandbox/view/server.ts';
import { changeImage, deploy, imageService, LATENCY_SLO_MS, NEW_IMAGE, ROLLOUT_TIMEOUT_MS, startLoad, useLab } from './canary.testkit.ts';

const CHROMIUM = '/usr/bin/chromium';
// Before any lab starts: without the browser there is nothing to test.
if (!fs.existsSync(CHROMIUM)) throw new Error(`chromium is not installed at ${CHROMIUM}: apt-get install -y chromium`);

// Prometheus or the direct provider on the emulated control plane; the real one with Prometheus
// (the view's watches and field selector against kube-apiserver).
const RUNS = [
  ['emulated', 'required'],
  ['emulated', 'off'],
  ['real', 'required'],
] as const;

describe.each(RUNS)('the rollout view in Chromium, %s control plane, Prometheus %s', { timeout: ROLLOUT_TIMEOUT_MS + 60_000 }, (controlPlane, prometheus) => {
  const ctx = useLab(prometheus, controlPlane);
  let view: View;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];

  beforeAll(async () => {
    view = await startView({ kubeconfigPath: ctx.lab.sandbox.kubeconfigPath, prometheus: ctx.lab.sandbox.prometheus, logger: pino({ level: 'warn' }) });
    // root has no user namespaces for Chromium's sandbox; the page is the project's own
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('console', (m) => void (m.type() === 'error' && problems.push(`console: ${m.text()}`)));
    page.on('pageerror', (e) => void problems.push(`page: ${e.message}`));
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await view?.stop();
  });

  const card = (name: string) => page.locator(`section[data-service="default/${name}"]`);

  it('serves only its page, its data and uPlot, read-only, with a content security policy', async () => {
    const root = await fetch(view.url);
    expect(root.status).toBe(200);
    expect(root.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect((await fetch(new URL('/uPlot.iife.min.js', view.url))).status).toBe(200);
    expect((await fetch(new URL('/../package.json', view.url))).status).toBe(404);
    expect((await fetch(new URL('/page/view.js', view.url))).status).toBe(404);
    expect((await fetch(new URL('/api/state', view.url), { method: 'POST' })).status).toBe(405);
  });

  it('shows the weight moving during a promotion, every revision measured, and no console error', async () => {
    const ref = await deploy(ctx.lab, imageService('viewed', { canary: { stepWeights: [20, 40, 60, 80, 100] } }));
    const load = startLoad(ctx.lab, ref);
    ctx.loads.push(load);
    await page.goto(view.url);
    await card('viewed').waitFor({ timeout: 10_000 });

    const rollout = await changeImage(ctx.lab, ref, NEW_IMAGE);
    const shown = new Set<number>();
    await waitFor(
      'the page to show the promotion',
      async () => {
        shown.add(Number(await card('viewed').locator('.weight').getAttribute('data-weight')));
        return (await card('viewed').locator('.phase').textContent()) === 'Succeeded';
      },
      ROLLOUT_TIMEOUT_MS,
      200,
      () => `weights shown ${[...shown].join(', ')}`,
    );
    await rollout.until(['Succeeded'], 10_000);
    // At least two of the steps were on screen as they happened, and the chart drew them.
    expect([...shown].filter((w) => w > 0 && w < 100).length).toBeGreaterThanOrEqual(2);
    const drawn = ((await card('viewed').locator('[data-weights]').getAttribute('data-weights')) ?? '').split(',').map(Number);
    expect(drawn).toEqual(expect.arrayContaining([0, 20, 40]));
    expect(await card('viewed').locator('.events li').allTextContents()).toEqual(expect.arrayContaining([expect.stringMatching(/Promot/)]));
    expect(await page.locator('#source').textContent()).toContain(prometheus === 'required' ? 'by the Prometheus provider' : 'by the direct provider');
    // Both revisions were measured while they served.
    const state = (await (await fetch(new URL('/api/state', view.url))).json()) as ViewState;
    const samples = state.services.find((x) => x.name === 'viewed')?.samples;
    for (const track of TRACKS)
      expect(
        samples?.[track].some((p) => (p.rps ?? 0) > 0),
        track,
      ).toBe(true);
    const png = await page.screenshot({ fullPage: false });
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    const keep = process.env['VIEW_SCREENSHOT'];
    if (controlPlane === 'emulated' && prometheus === 'required' && keep !== undefined && keep !== '') fs.writeFileSync(keep, png);
    expect(problems).toEqual([]);
  });

  it("shows a rollback's reason, and an Event's markup as text", async () => {
    const ref = await deploy(ctx.lab, imageService('slowed'));
    const load = startLoad(ctx.lab, ref);
    ctx.loads.push(load);
    await page.goto(view.url);
    await card('slowed').waitFor({ timeout: 10_000 });
    await ctx.lab.sandbox.client.create(RESOURCES.events, 'default', {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: 'slowed.markup', namespace: 'default' },
      involvedObject: { apiVersion: 'imageops.dev/v1alpha1', kind: 'ImageService', namespace: 'default', name: 'slowed' },
      type: 'Normal',
      reason: 'Injected',
      message: '<img id="injected" src="x"><b>bold</b>',
      lastTimestamp: new Date().toISOString(),
    });

    const rollout = await changeImage(ctx.lab, ref, `${NEW_IMAGE}-slow`);
    await rollout.until(['Failed'], ROLLOUT_TIMEOUT_MS);
    const warning = card('slowed')
      .locator('.events li.Warning', { hasText: `above the SLO of ${LATENCY_SLO_MS} ms` })
      .first();
    await warning.waitFor({ timeout: 10_000 });
    await expect.poll(() => card('slowed').locator('.phase').textContent(), { timeout: 5_000 }).toBe('Failed');
    expect(await card('slowed').locator('p.status').textContent()).not.toBe('');
    expect(await card('slowed').locator('.events li', { hasText: '<img id="injected" src="x"><b>bold</b>' }).count()).toBe(1);
    expect(await page.locator('#injected').count()).toBe(0);
    expect(problems).toEqual([]);
  });
});
