/**
 * Kubernetes API failures as typed exceptions, so callers branch on a class, not on numbers:
 * 404 NotFound, 409 Conflict (stale resourceVersion or AlreadyExists), 410 Gone (watch history
 * expired: relist), 422 Invalid, 429 TooManyRequests (with the server's Retry-After).
 */
export class ApiError extends Error {
  readonly status: number;
  readonly reason: string;
  /** Seconds the server asked us to wait (Retry-After), when it said. */
  readonly retryAfterSeconds: number | undefined;

  constructor(status: number, reason: string, message: string, retryAfterSeconds?: number) {
    super(message);
    this.name = new.target.name;
    this.status = status;
    this.reason = reason;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export class NotFoundError extends ApiError {}
export class ConflictError extends ApiError {
  /** 409 AlreadyExists (a create) rather than a stale resourceVersion (an update). */
  get alreadyExists(): boolean {
    return this.reason === 'AlreadyExists';
  }
}
export class GoneError extends ApiError {}
export class InvalidError extends ApiError {}
export class TooManyRequestsError extends ApiError {}

/** The API server cannot be reached or did not answer in time. */
export class TransportError extends ApiError {}

export function apiError(status: number, body: unknown, retryAfter: string | null): ApiError {
  const b = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
  const reason = typeof b['reason'] === 'string' ? b['reason'] : '';
  const message = typeof b['message'] === 'string' ? b['message'] : `HTTP ${status}`;
  const retry = parseRetryAfter(retryAfter);
  switch (status) {
    case 404:
      return new NotFoundError(status, reason || 'NotFound', message, retry);
    case 409:
      return new ConflictError(status, reason || 'Conflict', message, retry);
    case 410:
      return new GoneError(status, reason || 'Expired', message, retry);
    case 422:
      return new InvalidError(status, reason || 'Invalid', message, retry);
    case 429:
      return new TooManyRequestsError(status, reason || 'TooManyRequests', message, retry ?? 1);
    default:
      return new ApiError(status, reason || 'InternalError', message, retry);
  }
}

function parseRetryAfter(value: string | null): number | undefined {
  if (value === null) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, (date - Date.now()) / 1000);
}
