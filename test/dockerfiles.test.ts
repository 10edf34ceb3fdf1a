// The container images, checked without a Docker engine: what `docker build` would put in each
// image must be enough for its entry point to start (every module the entry loads is copied and
// not excluded by the build's ignore file, every package it loads is a production dependency),
// on Node 24 slim, as a numeric non-root user, with production dependencies only.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.join(import.meta.dirname, '..');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };

type Instruction = { op: string; args: string };

function instructions(dockerfile: string): Instruction[] {
  const text = fs.readFileSync(path.join(ROOT, dockerfile), 'utf8').replace(/\\\r?\n/g, ' ');
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const [op = '', ...rest] = l.split(/\s+/);
      return { op: op.toUpperCase(), args: rest.join(' ') };
    });
}

/** The last stage: what ships. */
function finalStage(all: Instruction[]): Instruction[] {
  const from = all.map((i) => i.op).lastIndexOf('FROM');
  return all.slice(from);
}

/** BuildKit reads `<Dockerfile>.dockerignore` beside the Dockerfile, else the context's `.dockerignore`. */
function ignoreRules(dockerfile: string): { negate: boolean; pattern: string }[] {
  const own = path.join(ROOT, `${dockerfile}.dockerignore`);
  const file = fs.existsSync(own) ? own : path.join(ROOT, '.dockerignore');
  return fs
    .readFileSync(file, 'utf8')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => ({ negate: l.startsWith('!'), pattern: path.posix.normalize(l.replace(/^!/, '').replace(/^\/+/, '')) }));
}

/** Go's filepath.Match plus Docker's `**`: `*` and `?` stay within a segment and match dotfiles too. */
function globRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] ?? '';
    if (c === '*' && pattern[i + 1] === '*') {
      re += pattern[i + 2] === '/' ? '(?:.*/)?' : '.*';
      i += pattern[i + 2] === '/' ? 2 : 1;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** Docker's rule: a pattern matches a path or any of its parent directories; the last match wins. */
function inContext(file: string, rules: { negate: boolean; pattern: string }[]): boolean {
  const parts = file.split('/');
  const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
  let included = true;
  for (const r of rules) {
    const re = globRegExp(r.pattern);
    if (prefixes.some((p) => re.test(p))) included = r.negate;
  }
  return included;
}

/** Local modules and packages a module loads at run time (type-only imports are erased by type stripping). */
function importsOf(file: string): { local: string[]; packages: string[] } {
  const source = fs.readFileSync(path.join(ROOT, file), 'utf8');
  const specifiers = [...source.matchAll(/^\s*(?:import|export)\s+(?!type\s)(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]/gm), ...source.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)].map(
    (m) => m[1] ?? '',
  );
  const local = specifiers.filter((s) => s.startsWith('.')).map((s) => path.posix.normalize(path.posix.join(path.posix.dirname(file), s)));
  const packages = specifiers.filter((s) => !s.startsWith('.') && !s.startsWith('node:')).map((s) => (s.startsWith('@') ? s.split('/').slice(0, 2).join('/') : (s.split('/')[0] ?? s)));
  return { local, packages };
}

function closure(entry: string): { files: string[]; packages: Set<string> } {
  const seen = new Set<string>();
  const packages = new Set<string>();
  const queue = [entry];
  for (let file = queue.pop(); file !== undefined; file = queue.pop()) {
    if (seen.has(file)) continue;
    seen.add(file);
    if (!fs.existsSync(path.join(ROOT, file))) continue;
    const found = importsOf(file);
    queue.push(...found.local);
    for (const p of found.packages) packages.add(p);
  }
  return { files: [...seen], packages };
}

const IMAGES = [
  { dockerfile: 'image-service/Dockerfile', entry: 'image-service/src/main.ts' },
  { dockerfile: 'operator/Dockerfile', entry: 'operator/src/main.ts' },
];

describe.each(IMAGES)('$dockerfile', ({ dockerfile, entry }) => {
  const all = instructions(dockerfile);
  const last = finalStage(all);

  it('builds in stages on Node 24 slim', () => {
    const bases = all.filter((i) => i.op === 'FROM').map((i) => i.args.split(/\s+/)[0] ?? '');
    expect(bases.length).toBeGreaterThanOrEqual(2);
    for (const base of bases) expect(base).toMatch(/^node:24(\.\d+){0,2}(-[a-z]+)?-slim(@sha256:[0-9a-f]{64})?$/);
  });

  it('installs production dependencies only, with the lockfile', () => {
    const installs = all.filter((i) => i.op === 'RUN' && /\bnpm\b/.test(i.args));
    expect(installs.length).toBeGreaterThan(0);
    for (const i of installs) expect(i.args).toMatch(/\bnpm ci\b[^&;]*--omit=dev/);
    expect(last.some((i) => i.op === 'COPY' && i.args.includes('--from=') && i.args.includes('node_modules'))).toBe(true);
  });

  it('runs as a numeric non-root user', () => {
    const user = last.filter((i) => i.op === 'USER').at(-1)?.args ?? '';
    expect(user).toMatch(/^[1-9]\d*(:\d+)?$/);
  });

  it('runs its entry point under node as PID 1, which handles SIGTERM itself', () => {
    const command = last.filter((i) => i.op === 'ENTRYPOINT' || i.op === 'CMD').map((i) => JSON.parse(i.args) as string[]);
    const argv = command.flat();
    expect(argv[0]).toBe('node');
    expect(argv.at(-1)).toBe(entry);
    // Without a handler, the kernel drops SIGTERM for PID 1 and the pod is killed after its grace period.
    expect(fs.readFileSync(path.join(ROOT, entry), 'utf8')).toMatch(/process\.(on|once)\(['"]SIGTERM['"]/);
  });

  it('copies every module the entry point loads, and ships a production dependency for every package it imports', () => {
    const copied = last
      .filter((i) => i.op === 'COPY' && !i.args.includes('--from='))
      .flatMap((i) => i.args.split(/\s+/).slice(0, -1))
      .map((src) => path.posix.normalize(src.replace(/\/+$/, '')));
    const rules = ignoreRules(dockerfile);
    const { files, packages } = closure(entry);
    expect(files.length).toBeGreaterThan(5);
    const missing = files.filter((f) => !fs.existsSync(path.join(ROOT, f)) || !copied.some((c) => f === c || f.startsWith(`${c}/`)) || !inContext(f, rules));
    expect(missing).toEqual([]);
    expect([...packages].filter((p) => !(p in pkg.dependencies))).toEqual([]);
    expect(inContext('package.json', rules) && inContext('package-lock.json', rules)).toBe(true);
  });

  it('leaves tests and local state out of the build context', () => {
    const rules = ignoreRules(dockerfile);
    for (const f of ['.git/config', 'node_modules/x/index.js', '.sandbox/kubeconfig', 'test/rbac.test.ts', `${path.posix.dirname(entry)}/x.test.ts`]) {
      expect(inContext(f, rules), f).toBe(false);
    }
  });
});
