// The real control plane's storage: every PersistentVolumeClaim gets a PersistentVolume made for
// it (a hostPath on the claim's directory, pre-bound through claimRef), which kube-controller-
// manager's binder then binds, as a dynamic provisioner does; until a claim is Bound,
// kube-scheduler does not place its pods. The kubelet mounts the same directory for the claim.
import type { Logger } from 'pino';
import { z } from 'zod';
import type { Informer } from '../../operator/src/kube/informer.ts';
import { ApiError, informer, type KubeClient, RESOURCES, runInformers } from '../kube/client.ts';
import { claimDir } from '../kubelet/volumes.ts';

const ClaimSchema = z.looseObject({
  metadata: z.looseObject({ name: z.string(), namespace: z.string(), uid: z.string() }),
  spec: z.looseObject({
    volumeName: z.string().optional(),
    storageClassName: z.string().nullish(),
    accessModes: z.array(z.string()).optional(),
    resources: z.looseObject({ requests: z.record(z.string(), z.string()).optional() }).optional(),
  }),
});
type Claim = z.infer<typeof ClaimSchema>;

/** The PersistentVolume made for a claim. Pure. */
export function volumeFor(claim: Claim, claimsDir: string): Record<string, unknown> {
  const { name, namespace, uid } = claim.metadata;
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: { name: `pvc-${uid}`, labels: { 'app.kubernetes.io/managed-by': 'imageops-sandbox' } },
    spec: {
      capacity: { storage: claim.spec.resources?.requests?.['storage'] ?? '1Gi' },
      accessModes: claim.spec.accessModes?.length ? claim.spec.accessModes : ['ReadWriteOnce'],
      persistentVolumeReclaimPolicy: 'Retain',
      storageClassName: claim.spec.storageClassName ?? '',
      claimRef: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespace, name, uid },
      hostPath: { path: claimDir(claimsDir, namespace, name), type: 'DirectoryOrCreate' },
    },
  };
}

export class Provisioner {
  readonly #informer: Informer<Claim>;
  #stop: (() => Promise<void>) | undefined;

  constructor(client: KubeClient, claimsDir: string, logger: Logger) {
    this.#informer = informer(client, RESOURCES.persistentvolumeclaims, ClaimSchema, logger);
    const provision = (claim: Claim): void => {
      if (claim.spec.volumeName) return;
      client.create(RESOURCES.persistentvolumes, undefined, volumeFor(claim, claimsDir)).catch((err: unknown) => {
        if (!(err instanceof ApiError && err.status === 409)) logger.warn({ claim: claim.metadata.name, err: String(err) }, 'provisioning failed');
      });
    };
    this.#informer.on({ add: provision, update: provision });
  }

  async start(): Promise<void> {
    this.#stop = await runInformers([this.#informer]);
  }

  async stop(): Promise<void> {
    await this.#stop?.();
  }
}
