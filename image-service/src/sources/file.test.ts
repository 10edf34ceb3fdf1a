import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openFileSource } from './file.ts';
import { type Source, SourceError } from './source.ts';

let dir: string;
let root: string;
let source: Source;
const opts = { maxBytes: 1000, signal: new AbortController().signal };

async function failure(p: Promise<unknown>): Promise<SourceError> {
  const error = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SourceError);
  return error as SourceError;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'file-source-'));
  root = join(dir, 'root');
  await mkdir(join(root, 'sub'), { recursive: true });
  await writeFile(join(dir, 'secret.txt'), 'outside the root');
  await mkdir(join(dir, 'outside'));
  await writeFile(join(dir, 'outside', 'x.jpg'), 'outside the root');
  await writeFile(join(root, 'a.jpg'), 'hello');
  await writeFile(join(root, 'sub', 'b.jpg'), 'world');
  await writeFile(join(root, 'big.jpg'), Buffer.alloc(1001));
  await symlink(join(dir, 'secret.txt'), join(root, 'escape.jpg'));
  await symlink(join(dir, 'outside'), join(root, 'linkdir'));
  await symlink(join(root, 'a.jpg'), join(root, 'alias.jpg'));
  source = await openFileSource(root);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('file source', () => {
  it('reads a key with a version from size and mtime', async () => {
    const object = await source.get('sub/b.jpg', opts);
    expect(object.bytes.toString()).toBe('world');
    expect(object.version).toMatch(/^5-[0-9a-z]+$/);
    expect((await source.get('alias.jpg', opts)).bytes.toString()).toBe('hello'); // a link inside the root is fine
  });

  it('frees the bytes on release, without touching other reads of the same key', async () => {
    const first = await source.get('a.jpg', opts);
    const second = await source.get('a.jpg', opts);
    first.release!();
    expect(first.bytes.length).toBe(0);
    expect(second.bytes.toString()).toBe('hello');
  });

  it.each([
    ['missing.jpg', 'not_found', 404],
    ['sub', 'not_found', 404],
    ['a.jpg/x', 'not_found', 404],
    ['big.jpg', 'too_large', 413],
    ['escape.jpg', 'invalid_key', 400],
    ['linkdir/x.jpg', 'invalid_key', 400],
    ['../secret.txt', 'invalid_key', 400],
  ])('get(%j) fails as %s', async (key, kind, status) => {
    const error = await failure(source.get(key, opts));
    expect(error.kind).toBe(kind);
    expect(error.status).toBe(status);
    expect(error.message).not.toContain('outside the root');
  });

  it('refuses to open the root without a directory', async () => {
    await expect(openFileSource(join(dir, 'nope'))).rejects.toThrow(/IMAGE_SOURCE: cannot open/);
    await expect(openFileSource(join(dir, 'secret.txt'))).rejects.toThrow(/not a directory/);
  });

  it('puts atomically and deletes, idempotently, never outside the root', async () => {
    await source.put!('new/deep/c.jpg', Buffer.from('fresh'), opts);
    expect(await readFile(join(root, 'new', 'deep', 'c.jpg'), 'utf8')).toBe('fresh');
    await source.delete!('new/deep/c.jpg', opts);
    await source.delete!('new/deep/c.jpg', opts);
    await failure(source.get('new/deep/c.jpg', opts));
    expect((await failure(source.put!('linkdir/y.jpg', Buffer.from('no'), opts))).kind).toBe('invalid_key');
    await source.delete!('escape.jpg', opts); // removes the link, not its target
    expect(await readFile(join(dir, 'secret.txt'), 'utf8')).toBe('outside the root');
    expect((await failure(source.delete!('linkdir/x.jpg', opts))).kind).toBe('invalid_key');
    expect(await readFile(join(dir, 'outside', 'x.jpg'), 'utf8')).toBe('outside the root');
  });

  it('stops reading when the request is aborted', async () => {
    const gone = new AbortController();
    gone.abort();
    expect((await failure(source.get('a.jpg', { maxBytes: 1000, signal: gone.signal }))).kind).toBe('timeout');
  });
});
