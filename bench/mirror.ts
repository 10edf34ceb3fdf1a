// What mirroring costs users (docs/benchmarks.md, "Canary: mirroring and user latency"): one
// ImageService under steady load through the sandbox's mesh, measured in alternating windows
// without a mirror and while 100% of its requests are mirrored to a -slow canary at 0% (a long
// interval keeps the canary there), so that both see the same pods and the same machine.
// Usage: npx node bench/mirror.ts [--windows 3] [--seconds 10] [--control-plane emulated|real]
import { parseArgs } from 'node:util';
import { deploy, imageService, NEW_IMAGE, startLab, startLoad } from '../sandbox/demo/lab.ts';
import { eventsOf, setImage, waitFor } from '../sandbox/demo/rollout.ts';
import type { ControlPlaneKind } from '../sandbox/sandbox.ts';

const { values } = parseArgs({ options: { windows: { type: 'string', default: '3' }, seconds: { type: 'string', default: '10' }, 'control-plane': { type: 'string', default: 'emulated' } } });
const windows = Number(values.windows);
const ms = Number(values.seconds) * 1000;
const lab = await startLab('off', values['control-plane'] as ControlPlaneKind);
try {
  const plain = await deploy(lab, imageService('plain'));
  const mirrored = await deploy(lab, imageService('mirrored', { canary: { mirror: 100, interval: '10m', threshold: 100 } }));
  await setImage(lab.sandbox.client, mirrored, `${NEW_IMAGE}-slow`);
  await waitFor('mirroring to start', async () => (await eventsOf(lab.sandbox.client, mirrored)).some((e) => e.reason === 'Mirroring'), 60_000);
  console.log('| window | requests | p50 ms | p99 ms | failed |');
  console.log('| --- | --- | --- | --- | --- |');
  for (let i = 0; i < windows; i++) {
    for (const [name, ref] of [
      ['no mirror', plain],
      ['100% mirrored to a -slow canary', mirrored],
    ] as const) {
      const load = startLoad(lab, ref, ms + 5_000);
      await new Promise((r) => setTimeout(r, ms));
      const c = await load.stop();
      console.log(`| ${name} (${i + 1}) | ${c.requests} | ${c.p50Ms?.toFixed(1)} | ${c.p99Ms?.toFixed(1)} | ${c.failed} |`);
    }
  }
} finally {
  await lab.retire();
  await lab.stop();
}
