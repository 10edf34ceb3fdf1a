// ImageServices as the operator reads them from the API (with a uid), for the builders' tests.
import { exampleImageServices } from '../api/examples.ts';
import { type ImageService, validateImageService } from '../api/image-service.ts';

export function asRead(obj: unknown, namespace = 'shop'): ImageService {
  const o = obj as { metadata: Record<string, unknown> };
  const r = validateImageService({ ...o, metadata: { ...o.metadata, namespace, uid: `uid-${String(o.metadata.name)}`, generation: 1 } });
  if (!r.ok) throw new Error(r.issues.map((i) => i.message).join('; '));
  return r.value;
}

/** examples/<file> -> its ImageService as read from the API. */
export function exampleFixtures(): Map<string, ImageService> {
  return new Map([...exampleImageServices()].map(([file, obj]) => [file, asRead(obj)]));
}
