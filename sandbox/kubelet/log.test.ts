import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ContainerLogWriter, LineCutter, viewLines } from './log.ts';

describe('container logs', () => {
  it('stamps each line of both streams, a last partial line included', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubelet-log-'));
    const file = path.join(dir, 'c.log');
    const writer = new ContainerLogWriter(file);
    const [out, err] = [new PassThrough(), new PassThrough()];
    writer.attach(out);
    writer.attach(err);
    out.write('one\ntw');
    out.write('o\n');
    err.end('oops');
    out.end('three');
    await new Promise((r) => setTimeout(r, 100));
    const text = fs.readFileSync(file, 'utf8');
    expect(viewLines(text, { timestamps: false }).sort()).toEqual(['one', 'oops', 'three', 'two']);
    for (const line of viewLines(text, { timestamps: true })) expect(line).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \S+$/);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it.each([
    [{ timestamps: false }, ['a', 'b c']],
    [{ timestamps: true }, ['2026-01-01T00:00:00.000Z a', '2026-01-01T00:01:00.000Z b c']],
    [{ timestamps: false, since: Date.parse('2026-01-01T00:00:30Z') }, ['b c']],
  ])('views %j', (view, expected) => {
    expect(viewLines('2026-01-01T00:00:00.000Z a\n2026-01-01T00:01:00.000Z b c\n', view)).toEqual(expected);
  });

  it('cuts whole lines from a growing file, a character split across reads included', () => {
    const cutter = new LineCutter();
    const bytes = Buffer.from('t é\nnext');
    expect(cutter.push(bytes.subarray(0, 3))).toBe('');
    expect(cutter.push(bytes.subarray(3))).toBe('t é\n');
    expect(cutter.push(Buffer.from('\n'))).toBe('next\n');
  });
});
