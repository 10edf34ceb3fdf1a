import { constants } from 'node:fs';
import { mkdir, open, realpath, rename, rm, stat, unlink } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { type Source, SourceError, type SourceObject } from './source.ts';

/**
 * Originals from a local directory (`IMAGE_SOURCE=file:///path`). Every key is confined to the
 * root: the resolved path must be inside it, and so must the path with every symlink resolved,
 * so a link inside the root cannot lead outside it. The final open refuses to follow a symlink,
 * which closes the window between the check and the open for the last path component.
 */
export async function openFileSource(root: string): Promise<Source> {
  let real: string;
  try {
    real = await realpath(root);
  } catch (error) {
    throw new Error(`IMAGE_SOURCE: cannot open ${root}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  if (!(await stat(real)).isDirectory()) throw new Error(`IMAGE_SOURCE: ${root} is not a directory`);
  return new FileSource(real);
}

function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
}

function mapError(error: unknown, key: string): SourceError {
  if (error instanceof SourceError) return error;
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return new SourceError('not_found', `no image at key ${JSON.stringify(key)}`);
  if (code === 'ELOOP') return new SourceError('invalid_key', 'key is a symbolic link loop');
  if (code === 'ENAMETOOLONG') return new SourceError('invalid_key', 'a segment of the key is longer than the file system allows (255 bytes on most)');
  if (code === 'EACCES' || code === 'EPERM') return new SourceError('forbidden', `the service may not read key ${JSON.stringify(key)}`);
  if (code === 'ABORT_ERR') return new SourceError('timeout', 'the request was aborted while reading the source');
  return new SourceError('unavailable', `the file source failed: ${code ?? (error as Error).message}`);
}

class FileSource implements Source {
  readonly kind = 'file' as const;
  readonly #root: string;

  constructor(root: string) {
    this.#root = root;
  }

  /** The real path of a key, or a 400 when it (or a symlink on its way) leaves the root. */
  async #confine(key: string): Promise<string> {
    const path = resolve(this.#root, key);
    if (!inside(this.#root, path)) throw new SourceError('invalid_key', 'key leaves the source root');
    const real = await realpath(path);
    if (!inside(this.#root, real)) throw new SourceError('invalid_key', 'key resolves outside the source root');
    return real;
  }

  async get(key: string, opts: { maxBytes: number; signal: AbortSignal }): Promise<SourceObject> {
    try {
      const path = await this.#confine(key);
      const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
      try {
        const info = await handle.stat();
        if (!info.isFile()) throw new SourceError('not_found', `no image at key ${JSON.stringify(key)}`);
        if (info.size > opts.maxBytes) throw new SourceError('too_large', `the source is ${info.size} bytes, over the limit of ${opts.maxBytes} bytes`);
        // The size from fstat bounds the read: a file that grows meanwhile is read as it was. The
        // buffer owns its whole ArrayBuffer (never a slice of Node's pool), so release() can free it.
        const bytes = Buffer.allocUnsafeSlow(info.size);
        let filled = 0;
        while (filled < bytes.length) {
          opts.signal.throwIfAborted();
          const { bytesRead } = await handle.read(bytes, filled, bytes.length - filled, filled);
          if (bytesRead === 0) break;
          filled += bytesRead;
        }
        return {
          bytes: filled === bytes.length ? bytes : bytes.subarray(0, filled),
          version: `${info.size.toString(36)}-${Math.trunc(info.mtimeMs).toString(36)}`,
          // Detaching frees the memory now; the server calls this only once nothing reads the bytes.
          release: () => void bytes.buffer.transfer(0),
        };
      } finally {
        await handle.close();
      }
    } catch (error) {
      throw opts.signal.aborted ? new SourceError('timeout', 'the request was aborted while reading the source') : mapError(error, key);
    }
  }

  /**
   * The key's folder, created one level at a time; each level, once it exists, must really be
   * inside the root before anything is created in it, so a symlinked folder never gets a
   * directory made through it.
   */
  async #folderOf(key: string): Promise<string> {
    let folder = this.#root;
    for (const segment of key.split('/').slice(0, -1)) {
      const next = join(folder, segment);
      try {
        await mkdir(next);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      folder = await realpath(next);
      if (!inside(this.#root, folder)) throw new SourceError('invalid_key', 'key resolves outside the source root');
    }
    return folder;
  }

  /** Writes atomically (a temporary file renamed over the key), creating folders inside the root. */
  async put(key: string, bytes: Buffer, opts: { signal: AbortSignal }): Promise<void> {
    try {
      const path = resolve(this.#root, key);
      if (!inside(this.#root, path)) throw new SourceError('invalid_key', 'key leaves the source root');
      const folder = await this.#folderOf(key);
      const target = join(folder, key.slice(key.lastIndexOf('/') + 1));
      const temporary = `${target}.${process.pid}.${Date.now().toString(36)}.partial`;
      const handle = await open(temporary, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW);
      try {
        await handle.writeFile(bytes, { signal: opts.signal });
      } catch (error) {
        await handle.close();
        await rm(temporary, { force: true });
        throw error;
      }
      await handle.close();
      await rename(temporary, target);
    } catch (error) {
      throw mapError(error, key);
    }
  }

  async delete(key: string): Promise<void> {
    let path: string;
    try {
      const candidate = resolve(this.#root, key);
      if (!inside(this.#root, candidate)) throw new SourceError('invalid_key', 'key leaves the source root');
      // Delete the link itself, never what a link points to; its folder must be inside the root.
      const folder = await realpath(dirname(candidate));
      if (folder !== this.#root && !inside(this.#root, folder)) throw new SourceError('invalid_key', 'key resolves outside the source root');
      path = join(folder, key.slice(key.lastIndexOf('/') + 1));
      await unlink(path);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return; // already gone: success
      throw mapError(error, key);
    }
  }
}
