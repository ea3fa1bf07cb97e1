import { constants } from 'node:os';

/**
 * SIGINT and SIGTERM as an AbortSignal for the length of a tuning run, so that the run can stop its
 * trials, mark them and say what was kept instead of dying mid-trial. The signal's reason is the
 * signal's name. Later signals go to `onRepeat` (none: ignored — a worker gets the terminal's Ctrl-C and
 * its parent's forwarded one, and must not take the second for "quit at once").
 */
export function abortOnSignals(opts: { onRepeat?: (signal: NodeJS.Signals) => void } = {}): {
  signal: AbortSignal;
  abort(reason: string): void;
  release(): void;
} {
  const controller = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (controller.signal.aborted) opts.onRepeat?.(sig);
    else controller.abort(sig);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: controller.signal,
    abort: (reason) => {
      if (!controller.signal.aborted) controller.abort(reason);
    },
    release: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/** The shell's exit code for a process stopped by `reason` (130 for SIGINT, 143 for SIGTERM); 1 for other reasons. */
export function interruptExitCode(reason: unknown): number {
  const n = typeof reason === 'string' ? constants.signals[reason as NodeJS.Signals] : undefined;
  return n === undefined ? 1 : 128 + n;
}

/** Why a run was interrupted, for messages and fail reasons: 'SIGINT', or the reason given to abort. */
export function interruptReason(signal: AbortSignal): string {
  return typeof signal.reason === 'string' ? signal.reason : 'an interrupt';
}

/** Thrown by an objective that stopped because its run was interrupted (not the trial's fault). */
export class Interrupted extends Error {
  override readonly name = 'Interrupted';
}
