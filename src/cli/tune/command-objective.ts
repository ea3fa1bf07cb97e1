import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { errorMessage } from '../../errors.js';
import { writeFileAtomic } from '../../util/fs.js';
import { TrialPruned, type Trial } from '../../tune/trial.js';
import type { Distribution, ParamValue } from '../../tune/types.js';
import { paramEnvName } from './config.js';
import { Interrupted, interruptReason } from './interrupt.js';

/**
 * An objective that runs a command, in any language. The protocol (also in `hone tune --help`):
 *
 * In:  each parameter as env var HONE_PARAM_<NAME> (upper-cased, other characters → _; strings as they
 *      are, anything else as JSON), all of them as a JSON object in the file named by HONE_PARAMS_FILE,
 *      plus HONE_TRIAL_NUMBER and HONE_STUDY.
 * Out: JSON lines on stdout (other lines are ignored):
 *        {"step": 3, "value": 0.51}     an intermediate value → trial.report; the pruner may stop the trial
 *        {"value": 0.42}                the result (the last one printed wins)
 *        {"values": [0.42, 17]}         the results of a multi-objective study
 *        {"attrs": {"epochs": 3}}       user attributes stored with the trial
 * Pruned: Hone sends SIGTERM to the command's process group (SIGKILL 5 s later if it is still there);
 *         a command that wants to save work catches SIGTERM. The trial ends 'pruned'.
 * Fails:  a non-zero exit, a signal, a per-trial timeout, or no value line fail the trial (the study goes
 *         on); exit_code / signal and the tail of stderr and stdout are kept in its systemAttrs.
 * Interrupted: when `signal` aborts (hone tune got SIGINT/SIGTERM), the command is stopped as when pruned
 *         and the objective rejects with `Interrupted`, for the worker to mark the trial.
 */
export interface CommandSpec {
  command: string;
  cwd: string;
  env: Record<string, string>;
  timeoutS?: number;
}

const TAIL_CHARS = 4000;
const KILL_AFTER_MS = 5000;

export function commandObjective(spec: CommandSpec, space: Record<string, Distribution>, studyName: string, signal?: AbortSignal) {
  return async (trial: Trial): Promise<number | number[]> => {
    const params: Record<string, ParamValue> = {};
    for (const [name, d] of Object.entries(space)) params[name] = trial.suggest(name, d);
    // The parameters reach the storage before the command starts: if this worker dies mid-command, the
    // trial's retry runs the same configuration.
    await trial.flush();
    if (signal?.aborted) throw new Interrupted(`not started: ${interruptReason(signal)}`);
    const paramsFile = join(tmpdir(), `hone-params-${process.pid}-${trial.number}-${Math.random().toString(36).slice(2)}.json`);
    writeFileAtomic(paramsFile, JSON.stringify(params));
    try {
      return await runCommand(spec, trial, signal, {
        ...Object.fromEntries(Object.entries(params).map(([k, v]) => [paramEnvName(k), typeof v === 'string' ? v : JSON.stringify(v)])),
        HONE_PARAMS_FILE: paramsFile,
        HONE_TRIAL_NUMBER: String(trial.number),
        HONE_STUDY: studyName,
      });
    } finally {
      rmSync(paramsFile, { force: true });
    }
  };
}

function runCommand(
  spec: CommandSpec,
  trial: Trial,
  interrupt: AbortSignal | undefined,
  honeEnv: Record<string, string>,
): Promise<number | number[]> {
  return new Promise((resolvePromise, reject) => {
    watchExit();
    // Its own process group, so SIGTERM reaches the program behind the shell too.
    const child = spawn(spec.command, {
      shell: true,
      cwd: spec.cwd,
      env: { ...process.env, ...spec.env, ...honeEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let result: number | number[] | undefined;
    let stopping: 'pruned' | 'timeout' | 'protocol' | 'interrupted' | undefined;
    let protocolError = '';
    let stderrTail = '';
    let stdoutTail = '';
    let killTimer: NodeJS.Timeout | undefined;
    if (child.pid !== undefined) trackGroup(child.pid, honeEnv.HONE_PARAMS_FILE);
    else if (liveGroups.size === 0) removeExitHandler();

    const stop = (why: NonNullable<typeof stopping>) => {
      if (stopping) return;
      stopping = why;
      signalGroup(child.pid, 'SIGTERM');
      killTimer = setTimeout(() => signalGroup(child.pid, 'SIGKILL'), KILL_AFTER_MS);
      killTimer.unref();
    };
    const timeout = spec.timeoutS !== undefined ? setTimeout(() => stop('timeout'), spec.timeoutS * 1000) : undefined;
    const onAbort = () => stop('interrupted');
    interrupt?.addEventListener('abort', onAbort, { once: true });

    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => (stderrTail = (stderrTail + d).slice(-TAIL_CHARS)));
    const lines = createInterface({ input: child.stdout, crlfDelay: Infinity });
    lines.on('line', (line) => {
      stdoutTail = `${stdoutTail + line}\n`.slice(-TAIL_CHARS);
      if (stopping) return;
      const msg = parseLine(line);
      if (!msg) return;
      // A line the study rejects (a report in a multi-objective study, a bad step) stops the command and
      // fails this trial; thrown from here it would take the whole worker down.
      try {
        if (typeof msg.step === 'number' && typeof msg.value === 'number') {
          trial.report(msg.value, msg.step);
          if (trial.shouldPrune()) stop('pruned');
          return;
        }
        if (typeof msg.value === 'number') result = msg.value;
        else if (Array.isArray(msg.values) && msg.values.every((x) => typeof x === 'number')) result = msg.values as number[];
        if (typeof msg.attrs === 'object' && msg.attrs !== null && !Array.isArray(msg.attrs)) {
          for (const [k, v] of Object.entries(msg.attrs)) trial.setUserAttr(k, v);
        }
      } catch (e) {
        protocolError = `${errorMessage(e)} (line: ${line.trim().slice(0, 200)})`;
        stop('protocol');
      }
    });

    child.on('error', (e) => {
      if (child.pid !== undefined) untrackGroup(child.pid);
      if (timeout) clearTimeout(timeout);
      interrupt?.removeEventListener('abort', onAbort);
      trial.setSystemAttr('fail_reason', `could not start '${spec.command}': ${e.message}`);
      reject(new Error(`could not start '${spec.command}': ${e.message}`));
    });
    // 'close' (not 'exit'): stdout is fully read, so the last value line is not lost.
    child.on('close', (code, signal) => {
      if (child.pid !== undefined) untrackGroup(child.pid);
      if (timeout) clearTimeout(timeout);
      if (killTimer) clearTimeout(killTimer);
      interrupt?.removeEventListener('abort', onAbort);
      if (stopping === 'pruned') return reject(new TrialPruned(`pruned at step ${lastStep(trial)}`));
      if (stopping === 'interrupted') return reject(new Interrupted(`'${spec.command}' was stopped: ${interruptReason(interrupt!)}`));
      const keep = (why: string) => {
        if (code !== null) trial.setSystemAttr('exit_code', code);
        if (signal !== null) trial.setSystemAttr('signal', signal);
        trial.setSystemAttr('stderr_tail', stderrTail);
        trial.setSystemAttr('stdout_tail', stdoutTail);
        reject(new Error(why));
      };
      if (stopping === 'protocol') return keep(`'${spec.command}' printed a line Hone cannot use: ${protocolError}`);
      if (stopping === 'timeout') return keep(`'${spec.command}' ran past its ${spec.timeoutS} s timeout and was stopped`);
      if (signal !== null) return keep(`'${spec.command}' was killed by ${signal}`);
      if (code !== 0) return keep(`'${spec.command}' exited with code ${code}${stderrTail ? `: ${lastLine(stderrTail)}` : ''}`);
      if (result === undefined) return keep(`'${spec.command}' printed no {"value": …} line on stdout`);
      resolvePromise(result);
    });
  });
}

function parseLine(line: string): Record<string, unknown> | undefined {
  const s = line.trim();
  if (!s.startsWith('{')) return undefined;
  try {
    const v = JSON.parse(s) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Commands run in their own process group (so that pruning reaches the program behind the shell), which
 * also means Ctrl-C on `hone tune` does not reach them: hone tune aborts `signal` instead. Should this
 * process exit while any command runs (an error, or `process.exit` on a second Ctrl-C), the commands are
 * stopped and their params files removed on the way out.
 */
const liveGroups = new Map<number, string | undefined>();

let watching = false;

function watchExit(): void {
  if (watching) return;
  watching = true;
  process.on('exit', stopAll);
}

function trackGroup(pid: number, paramsFile: string | undefined): void {
  liveGroups.set(pid, paramsFile);
}

function untrackGroup(pid: number): void {
  liveGroups.delete(pid);
  if (liveGroups.size === 0) removeExitHandler();
}

function removeExitHandler(): void {
  watching = false;
  process.off('exit', stopAll);
}

function stopAll(): void {
  for (const [pid, paramsFile] of liveGroups) {
    signalGroup(pid, 'SIGTERM');
    if (paramsFile) rmSync(paramsFile, { force: true });
  }
}

function signalGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

function lastLine(text: string): string {
  const lines = text.trim().split('\n');
  return lines[lines.length - 1]!.slice(0, 300);
}

function lastStep(trial: Trial): string {
  const steps = Object.keys(trial.snapshot().intermediateValues).map(Number);
  return steps.length ? String(Math.max(...steps)) : '?';
}
