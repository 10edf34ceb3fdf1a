// The output check of a service with signed URLs signs its sample URLs as users' are signed: with
// the first key of the Secret that spec.serving.signingKeysSecret names (key `keys`), read from
// the ImageService's own namespace at every check and held for that check only. The key is never
// put in a message: failures name the Secret and its key, not what they hold.
import { z } from 'zod';
import { parseSigningKeys } from '../../../image-service/src/signing.ts';
import { SIGNING_KEYS_KEY } from '../build/pod-template.ts';
import { type KubeClient, resources } from '../kube/client.ts';
import { ApiError, NotFoundError } from '../kube/errors.ts';
import { AnalysisError } from './providers/provider.ts';

/** The first signing key of Secret `namespace/secret`, or an AnalysisError naming the Secret. */
export type SigningKeySource = (namespace: string, secret: string, signal: AbortSignal) => Promise<string>;

// What the API server sends: `data` values are base64 (stringData is write-only).
const SecretData = z.looseObject({ data: z.record(z.string(), z.base64()).nullish() });

function named(namespace: string, secret: string): string {
  return `Secret ${namespace}/${secret} (serving.signingKeysSecret)`;
}

/** The key that signs, from a Secret as the API server answers it: the service's rule (the first of the comma-separated keys). */
export function firstSigningKey(object: unknown, namespace: string, secret: string): string {
  const parsed = SecretData.safeParse(object);
  if (!parsed.success) throw new AnalysisError('configuration', `${named(namespace, secret)}: data that is not base64`);
  const encoded = parsed.data.data?.[SIGNING_KEYS_KEY];
  if (encoded === undefined) throw new AnalysisError('configuration', `${named(namespace, secret)} has no key "${SIGNING_KEYS_KEY}"`);
  const [key] = parseSigningKeys(Buffer.from(encoded, 'base64').toString('utf8'));
  if (key === undefined) throw new AnalysisError('configuration', `${named(namespace, secret)}: key "${SIGNING_KEYS_KEY}" holds no signing key`);
  return key;
}

/** A SigningKeySource reading the Secret through the API server. */
export function kubeSigningKey(client: Pick<KubeClient, 'get'>): SigningKeySource {
  return async (namespace, secret, signal) => {
    let object: unknown;
    try {
      object = await client.get(resources.secrets, namespace, secret, signal);
    } catch (error) {
      if (signal.aborted || !(error instanceof ApiError)) throw error;
      const why =
        error instanceof NotFoundError
          ? 'not found'
          : error.status === 403
            ? 'could not be read: the operator may not get it (RBAC: get on secrets)'
            : `could not be read: ${error.status === 0 ? error.message : `HTTP ${error.status} ${error.reason}`}`;
      throw new AnalysisError('configuration', `${named(namespace, secret)} ${why}`);
    }
    return firstSigningKey(object, namespace, secret);
  };
}
