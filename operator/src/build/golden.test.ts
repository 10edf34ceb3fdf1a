// Builders against checked-in golden outputs (__golden__/<example>.yaml).
// After an intended change, regenerate them with:
//   npx vitest run operator/src/build/golden.test.ts -u
// and review the diff.
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { buildDeployment } from './deployment.ts';
import { exampleFixtures } from './image-services.testkit.ts';
import { buildPodTemplate } from './pod-template.ts';
import { revisionOf } from './revision.ts';
import { buildServices } from './services.ts';
import { buildVirtualService } from './virtual-service.ts';

describe('golden children of each example', () => {
  for (const [file, isvc] of exampleFixtures()) {
    it(`examples/${file}`, async () => {
      const template = buildPodTemplate(isvc);
      const children = [
        buildDeployment({ isvc, track: 'primary', template, replicas: isvc.spec.replicas }),
        buildDeployment({ isvc, track: 'canary', template, replicas: 0 }),
        ...buildServices(isvc),
        buildVirtualService(isvc, { weight: 0, canaryRunning: false, mirrorPercent: 0 }),
      ];
      const text = children.map((c) => stringify(c, { lineWidth: 0 })).join('---\n');
      await expect(`# revision ${revisionOf(template)}\n${text}`).toMatchFileSnapshot(`./__golden__/${file}`);
    });
  }
});
