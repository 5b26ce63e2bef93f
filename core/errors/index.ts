/**
 * Typed errors for the whole engine.
 *
 * Every error a user can cause or meet (bad config, a locked home, a full disk, a corrupt
 * chunk) is a CanopyError with a stable `code`. The CLI prints `message` as one line and
 * exits non-zero; the API sends `{ code, message }`; anything that is not a CanopyError is
 * a bug and is reported with its stack.
 */

export type ErrorCode =
  | 'BAD_CONFIG'
  | 'BAD_ARGUMENT'
  | 'NOT_INITIALIZED'
  | 'ALREADY_INITIALIZED'
  | 'HOME_LOCKED'
  | 'DAEMON_UNREACHABLE'
  | 'BAD_DATABASE'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'CORRUPT_CHUNK'
  | 'QUOTA_EXCEEDED'
  | 'DISK_FULL'
  | 'IO_ERROR'
  | 'UNAUTHORIZED'
  | 'UNSTABLE_FILE'
  | 'BAD_PATH'
  | 'NOT_IMPLEMENTED';

export class CanopyError extends Error {
  readonly code: ErrorCode;
  /** Extra machine-readable facts (a path, a hash, a limit); never secrets. */
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CanopyError';
    this.code = code;
    this.details = details;
  }

  toJSON(): { code: ErrorCode; message: string; details?: Record<string, unknown> } {
    return this.details ? { code: this.code, message: this.message, details: this.details } : { code: this.code, message: this.message };
  }
}

export function isCanopyError(err: unknown, code?: ErrorCode): err is CanopyError {
  return err instanceof CanopyError && (code === undefined || err.code === code);
}

/** The errno code of a Node system error, if it is one. */
export function errnoCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = (err as { code: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

/** Turns a Node fs error into a CanopyError with a message a person can act on. */
export function fromFsError(err: unknown, what: string, path: string): CanopyError {
  const code = errnoCode(err);
  switch (code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return new CanopyError('DISK_FULL', `disk full while ${what} ${path}`, { path }, { cause: err });
    case 'EACCES':
    case 'EPERM':
      return new CanopyError('IO_ERROR', `permission denied while ${what} ${path}`, { path, errno: code }, { cause: err });
    case 'ENOENT':
      return new CanopyError('NOT_FOUND', `${path} does not exist (while ${what})`, { path }, { cause: err });
    default:
      return new CanopyError('IO_ERROR', `${what} ${path} failed: ${err instanceof Error ? err.message : String(err)}`, { path, errno: code }, { cause: err });
  }
}
