// The pod log subresource reads from a provider the kubelet supplies
// (https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/#read-log-of-the-specified-pod).

export type LogRequest = {
  namespace: string;
  pod: string;
  container: string;
  follow: boolean;
  previous: boolean;
  timestamps: boolean;
  tailLines: number | undefined;
  sinceSeconds: number | undefined;
  limitBytes: number | undefined;
  /** Aborted when the client goes away (ends a follow). */
  signal: AbortSignal;
};

/**
 * Returns the log text, or a stream of chunks for `follow`. Throwing an ApiError answers with
 * that status (e.g. 400 for a container that has not started).
 */
export type LogProvider = (request: LogRequest) => Promise<string> | AsyncIterable<string | Uint8Array>;
