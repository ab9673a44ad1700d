// What can go wrong in the CLI and how each kind is reported: one line on stderr and an
// exit code (2: the command line is wrong, 1: the operation failed, 130: interrupted).

/** The command line itself is wrong: bad argument, unknown option, bad size. Exit 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  readonly exitCode = 2;
}

/** The operation failed for a reason the user can act on (no such vault, file exists…). Exit 1. */
export class CliError extends Error {
  override readonly name = 'CliError';
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.exitCode = exitCode;
  }
}

export interface Failure {
  /** The line to print after `oascmd: `. */
  message: string;
  exitCode: number;
  /** Machine-readable fields for --json. */
  json: Record<string, unknown>;
}

function isCommanderError(e: unknown): e is Error & { code: string; exitCode: number } {
  return e instanceof Error && typeof (e as { code?: unknown }).code === 'string'
    && ((e as unknown as { code: string }).code).startsWith('commander.');
}

function isOASError(e: unknown): e is Error & { status: number; code: string; type: string; requestId?: string; describe(): string } {
  return e instanceof Error && e.name === 'OASError' && typeof (e as { describe?: unknown }).describe === 'function';
}

/** True for the errors an AbortSignal produces (ours, node's, the SDK's). */
export function isAbort(e: unknown): boolean {
  return e instanceof Error && (e.name === 'AbortError' || (e as { code?: unknown }).code === 'ABORT_ERR');
}

const FS_MESSAGES: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EISDIR: 'is a directory',
  ENOTDIR: 'not a directory',
  EEXIST: 'already exists',
  ENOSPC: 'no space left on device',
};

/** Classifies anything thrown into the one line and exit code to report. */
export function describeFailure(e: unknown): Failure {
  if (isCommanderError(e)) {
    // commander's own wording, minus its "error: " prefix, on one line.
    const message = e.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ').trim();
    return { message, exitCode: e.exitCode === 0 ? 0 : 2, json: { code: 'UsageError', message } };
  }
  if (e instanceof UsageError || e instanceof CliError) {
    return { message: e.message, exitCode: e.exitCode, json: { code: e.name, message: e.message } };
  }
  if (isOASError(e)) {
    return {
      message: e.describe(),
      exitCode: 1,
      json: { code: e.code, message: e.message, status: e.status, type: e.type, requestId: e.requestId ?? null },
    };
  }
  if (isAbort(e)) return { message: 'interrupted', exitCode: 130, json: { code: 'Interrupted', message: 'interrupted' } };
  if (e instanceof Error) {
    const err = e as NodeJS.ErrnoException;
    if (err.code && err.syscall && err.path !== undefined && FS_MESSAGES[err.code]) {
      const message = `${err.path}: ${FS_MESSAGES[err.code]}`;
      return { message, exitCode: 1, json: { code: err.code, message } };
    }
    const code = typeof err.code === 'string' ? err.code : e.name;
    return { message: e.message || e.name, exitCode: 1, json: { code, message: e.message } };
  }
  return { message: String(e), exitCode: 1, json: { code: 'Error', message: String(e) } };
}
