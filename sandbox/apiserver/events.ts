import type { Codec } from './resources.ts';

// core/v1 Events and events.k8s.io/v1 Events are one stored object seen through two APIs
// (https://kubernetes.io/docs/reference/kubernetes-api/cluster-resources/event-v1/): storage is
// the core/v1 form, and this codec renames the fields of the events.k8s.io/v1 form.

/** [events.k8s.io/v1 field, core/v1 field] */
const renames: [string, string][] = [
  ['regarding', 'involvedObject'],
  ['note', 'message'],
  ['deprecatedSource', 'source'],
  ['deprecatedFirstTimestamp', 'firstTimestamp'],
  ['deprecatedLastTimestamp', 'lastTimestamp'],
  ['deprecatedCount', 'count'],
  ['reportingController', 'reportingComponent'],
];

function rename(obj: Record<string, unknown>, pairs: [string, string][], apiVersion: string): Record<string, unknown> {
  const out: Record<string, unknown> = { ...obj, apiVersion };
  for (const [from, to] of pairs) {
    delete out[from];
    if (obj[from] !== undefined) out[to] = obj[from];
  }
  return out;
}

export const eventsV1Codec: Codec = {
  toStorage: (obj) => rename(obj, renames, 'v1'),
  // eventTime is a required field of events.k8s.io/v1: an Event written through core/v1 without
  // one is served with `eventTime: null`, as kube-apiserver serves it.
  fromStorage: (obj) => ({
    eventTime: null,
    ...rename(
      obj,
      renames.map(([a, b]) => [b, a]),
      'events.k8s.io/v1',
    ),
  }),
};
