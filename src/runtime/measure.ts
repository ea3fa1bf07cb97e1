/**
 * Measuring a model in a worker thread. ORT's `run()` blocks the thread it is called on for the whole
 * inference, so timing runs happen in a worker: the caller's event loop stays free (progress output,
 * servers), and each measurement starts from a fresh thread with its own session.
 */
import type { Int8Speedups } from './int8-kernels.js';
import type { SessionOpts } from './session.js';
import type { ConcreteInput, InputValue } from './inputs.js';
import type { LatencyStats } from './stats.js';
import type { TraceSummary } from './trace.js';
import { HoneError } from '../errors.js';
import type { Worker } from 'node:worker_threads';
import { spawnWorker } from '../util/worker.js';

export interface MeasureOpts {
  session?: SessionOpts;
  /** The model's inputs with concrete shapes (see `resolveInputs`); random feeds are made from them. */
  inputs: ConcreteInput[];
  /** Values fed instead of random data (`--input`), by input name. */
  values?: Record<string, InputValue>;
  /** Untimed runs first (default 3): the first runs allocate arenas and warm caches. */
  warmup?: number;
  /** Timed runs per round (default 20). */
  runs?: number;
  /**
   * Extra time allowed when the runs are noisy (default 0: one round). While the runs so far are noisy
   * (`isNoisy`), another round of `runs` is taken, until `maxRounds` or this many milliseconds after
   * the first timed run; `latencyMs.floor` is then the least of the rounds' medians.
   */
  budgetMs?: number;
  /** Most rounds of `runs` (default 8). */
  maxRounds?: number;
  /** Runs of a second, profiling session for per-op times (default 0 = no trace; up to 3x that when noisy). */
  profileRuns?: number;
  /** Seed of the random feeds (default 0). */
  seed?: number;
  /** Integer feeds are drawn from [0, intHigh) (default 2). */
  intHigh?: number;
  /** Give `modelBytes`' buffer to the worker instead of copying it (the caller's view is detached). */
  transfer?: boolean;
}

export interface MemoryMeasurement {
  /** Resident set size before the session was created, bytes. */
  baselineRssBytes: number;
  /** RSS growth once the session was created (model, weights, initial arena), bytes. */
  sessionBytes: number;
  /** Peak RSS growth over session creation and all runs, bytes: Hone's "peak memory". */
  peakBytes: number;
}

export interface Measurement {
  latencyMs: LatencyStats;
  sessionCreateMs: number;
  memory: MemoryMeasurement;
  /** Per-op times from an ORT profiling session, when `profileRuns` > 0. */
  trace?: TraceSummary;
  /** Wall time of each traced run as the caller sees it (binding included), in the trace's run order. */
  traceWallMs?: number[];
}

export interface MachinePeaks {
  /** Best fp32 MatMul rate measured through ORT, FLOP/s. */
  flops: number;
  /** Best streaming read rate from memory measured through ORT, bytes per second. */
  bandwidth: number;
  /** Best read rate of a cache-resident tensor of `cacheBytes` bytes, bytes per second. */
  cacheBandwidth: number;
  cacheBytes: number;
  /** ORT version, CPU model and thread setting the numbers were measured with. */
  key: string;
  /** When they were measured (ms since the epoch), so that old figures are measured again. */
  measuredAt?: number;
  /** What the quick probe measured right after these figures: later probes are compared with it (see peaks.ts). */
  probe?: { flops: number; cacheBandwidth: number };
  /** int8 kernels' speedup over fp32 by op size (int8-kernels.ts), for the int8 advice. */
  int8?: Int8Speedups;
}

/** Jobs a measurement worker understands (see measure-worker.ts). */
export type WorkerJob =
  | ({ kind: 'measure'; model: Uint8Array | string } & Omit<MeasureOpts, 'transfer'>)
  | { kind: 'peaks'; session?: SessionOpts; key: string };

export type WorkerReply = { ok: true; result: Measurement | MachinePeaks } | { ok: false; message: string; exitCode?: 1 | 2 };

/**
 * Times a model (inputs already concrete) in a worker thread; returns latency, memory and trace. The
 * model is its bytes, or the path of an .onnx file (for models with external data, over 2 GiB).
 */
export async function measureInWorker(modelBytes: Uint8Array | string, opts: MeasureOpts): Promise<Measurement> {
  const { transfer, ...rest } = opts;
  if (typeof modelBytes === 'string') return (await runWorker({ kind: 'measure', model: modelBytes, ...rest })) as Measurement;
  const owned =
    transfer && modelBytes.byteOffset === 0 && modelBytes.byteLength === modelBytes.buffer.byteLength
      ? modelBytes
      : new Uint8Array(modelBytes); // a copy (Buffer#slice would be a view, and transferring it would detach the caller's buffer)
  return (await runWorker({ kind: 'measure', model: owned, ...rest }, [owned.buffer as ArrayBuffer])) as Measurement;
}

/**
 * One measurement worker kept for many latency measurements, one at a time. Timing a small model takes
 * milliseconds; starting a worker and loading ONNX Runtime in it takes 100–300 ms, which dominated the
 * cost of timing many architectures (`hone nas`). Memory figures from a reused worker are growth over
 * what earlier jobs left, so this is for latency. Idle, the worker does not keep the process alive.
 */
export class LatencyWorker {
  private worker: Worker | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  measure(model: Uint8Array, opts: Omit<MeasureOpts, 'transfer' | 'profileRuns'>): Promise<Measurement> {
    const job = this.queue.then(() => this.send({ kind: 'measure', model, ...opts }));
    this.queue = job.catch(() => undefined);
    return job;
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    await w?.terminate();
  }

  private send(job: WorkerJob): Promise<Measurement> {
    if (!this.worker) {
      const w = spawnWorker(import.meta.url, 'measure-worker', { serve: true });
      w.on('error', afterReply);
      w.on('exit', () => {
        if (this.worker === w) this.worker = undefined;
      });
      this.worker = w;
    }
    const w = this.worker;
    w.ref();
    return (ask(w, job) as Promise<Measurement>).finally(() => w.unref());
  }
}

/** Runs one job in a fresh worker and returns its result; a HoneError thrown there is rethrown here. */
export function runWorker(job: WorkerJob, transferList: ArrayBuffer[] = []): Promise<Measurement | MachinePeaks> {
  const worker = spawnWorker(import.meta.url, 'measure-worker');
  worker.on('error', afterReply);
  return ask(worker, job, transferList);
}

/** A worker error outside `ask` (after its reply, or between jobs) has no one to answer: the job's result stands. */
function afterReply(): void {}

/** Posts `job` to `worker` and waits for its one reply, an error, or its exit; its listeners go when that comes. */
function ask(worker: Worker, job: WorkerJob, transferList: ArrayBuffer[] = []): Promise<Measurement | MachinePeaks> {
  return new Promise((resolve, reject) => {
    const done = () => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    const onMessage = (reply: WorkerReply) => {
      done();
      if (reply.ok) resolve(reply.result);
      else reject(reply.exitCode ? new HoneError(reply.message, reply.exitCode) : new Error(reply.message));
    };
    const onError = (e: Error) => {
      done();
      reject(e);
    };
    const onExit = (code: number) => {
      done();
      reject(
        new HoneError(`the measurement worker exited with code ${code} before reporting; the runtime may have crashed on this model`, 1),
      );
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
    worker.postMessage(job, transferList);
  });
}
