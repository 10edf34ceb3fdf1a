// Issue 19 end to end with real Prometheus: the output check (listed samples and samples from
// primary's recent traffic), the preview header and mirroring, with real image-service processes
// behind the mesh and the operator in its own process.
import http from 'node:http';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { signUrl } from '../image-service/src/signing.ts';
import { deltaE2000Map, type LabImage } from '../operator/src/canary/perceptual.ts';
import { samplePaths } from '../sandbox/demo/images.ts';
import type { Manifest } from '../sandbox/demo/rollout.ts';
import { eventsOf, mergePatch } from '../sandbox/demo/rollout.ts';
import { RESOURCES } from '../sandbox/kube/client.ts';
import { VirtualServiceSchema } from '../sandbox/kube/types.ts';
import { CONTROL_PLANES } from '../sandbox/sandbox.ts';
import { changeImage, deploy, expectIdleOn, history, hostOf, imageService, LATENCY_SLO_MS, type LabFixture, NEW_IMAGE, OLD_IMAGE, ROLLOUT_TIMEOUT_MS, startLoad, useLab } from './canary.testkit.ts';

const SAMPLES = [
  { key: 'landscape.jpg', params: 'w=480' },
  { key: 'portrait.webp', params: 'w=320&fm=jpeg' },
];
const PREVIEW = { header: 'x-imageops-preview', value: 'yes' };

/** GET through the mesh as a client in the mesh would, with extra headers. */
function meshGet(mesh: string, host: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.get(new URL(path, mesh), { headers: { host, ...headers }, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** Deploys `name`, changes its image under steady load (its requests signed with `signingKey`, when given), and waits for the rollout's end. */
async function rollOutUnderLoad(ctx: LabFixture, manifest: Manifest, image: string, signingKey?: string) {
  const sign = (path: string) => (signingKey === undefined ? path : signUrl(path, signingKey));
  const ref = await deploy(ctx.lab, manifest, sign('/image/files/badge.png?w=32'));
  const load = startLoad(ctx.lab, ref, undefined, undefined, samplePaths().map(sign));
  ctx.loads.push(load);
  const rollout = await changeImage(ctx.lab, ref, image);
  const done = await rollout.until(['Succeeded', 'Failed'], ROLLOUT_TIMEOUT_MS);
  await load.stop();
  expect(done.status.phase, await history(ctx.lab, ref)).toBe(image === NEW_IMAGE ? 'Succeeded' : 'Failed');
  return { ref, load, rollout, done };
}

async function lab(bytes: Buffer): Promise<LabImage> {
  const { data, info } = await sharp(bytes).toColourspace('lab').raw({ depth: 'float' }).toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Float32Array(data.buffer, data.byteOffset, data.byteLength / 4) };
}

describe.each(CONTROL_PLANES)('image-aware canary on the %s control plane', { timeout: ROLLOUT_TIMEOUT_MS + 60_000 }, (controlPlane) => {
  const ctx = useLab('required', controlPlane);

  it('(o1) a -drift canary with perfect latency is rolled back by the output check before any user request reaches it, image and metric named', async () => {
    const { ref, load, rollout, done } = await rollOutUnderLoad(ctx, imageService('drift', { analysis: { output: { samples: SAMPLES } } }), `${NEW_IMAGE}-drift`);
    expect(rollout.routedWeights().filter((w) => w > 0)).toEqual([]);
    expect(done.status.lastAnalysis?.output).toMatchObject({ samples: 2, failed: 2 });
    expect(done.status.lastAnalysis?.output?.worstDeltaE).toBeGreaterThan(1.5);
    expect(done.status.lastAnalysis?.output?.diffs?.[0]).toMatch(/^\/canary\/diffs\/default\/drift\/\d+\.png$/);
    const warnings = (await eventsOf(ctx.lab.sandbox.client, ref)).filter((e) => e.type === 'Warning').map((e) => e.message ?? '');
    expect(warnings.join('\n')).toMatch(/output of landscape\.jpg\?w=480: colour difference \(mean CIEDE2000\) primary 0, canary [\d.]+ \(limit at most 1\.5\)/);
    await expectIdleOn(ctx.lab, ref, OLD_IMAGE);
    expect(load.counts().failed, JSON.stringify(load.counts().byStatus)).toBe(0);
  });

  it("(o1t) a -drift canary is caught by samples from primary's recent traffic alone, none listed", async () => {
    const { ref, load, rollout, done } = await rollOutUnderLoad(ctx, imageService('traffic', { analysis: { output: { fromTraffic: 3 } } }), `${NEW_IMAGE}-drift`);
    expect(rollout.routedWeights().filter((w) => w > 0)).toEqual([]);
    // Caught on pictures users asked primary for (the load's paths, as primary parsed them), not for want of data.
    expect(done.status.lastAnalysis?.output).toMatchObject({ samples: 3, failed: 3, fromTraffic: 3 });
    expect(done.status.lastAnalysis?.noData).toBeFalsy();
    const warnings = (await eventsOf(ctx.lab.sandbox.client, ref)).filter((e) => e.type === 'Warning').map((e) => e.message ?? '');
    expect(warnings.join('\n')).toMatch(/output of [\w/-]+\.\w+\?w=\d+(&h=\d+)?&fit=\w+&q=80&fm=auto: colour difference \(mean CIEDE2000\) primary 0, canary [\d.]+ \(limit at most 1\.5\)/);
    expect(warnings.join('\n')).not.toMatch(/no data/);
    await expectIdleOn(ctx.lab, ref, OLD_IMAGE);
    expect(load.counts().failed, JSON.stringify(load.counts().byStatus)).toBe(0);
  });

  it('(o2) a rebuild of the same version, with signed URLs only, passes the output check on signed listed and traffic samples, and is promoted', async () => {
    const key = 'o2-signing-key';
    await ctx.lab.sandbox.client.request('POST', '/api/v1/namespaces/default/secrets', { metadata: { name: 'rebuild-signing' }, data: { keys: Buffer.from(key).toString('base64') } });
    const manifest = mergePatch(imageService('rebuild', { analysis: { output: { samples: SAMPLES, fromTraffic: 2 } } }), { spec: { serving: { signingKeysSecret: 'rebuild-signing' } } });
    const { ref, load, done } = await rollOutUnderLoad(ctx, manifest, NEW_IMAGE, key);
    expect(done.status.lastAnalysis?.output).toMatchObject({ samples: 4, failed: 0, fromTraffic: 2, worstSsim: 1, worstDeltaE: 0 });
    expect(load.counts().failed).toBe(0);
    // The service takes signed URLs only: an unsigned one is refused.
    expect((await meshGet(ctx.lab.sandbox.mesh, hostOf(ref), '/image/files/badge.png?w=32')).status).toBe(403);
  });

  it("(o3) the preview header shows the canary's pictures while users get primary's", async () => {
    // A long interval keeps the drifted canary at 0% after its first failed output check, long
    // enough to look at it.
    const ref = await deploy(ctx.lab, imageService('preview', { canary: { preview: PREVIEW, interval: '30s' }, analysis: { output: { samples: SAMPLES } } }));
    const rollout = await changeImage(ctx.lab, ref, `${NEW_IMAGE}-drift`);
    const held = await rollout.until([], ROLLOUT_TIMEOUT_MS, (o) => o.status.phase === 'Failed' || (o.status.phase === 'Progressing' && (o.status.failedChecks ?? 0) >= 1));
    expect(held.status.phase, await history(ctx.lab, ref)).toBe('Progressing');
    const path = '/image/files/landscape.jpg?w=480';
    // The preview rule exists once the canary runs; users' route stays 100% primary.
    const mesh = ctx.lab.sandbox.mesh;
    const host = hostOf(ref);
    let previewed: Buffer | undefined;
    for (let i = 0; i < 100 && previewed === undefined; i++) {
      const a = await meshGet(mesh, host, path, { [PREVIEW.header]: PREVIEW.value });
      const b = await meshGet(mesh, host, path);
      if (a.status === 200 && b.status === 200 && !a.body.equals(b.body)) previewed = a.body;
      else await new Promise((r) => setTimeout(r, 200));
    }
    expect(previewed, "a preview answer different from the users' one").toBeDefined();
    const users = await Promise.all(Array.from({ length: 10 }, () => meshGet(mesh, host, path)));
    const distinct = new Set(users.map((u) => u.body.toString('base64')));
    expect(distinct.size).toBe(1);
    const colour = deltaE2000Map(await lab(users[0]!.body), await lab(previewed!)).mean;
    expect(colour).toBeGreaterThan(1.5);
    expect(rollout.routedWeights().filter((w) => w > 0)).toEqual([]);
  });

  it('(o4) mirroring to a -slow canary rolls it back on the mirrored requests; no user request is routed to it', async () => {
    const { ref, load, rollout, done } = await rollOutUnderLoad(ctx, imageService('mirror', { canary: { mirror: 50 } }), `${NEW_IMAGE}-slow`);
    expect(rollout.routedWeights().filter((w) => w > 0)).toEqual([]);
    expect(done.status.lastAnalysis?.requests).toBeGreaterThan(0);
    expect(done.status.lastAnalysis?.latencyP99Ms).toBeGreaterThan(LATENCY_SLO_MS);
    const events = await eventsOf(ctx.lab.sandbox.client, ref);
    expect(events.map((e) => e.reason)).toContain('Mirroring');
    // Users waited on no mirrored request: none slower than the slow canary's delay.
    const seen = load.counts();
    expect(seen.failed, JSON.stringify(seen.byStatus)).toBe(0);
    expect(seen.p99Ms).toBeLessThan(LATENCY_SLO_MS);
    await expectIdleOn(ctx.lab, ref, OLD_IMAGE);
    // the rollback, at 0% like the mirror, took the mirror away
    const vs = await ctx.lab.sandbox.client.get(RESOURCES.virtualservices, VirtualServiceSchema, ref.namespace, ref.name);
    expect(vs?.spec.http?.map((h) => h.mirror)).toEqual([undefined]);
  });
});
