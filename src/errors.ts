/**
 * The one error type of Airlock. Every failure the product reports carries a stable `code`; the
 * message is safe to show the person at the other end (no secrets, no internals) and says what to
 * do. The HTTP layer and the CLI map codes to status and exit codes at the edge (see `httpStatus`).
 */
export type ErrorCode =
  | 'bad_request'
  | 'invalid_key'
  | 'weak_key'
  | 'invalid_certificate'
  | 'unauthenticated'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'quota_exceeded'
  | 'throttled'
  | 'disabled'
  | 'unavailable'
  | 'config'
  | 'internal';

const STATUS: Record<ErrorCode, number> = {
  bad_request: 400,
  invalid_key: 400,
  weak_key: 400,
  invalid_certificate: 400,
  unauthenticated: 401,
  forbidden: 403,
  disabled: 403,
  not_found: 404,
  conflict: 409,
  quota_exceeded: 429,
  throttled: 429,
  unavailable: 503,
  config: 500,
  internal: 500,
};

/** An error with a stable code and a message fit for the user; `details` are safe, structured extras. */
export class AirlockError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AirlockError';
    this.code = code;
    this.details = options?.details;
  }
}

/** The HTTP status for an error code. */
export function httpStatus(code: ErrorCode): number {
  return STATUS[code];
}

/** Whether a value is an AirlockError (optionally with the given code). */
export function isAirlockError(err: unknown, code?: ErrorCode): err is AirlockError {
  return err instanceof AirlockError && (code === undefined || err.code === code);
}
