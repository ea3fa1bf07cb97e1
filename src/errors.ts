/**
 * Errors a user can act on. The CLI prints `hone: <message>` and exits with `exitCode` (2 = bad input);
 * anything that is not a HoneError is an internal error (exit 1).
 */
export class HoneError extends Error {
  override readonly name = 'HoneError';
  constructor(
    message: string,
    readonly exitCode: 1 | 2 = 2,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Bad input: what was wrong, where, and what to do about it, in one line. */
export function badInput(message: string, cause?: unknown): HoneError {
  return new HoneError(message, 2, cause === undefined ? undefined : { cause });
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
