import { spawn } from 'node:child_process';
import { badInput, HoneError } from '../../errors.js';
import type { Io } from '../command.js';
import { parseFlags, numberFlag } from '../command.js';
import { openStorage } from '../../tune/storage/open.js';
import type { Storage } from '../../tune/storage/storage.js';
import type { TuneConfig } from './config.js';
import { makeObjective } from './objective.js';
import { abortOnSignals, interruptExitCode, interruptReason } from './interrupt.js';
import { runWorker } from './worker.js';
import { nodeScriptArgs } from '../../util/worker.js';

/** The study system attribute that holds the resolved config: workers and `--resume` read it. */
export const CONFIG_ATTR = 'hone_tune_config';

export interface WorkerExit {
  index: number;
  pid: number | undefined;
  code: number | null;
  signal: NodeJS.Signals | null;
  stderrTail: string;
}

/** How long interrupted workers get to stop their commands and mark their trials before SIGKILL. */
const WORKER_STOP_MS = 15_000;

/**
 * Starts `count` worker processes on a shared storage (SQLite or PostgreSQL) and resolves when all
 * have exited. Each is a small Node process running only the tuner (not the whole CLI), so it starts fast.
 *
 * No worker outlives this process: when `signal` aborts, each worker gets the same signal (SIGKILL if it
 * has not exited WORKER_STOP_MS later), and each worker also watches its IPC channel to this process, so
 * it stops the same way when this process dies without a chance to tell it (SIGKILL, a crash).
 */
export function spawnWorkers(
  storageUrl: string,
  study: string,
  count: number,
  deadline: number,
  signal?: AbortSignal,
): Promise<WorkerExit[]> {
  if (signal?.aborted) return Promise.resolve([]);
  const entry = nodeScriptArgs(import.meta.url, 'worker-entry');
  const children = Array.from({ length: count }, (_, index) => {
    const args = [...entry, '--storage', storageUrl, '--study', study, '--worker-index', String(index)];
    if (Number.isFinite(deadline)) args.push('--deadline', String(deadline));
    return spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  });
  const running = () => children.filter((c) => c.exitCode === null && c.signalCode === null);
  let killTimer: NodeJS.Timeout | undefined;
  const onAbort = () => {
    const sig = typeof signal!.reason === 'string' && signal!.reason.startsWith('SIG') ? (signal!.reason as NodeJS.Signals) : 'SIGTERM';
    for (const c of running()) c.kill(sig);
    killTimer = setTimeout(() => {
      for (const c of running()) c.kill('SIGKILL');
    }, WORKER_STOP_MS);
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  return Promise.all(
    children.map(
      (child, index) =>
        new Promise<WorkerExit>((resolve) => {
          let stderrTail = '';
          child.stderr!.setEncoding('utf8');
          child.stderr!.on('data', (d: string) => (stderrTail = (stderrTail + d).slice(-4000)));
          child.on('error', (e) => {
            stderrTail += `hone: could not start a worker: ${e.message}\n`;
          });
          child.on('close', (code, sig) => resolve({ index, pid: child.pid, code, signal: sig, stderrTail }));
        }),
    ),
  ).finally(() => {
    signal?.removeEventListener('abort', onAbort);
    if (killTimer) clearTimeout(killTimer);
  });
}

/** `hone tune-worker`: one worker of an existing study (start more on other machines with PostgreSQL). */
export async function tuneWorkerMain(argv: string[], io: Io): Promise<number> {
  const { values } = parseFlags(
    'tune-worker',
    argv,
    {
      storage: { type: 'string' },
      study: { type: 'string' },
      'worker-index': { type: 'string' },
      deadline: { type: 'string' },
    },
    false,
  );
  if (!values.storage || !values.study) throw badInput("tune-worker needs --storage URL and --study NAME; see 'hone tune-worker --help'");
  const interrupt = abortOnSignals();
  // Started by hone tune (an IPC channel to it): stop when it is gone, whatever killed it. The channel
  // must not keep this process alive once the work is done.
  const parentGone = () => interrupt.abort('the end of the hone tune process that started this worker');
  if (process.send !== undefined) {
    process.channel?.unref();
    if (process.connected) process.once('disconnect', parentGone);
    else parentGone();
  }
  const storage = await openStorage(values.storage);
  try {
    const config = await storedConfig(storage, values.study);
    const { finished, interrupted } = await runWorker({
      storage,
      config,
      objective: makeObjective(config, interrupt.signal),
      workerIndex: numberFlag(values['worker-index'], '--worker-index', { int: true, min: 0 }) ?? process.pid,
      deadline: numberFlag(values.deadline, '--deadline', { min: 0 }) ?? deadlineFrom(config),
      signal: interrupt.signal,
    });
    if (!interrupt.signal.aborted) {
      io.stderr(`hone tune-worker: ${finished} trials finished\n`);
      return 0;
    }
    io.stderr(
      `hone tune-worker: interrupted (${interruptReason(interrupt.signal)}) after ${finished} trials; ${interrupted} running trial(s) re-queued\n`,
    );
    return interruptExitCode(interrupt.signal.reason);
  } finally {
    interrupt.release();
    process.off('disconnect', parentGone);
    await storage.close();
  }
}

/** The config `hone tune` stored with the study. */
export async function storedConfig(storage: Storage, study: string): Promise<TuneConfig> {
  const id = await storage.getStudyId(study);
  if (id === undefined) throw badInput(`no study '${study}' in this storage; check the name with 'hone study list --storage …'`);
  const config = (await storage.getStudy(id)).systemAttrs[CONFIG_ATTR] as TuneConfig | undefined;
  if (!config) throw badInput(`study '${study}' was not created by 'hone tune' (it has no stored config); run it from its own program`);
  return config;
}

export function deadlineFrom(config: TuneConfig): number {
  return config.timeoutS === undefined ? Number.POSITIVE_INFINITY : Date.now() + config.timeoutS * 1000;
}

/**
 * Turns the exits of worker processes into an error, if one deserves it (a killed worker does not: others
 * carry on; after an interrupt, neither does a worker that exited as interrupted).
 */
export function checkWorkerExits(exits: WorkerExit[], interrupted = false): string[] {
  const warnings: string[] = [];
  for (const e of exits) {
    if (interrupted && e.code !== null && e.code > 128) continue;
    if (e.signal !== null) {
      warnings.push(
        `worker ${e.index} (pid ${e.pid}) was killed by ${e.signal}; its running trial is failed once its heartbeat grace passes`,
      );
    } else if (e.code !== 0) {
      const line = e.stderrTail
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('hone:'))
        .pop();
      const message = (line ?? e.stderrTail.trim().split('\n').pop() ?? `exit code ${e.code}`).replace(/^hone: /, '');
      throw new HoneError(`worker ${e.index} failed: ${message}`, e.code === 2 ? 2 : 1);
    }
  }
  return warnings;
}
