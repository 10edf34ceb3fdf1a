// `npm start -- --exit` as CI runs it: the whole demo (sandbox, operator, example, load, rollout)
// in a child process, with output to a pipe. It must promote the new image without a failed
// request, print plain lines (no terminal control codes) and leave no process behind.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isAlive } from '../sandbox/pids.ts';
import { REPO_ROOT } from '../sandbox/sandbox.ts';

const DEMO = path.join(REPO_ROOT, 'sandbox', 'demo', 'demo.ts');
const DEMO_TIMEOUT_MS = 240_000;

describe('npm start (the demo)', () => {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'imageops-demo-'));
  const pids = new Set<number>();

  afterAll(() => {
    for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    fs.rmSync(stateDir, { recursive: true, force: true });
  });

  it(
    'rolls the example out to the new image live and exits after success with --exit',
    async () => {
      const child = spawn(process.execPath, [DEMO, '--exit', '--state-dir', stateDir], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      if (child.pid !== undefined) pids.add(child.pid);
      let out = '';
      let err = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.stderr.on('data', (c: Buffer) => (err += c.toString()));
      // The pods' pids, read while the demo runs, to check that none outlives it.
      const watcher = setInterval(() => {
        try {
          for (const name of fs.readdirSync(path.join(stateDir, 'pids'))) pids.add(Number(name));
        } catch {
          // not written yet
        }
      }, 200);
      const timer = setTimeout(() => child.kill('SIGKILL'), DEMO_TIMEOUT_MS);
      const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
      clearTimeout(timer);
      clearInterval(watcher);

      expect(code, `${out}\n${err}`).toBe(0);
      expect(out).toContain('Changed spec.image to imageops/image-service:1.1.0');
      expect(out).toMatch(/phase=Progressing weight=20 /);
      expect(out).toMatch(/phase=Succeeded /);
      expect(out).toMatch(/Last output check: 2 samples, 0 differing; worst lightness SSIM 1, worst colour difference 0\./);
      expect(out).toMatch(/Promoted imageops\/image-service:1\.1\.0\. During the rollout the load sent \d+ requests; 0 failed\./);
      expect(out).toMatch(/Canary analysis (reads Prometheus|uses the direct provider)/);
      expect(out).toMatch(/The rollout, live in a browser: http:\/\/127\.0\.0\.1:\d+\//);
      expect(out).not.toContain('\x1b[');
      const alive = [...pids].filter((p) => p !== child.pid && isAlive(p));
      expect(alive).toEqual([]);
    },
    DEMO_TIMEOUT_MS + 10_000,
  );
});
