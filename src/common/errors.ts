/**
 * One error type for all of berth, with a closed set of stable codes.
 * Codes are part of the public API: never rename one.
 */
export const ERROR_CODES = [
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'CONFLICT',
  'INVALID_ARGUMENT',
  'FAILED_PRECONDITION',
  'PERMISSION_DENIED',
  'UNAVAILABLE',
  'NOT_IMPLEMENTED',
  'CANCELED',
  'INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export interface BerthErrorOptions {
  cause?: unknown;
  hint?: string;
}

export class BerthError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, options: BerthErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BerthError';
    this.code = code;
    this.hint = options.hint;
  }
}

/** A failure at one syscall of the container set-up, reported once where it happened. */
export class SyscallError extends BerthError {
  readonly stage: string;
  readonly op: string;
  readonly errno: number;
  readonly errnoName: string;
  readonly path: string | undefined;

  constructor(info: { stage: string; op: string; errno: number; errnoName: string; path?: string | undefined; message?: string; hint?: string }) {
    const what = info.path ? `${info.op} ${JSON.stringify(info.path)}` : info.op;
    super(
      info.errno === 0 && info.message ? 'INTERNAL' : codeForErrno(info.errnoName),
      info.message ?? `${info.stage}: ${what}: ${describeErrno(info.errnoName)}`,
      info.hint === undefined ? {} : { hint: info.hint },
    );
    this.name = 'SyscallError';
    this.stage = info.stage;
    this.op = info.op;
    this.errno = info.errno;
    this.errnoName = info.errnoName;
    this.path = info.path;
  }
}

/** A registry answered with an error status. */
export class RegistryError extends BerthError {
  readonly status: number;
  readonly url: string;

  constructor(code: ErrorCode, message: string, info: { status: number; url: string }, options: BerthErrorOptions = {}) {
    super(code, message, options);
    this.name = 'RegistryError';
    this.status = info.status;
    this.url = info.url;
  }
}

const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EEXIST: 'file exists',
  ENOTDIR: 'not a directory',
  EISDIR: 'is a directory',
  EINVAL: 'invalid argument',
  EBUSY: 'device or resource busy',
  ENOEXEC: 'exec format error',
  ELOOP: 'too many levels of symbolic links',
  EXDEV: 'path escapes the container root',
  ENOSPC: 'no space left on device',
  ENOMEM: 'cannot allocate memory',
  ESRCH: 'no such process',
  ETIMEDOUT: 'timed out',
  ENOSYS: 'function not implemented',
  EROFS: 'read-only file system',
};

export function describeErrno(name: string): string {
  return ERRNO_TEXT[name] ?? name.toLowerCase();
}

function codeForErrno(name: string): ErrorCode {
  switch (name) {
    case 'ENOENT':
      return 'NOT_FOUND';
    case 'EACCES':
    case 'EPERM':
      return 'PERMISSION_DENIED';
    case 'EEXIST':
      return 'ALREADY_EXISTS';
    case 'EINVAL':
    case 'ENOTDIR':
    case 'EISDIR':
    case 'ELOOP':
    case 'EXDEV':
      return 'INVALID_ARGUMENT';
    case 'EBUSY':
      return 'CONFLICT';
    default:
      return 'INTERNAL';
  }
}

/** True when `err` is a Node system error with the given errno code (e.g. 'ENOENT'). */
export function isErrno(err: unknown, ...codes: string[]): err is NodeJS.ErrnoException {
  return typeof err === 'object' && err !== null && codes.includes((err as NodeJS.ErrnoException).code ?? '');
}
