// One error module for every layer (docs/architecture.md, "Errors"). Every error of ours extends LabError: a
// machine-readable `code` (the `error` event's code, too) and the exit code the CLI and the worker end with.
// `exitCodeOf` and `errorCodeOf` map any thrown value — ours, Node's errno errors, anything else — in one place.
//
// Exit codes (README): 0 success, 1 failure, 2 bad usage, bad config or bad data, 130 stopped by the user.

export type ErrorCode = 'bad-usage' | 'bad-config' | 'bad-data' | 'backend' | 'io' | 'nan-loss' | 'busy' | 'stopped' | 'network' | 'internal';

const EXIT_BY_CODE: Record<ErrorCode, number> = {
  'bad-usage': 2, 'bad-config': 2, 'bad-data': 2, backend: 2, io: 1, 'nan-loss': 1, busy: 1, stopped: 130, network: 1, internal: 1,
};

export class LabError extends Error {
  readonly code: ErrorCode;
  readonly exitCode: number;
  constructor(code: ErrorCode, message: string, options?: { exitCode?: number; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.exitCode = options?.exitCode ?? EXIT_BY_CODE[code];
  }
}

/** Bad input data (an image, a table, a weights file): exit 2. */
export class BadDataError extends LabError {
  constructor(message: string, options?: { cause?: unknown }) { super('bad-data', message, options); }
}

/** A command-line option with a malformed or out-of-range value (src/cli/args.ts checks every number): exit 2. */
export class BadOptionError extends LabError {
  /** The option as written, e.g. `--classes` or `-k`. */
  readonly option: string;
  constructor(option: string, message: string) { super('bad-usage', message); this.option = option; }
}

const IO_ERRNOS = new Set(['ENOSPC', 'EACCES', 'EROFS', 'EIO', 'EDQUOT', 'EPERM']);

/** The error code for any thrown value: ours carry one; Node's errno errors on files are `io`. */
export function errorCodeOf(err: unknown): ErrorCode {
  if (err instanceof LabError) return err.code;
  const legacy = (err as { exitCode?: unknown } | null)?.exitCode;
  if (legacy === 2) return 'bad-data';
  const errno = (err as NodeJS.ErrnoException | null)?.code;
  if (typeof errno === 'string' && IO_ERRNOS.has(errno)) return 'io';
  return 'internal';
}

/** The exit code for any thrown value. */
export function exitCodeOf(err: unknown): number {
  if (err instanceof LabError) return err.exitCode;
  const legacy = (err as { exitCode?: unknown } | null)?.exitCode;
  if (typeof legacy === 'number') return legacy;
  return EXIT_BY_CODE[errorCodeOf(err)];
}

/** A one-line message for a person: ours as they are, a full disk said in words. */
export function messageOf(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return (err as NodeJS.ErrnoException | null)?.code === 'ENOSPC' && !/disk full/.test(message) ? `disk full: ${message}` : message;
}
