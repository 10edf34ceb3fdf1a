import { describe, expect, it } from 'vitest';
import type { LoadCounts } from './load.ts';
import { LiveView, render, renderLine } from './view.ts';

const counts = (requests: number, failed: number): LoadCounts => ({ requests, ok: requests - failed, failed, byStatus: {}, p50Ms: 3, p99Ms: 12 });

const state = {
  status: {
    phase: 'Progressing' as const,
    canaryWeight: 40,
    primary: { image: 'imageops/image-service:1.0.0' },
    canary: { image: 'imageops/image-service:1.1.0' },
    iterations: 2,
    failedChecks: 0,
    lastAnalysis: { at: '2026-11-22T00:00:00Z', latencyP99Ms: 21, errorRatePercent: 0, requests: 80, passed: true },
    message: 'Advanced canary weight to 40%',
  },
  recent: counts(200, 2),
  total: counts(1000, 2),
  elapsedMs: 12_000,
};

/** A stream standing in for stdout: collects what is written. */
function sink(tty: boolean): NodeJS.WriteStream & { text: string } {
  const s = {
    text: '',
    isTTY: tty,
    columns: 120,
    write(chunk: string) {
      s.text += chunk;
      return true;
    },
  };
  return s as unknown as NodeJS.WriteStream & { text: string };
}

describe('view', () => {
  it('shows phase, weight, the operator check and the load as a user reads them', () => {
    const text = render(state).join('\n');
    expect(text).toContain('phase Progressing');
    expect(text).toContain(' 40%');
    expect(text).toContain('p99 21 ms');
    expect(text).toContain('errors 1.00%');
    expect(text).toContain('1000 requests, 2 failed');
    expect(renderLine(state)).toContain('phase=Progressing weight=40 check=pass(p99=21ms,err=0.00%)');
  });

  it('redraws in place on a terminal', () => {
    const out = sink(true);
    const view = new LiveView(out);
    view.update(state);
    view.update(state);
    const lines = render(state).length;
    expect(out.text.startsWith('\x1b[')).toBe(false);
    expect(out.text).toContain(`\x1b[${lines}F`);
  });

  it('prints a plain line only when the rollout moved, when not a terminal', () => {
    const out = sink(false);
    const view = new LiveView(out);
    view.update(state);
    view.update({ ...state, total: counts(2000, 2) });
    view.update({ ...state, status: { ...state.status, canaryWeight: 60 } });
    expect(out.text).not.toContain('\x1b');
    expect(out.text.trim().split('\n')).toHaveLength(2);
  });
});
