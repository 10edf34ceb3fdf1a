// The pod-template-hash: FNV-1a (32 bit) of the template, written with Kubernetes' "safe" alphabet
// (no vowels, no look-alikes), so ReplicaSet and pod names look like a real cluster's.

const SAFE = 'bcdfghjklmnpqrstvwxz2456789';

/** JSON with object keys sorted, so equal templates hash equally whatever the key order. */
export function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function fnv32a(text: string): number {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(text, 'utf8')) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

export function safeEncode(n: number): string {
  return [...String(n)].map((c) => SAFE[c.charCodeAt(0) % SAFE.length] as string).join('');
}

/** Hash of a pod template, without any pod-template-hash label it may already carry. */
export function podTemplateHash(template: { metadata?: { labels?: Record<string, string> | undefined } | undefined; spec: unknown }, collisionCount = 0): string {
  const labels = { ...(template.metadata?.labels ?? {}) };
  delete labels['pod-template-hash'];
  const clean = { ...template, metadata: { ...(template.metadata ?? {}), labels } };
  const text = stableJson(clean) + (collisionCount > 0 ? String(collisionCount) : '');
  return safeEncode(fnv32a(text)).slice(0, 10);
}
