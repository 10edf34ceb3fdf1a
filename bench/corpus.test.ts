import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { prepareCorpus, syntheticPhotograph } from './corpus.ts';

const work = mkdtempSync(join(tmpdir(), 'bench-corpus-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function jpeg(file: string, width: number, height: number): Promise<void> {
  writeFileSync(
    file,
    await sharp({ create: { width, height, channels: 3, background: '#456' } })
      .jpeg()
      .toBuffer(),
  );
}

describe('prepareCorpus', () => {
  it('lays out linked names per photograph, interleaved, and tells the large photograph apart', async () => {
    const source = join(work, 'photos');
    mkdirSync(source);
    await jpeg(join(source, 'a.jpg'), 64, 40);
    await jpeg(join(source, 'b.jpg'), 64, 40);
    await jpeg(join(source, 'big.jpg'), 4000, 2600);
    writeFileSync(join(source, 'README.md'), 'not a photograph');
    const corpus = await prepareCorpus({ source, workDir: join(work, 'out'), copies: 3 });
    expect(corpus.photos).toEqual(['a.jpg', 'b.jpg', 'a_001.jpg', 'b_001.jpg', 'a_002.jpg', 'b_002.jpg']);
    expect(corpus.large).toEqual(['big.jpg', 'big_001.jpg', 'big_002.jpg']);
    // Links, not copies: every name of a photograph is the same file.
    expect(statSync(join(corpus.root, 'a_002.jpg')).ino).toBe(statSync(join(corpus.root, 'a.jpg')).ino);
    expect(corpus.synthetic).toBe(false);
  });

  it('refuses a directory without a large photograph, saying what it needs', async () => {
    const source = join(work, 'small-only');
    mkdirSync(source);
    await jpeg(join(source, 'a.jpg'), 64, 40);
    await expect(prepareCorpus({ source, workDir: join(work, 'out2'), copies: 1 })).rejects.toThrow(/needs both photographs under 10 MP and at least one at or over it/);
  });
});

describe('syntheticPhotograph', () => {
  it('is a JPEG of the size asked that compresses like a photograph, not like a flat image', async () => {
    const bytes = await syntheticPhotograph(640, 400, 30);
    const meta = await sharp(bytes).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', 640, 400]);
    // A flat colour takes a few hundredths of a byte per pixel; texture takes far more.
    expect(bytes.length / (640 * 400)).toBeGreaterThan(0.05);
    const stats = await sharp(bytes).stats();
    expect(stats.channels[0]?.stdev).toBeGreaterThan(10);
  });
});
