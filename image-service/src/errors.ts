/**
 * The service's one error type: every failure a client can cause becomes an HttpError with a
 * status, a stable machine-readable code and a message a user can act on. Anything else that
 * escapes is a bug and is answered with a generic 500 (never a stack trace).
 */
export class HttpError extends Error {
  readonly status: number;
  readonly code: string;
  readonly headers: Readonly<Record<string, string>>;

  constructor(status: number, code: string, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.name = 'HttpError';
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}

/** The JSON body of every error answer: `{"error": {"code", "message"}}`. */
export function errorBody(err: HttpError): string {
  return JSON.stringify({ error: { code: err.code, message: err.message } });
}
