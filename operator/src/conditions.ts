import type { Condition } from './api/image-service.ts';

/**
 * Standard Kubernetes conditions on a status: one per type, lastTransitionTime moving only when
 * `status` changes, so "since when" stays true across reconciles that change nothing.
 */
export type ConditionUpdate = Pick<Condition, 'type' | 'status' | 'reason' | 'message'>;

export function setCondition(conditions: readonly Condition[] | undefined, update: ConditionUpdate, now: Date, observedGeneration: number | undefined): Condition[] {
  const list = [...(conditions ?? [])];
  const i = list.findIndex((c) => c.type === update.type);
  const old = i === -1 ? undefined : list[i];
  const next: Condition = {
    ...update,
    lastTransitionTime: old !== undefined && old.status === update.status && old.lastTransitionTime !== undefined ? old.lastTransitionTime : rfc3339(now),
    ...(observedGeneration === undefined ? {} : { observedGeneration }),
  };
  if (i === -1) list.push(next);
  else list[i] = next;
  return list;
}

export function removeCondition(conditions: readonly Condition[] | undefined, type: string): Condition[] {
  return (conditions ?? []).filter((c) => c.type !== type);
}

/** Kubernetes writes times to the second. */
function rfc3339(now: Date): string {
  return now.toISOString().replace(/\.\d+Z$/, 'Z');
}

/** `text` cut to at most `max` characters, saying so. */
export function bounded(text: string, max: number): string {
  if (text.length <= max) return text;
  const mark = ` ... (cut from ${text.length} characters)`;
  return text.slice(0, max - mark.length) + mark;
}
