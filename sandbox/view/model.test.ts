import { describe, expect, it } from 'vitest';
import { MAX_STATUS_MESSAGE_LENGTH } from '../../operator/src/api/image-service.ts';
import { LIMITS, RolloutModel } from './model.ts';

const isvc = (name: string, status: Record<string, unknown> = {}, spec: Record<string, unknown> = {}) => ({
  apiVersion: 'imageops.dev/v1alpha1',
  kind: 'ImageService',
  metadata: { name, namespace: 'shop' },
  spec: { image: 'imageops/image-service:1.0.0', canary: { analysis: { latencyP99Ms: 300, errorRatePercent: 5 } }, ...spec },
  status,
});

const event = (name: string, at: string, extra: Record<string, unknown> = {}) => ({
  metadata: { name: `${name}.${at}`, namespace: 'shop' },
  involvedObject: { kind: 'ImageService', namespace: 'shop', name },
  type: 'Normal',
  reason: 'Advanced',
  message: 'advanced',
  lastTimestamp: at,
  ...extra,
});

describe('the rollout view model', () => {
  it('keeps a step of the weight at each change, extended to now', () => {
    const m = new RolloutModel('prometheus');
    m.observe(isvc('thumbs', { phase: 'Initialized' }), 10);
    m.observe(isvc('thumbs', { phase: 'Progressing', canaryWeight: 20 }), 12);
    m.observe(isvc('thumbs', { phase: 'Progressing', canaryWeight: 20, message: 'again' }), 13);
    m.observe(isvc('thumbs', { phase: 'Progressing', canaryWeight: 40 }), 15);
    const [s] = m.state(20).services;
    expect(s?.weights).toEqual([
      [10, 0],
      [12, 20],
      [15, 40],
      [20, 40],
    ]);
    expect(s).toMatchObject({ phase: 'Progressing', weight: 40, slo: { latencyP99Ms: 300, errorRatePercent: 5 } });
  });

  it.each([
    ['a status the operator would not write', { phase: 'Exploded', canaryWeight: 400 }, { phase: '', weight: 0 }],
    ['a message beyond the status limit', { phase: 'Failed', message: 'x'.repeat(MAX_STATUS_MESSAGE_LENGTH + 1) }, { phase: '', message: '' }],
    ["a message beyond the view's cap", { message: 'x'.repeat(MAX_STATUS_MESSAGE_LENGTH) }, { message: `${'x'.repeat(LIMITS.text - 1)}…` }],
  ])('reads %s as no status, or cut', (_what, status, expected) => {
    const m = new RolloutModel('direct');
    m.observe(isvc('thumbs', status), 1);
    expect(m.state(2).services[0]).toMatchObject(expected);
  });

  it('leaves out what is not an ImageService', () => {
    const m = new RolloutModel('direct');
    m.observe({ metadata: {} }, 1);
    m.observe('<script>', 1);
    expect(m.state(2).services).toEqual([]);
  });

  it('bounds every series, the Events and the services shown', () => {
    const m = new RolloutModel('prometheus');
    for (let i = 0; i < LIMITS.services + 3; i++) m.observe(isvc(`s${String(i).padStart(2, '0')}`), 1);
    for (let t = 0; t < LIMITS.points + 10; t++) {
      m.observe(isvc('s00', { canaryWeight: t % 2 }), t);
      m.sample('shop', 's00', 'canary', { t, p99Ms: Number.NaN, errorPercent: Number.POSITIVE_INFINITY, rps: 1 });
    }
    m.events(Array.from({ length: LIMITS.events + 5 }, (_, i) => event('s00', new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString())));
    const state = m.state(1e6);
    expect(state.services).toHaveLength(LIMITS.services);
    expect(state.hidden).toBe(3);
    const s00 = state.services[0];
    expect(s00?.samples.canary).toHaveLength(LIMITS.points);
    expect(s00?.samples.canary[0]).toMatchObject({ p99Ms: null, errorPercent: null, rps: 1 });
    expect(s00?.weights.length).toBe(LIMITS.points + 1);
    expect(s00?.events).toHaveLength(LIMITS.events);
    expect(s00?.events.at(-1)?.t).toBe(Date.UTC(2026, 0, 1, 0, 0, LIMITS.events + 4) / 1000);
  });

  it("files Events under their ImageService, oldest first, and ignores other kinds' and unreadable ones", () => {
    const m = new RolloutModel('prometheus');
    m.observe(isvc('a'), 1);
    m.observe(isvc('b'), 1);
    m.events([
      event('a', '2026-01-01T00:00:02Z', { type: 'Warning', reason: 'CheckFailed', message: '<b>p99</b>' }),
      event('a', '2026-01-01T00:00:01Z'),
      { ...event('b', '2026-01-01T00:00:01Z'), involvedObject: { kind: 'Pod', namespace: 'shop', name: 'b' } },
      { involvedObject: 'nonsense' },
    ]);
    const [a, b] = m.state(5).services;
    expect(a?.events.map((e) => [e.type, e.reason, e.message])).toEqual([
      ['Normal', 'Advanced', 'advanced'],
      ['Warning', 'CheckFailed', '<b>p99</b>'],
    ]);
    expect(b?.events).toEqual([]);
  });

  it('forgets a deleted ImageService', () => {
    const m = new RolloutModel('prometheus');
    m.observe(isvc('a'), 1);
    m.forget('shop', 'a');
    m.sample('shop', 'a', 'primary', { t: 2, p99Ms: 1, errorPercent: 0, rps: 1 });
    expect(m.state(3).services).toEqual([]);
  });
});
