import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generatedFiles, REPO_ROOT } from './gen.ts';

describe('npm run gen', () => {
  for (const [path, content] of generatedFiles()) {
    it(`${path} is up to date (run \`npm run gen\` when this fails)`, async () => {
      const onDisk = await readFile(resolve(REPO_ROOT, path), 'utf8').catch(() => '<missing>');
      expect(onDisk, `${path} differs from the generator's output: run npm run gen`).toBe(content);
    });
  }
});
