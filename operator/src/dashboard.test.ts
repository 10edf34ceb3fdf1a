import { describe, expect, it } from 'vitest';
import { Admission } from '../../image-service/src/admission.ts';
import { Metrics } from '../../image-service/src/metrics.ts';
import { PHASES } from './api/image-service.ts';
import { dashboard, dashboardTargets, OPERATOR_PANELS } from './dashboard.ts';
import { OperatorMetrics } from './metrics.ts';

/** Every series name the two processes export, histograms with their _bucket, _sum and _count. */
async function exported(): Promise<Set<string>> {
  const registries = [new OperatorMetrics().registry, new Metrics('test', new Admission({ slots: 1, queueLimit: 1, queueTimeoutMs: 1000 })).registry];
  const names = new Set<string>();
  for (const r of registries) {
    for (const m of await r.getMetricsAsJSON()) {
      names.add(m.name);
      if (String(m.type) === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(`${m.name}${s}`);
    }
  }
  return names;
}

/** The metric names of a PromQL expression: what is left without label matchers, ranges, grouping clauses and functions. */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/\{[^}]*\}|\[[^\]]*\]/g, ' ')
    .replace(/\b(by|on|group_left|ignoring|without)\s*\([^)]*\)/g, ' ')
    .replace(/\b[a-z_]+\s*\(/g, ' (');
  return [...bare.matchAll(/[a-z_][a-z0-9_]*/g)].map((m) => m[0]).filter((n) => !['and', 'or', 'unless'].includes(n));
}

describe('the Grafana dashboard', () => {
  it('queries only metrics the operator and the image service export', async () => {
    const names = await exported();
    const used = dashboardTargets().flatMap((t) => metricNames(t.target.expr));
    expect(used).toContain('imageops_canary_weight');
    expect(used).toContain('image_service_queue_length');
    expect(used.filter((n) => !names.has(n))).toEqual([]);
  });

  it('names the phases as the operator numbers them', () => {
    const phase = OPERATOR_PANELS.find((p) => p.title === 'Rollout phase');
    expect(Object.values(phase?.mappings ?? {})).toEqual([...PHASES]);
  });

  it('gives every panel a unique id and a place that overlaps no other', () => {
    const panels = dashboard()['panels'] as { id: number; gridPos: { x: number; y: number; w: number; h: number } }[];
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
    const cells = new Set<string>();
    for (const { gridPos: g } of panels) {
      for (let x = g.x; x < g.x + g.w; x++)
        for (let y = g.y; y < g.y + g.h; y++) {
          const cell = `${x},${y}`;
          expect(cells.has(cell), `overlap at ${cell}`).toBe(false);
          cells.add(cell);
        }
    }
  });
});
