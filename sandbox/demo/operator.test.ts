import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startOperatorProcess } from './operator.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

describe('startOperatorProcess', () => {
  it('fails with the log to read when the operator cannot start, and leaves no process', async () => {
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'operator-proc-'));
    dirs.push(stateDir);
    const start = startOperatorProcess({ kubeconfigPath: path.join(stateDir, 'kubeconfig'), prometheus: undefined, stateDir }, { METRICS_ADDRESS: 'not-an-address' });
    await expect(start).rejects.toThrow(/exited at start \(code 2\); see .*operator\.log/);
    expect(fs.readFileSync(path.join(stateDir, 'operator.log'), 'utf8')).toContain('METRICS_ADDRESS');
    expect(fs.readdirSync(path.join(stateDir, 'pids'))).toEqual([]);
  });
});
