/**
 * The measurement worker: receives one job (see measure.ts), runs it on this thread, replies once, exits;
 * or, started with workerData { serve: true } (LatencyWorker), runs jobs one after another until terminated.
 *
 * Peak memory method: resident set size (RSS) is per process, so we take a baseline just before the
 * session is created and sample RSS after creation and after every run; peak = max sample - baseline.
 * ORT's CPU arena keeps the memory a run needed (it does not shrink between runs), so the RSS after a
 * run includes that run's transient peak. We also read the process's max RSS (`resourceUsage().maxRSS`):
 * when it rose during the measurement, the true high-water mark came from us and we use it instead of
 * the samples, because it also catches allocations freed before `run()` returned. Memory freed by
 * earlier measurements in the same process can be reused without growing RSS, so later batch sizes
 * can read low; each figure is growth attributable to this session, not an absolute footprint.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as ort from 'onnxruntime-node';
import type { MachinePeaks, Measurement, WorkerJob, WorkerReply } from './measure.js';
import { createSession, ortRunError } from './session.js';
import { randomFeeds, randomFeedsHint } from './inputs.js';
import { isNoisy, latencyStats, median } from './stats.js';
import { summarizeTrace } from './trace.js';
import { measurePeaks } from './peaks-kernel.js';
import { GraphBuilder } from '../ir/builder.js';
import { DataType } from '../ir/dtype.js';
import { encodeModel } from '../ir/codec.js';
import { HoneError, errorMessage } from '../errors.js';

const serve = (workerData as { serve?: boolean } | undefined)?.serve === true;
parentPort![serve ? 'on' : 'once']('message', (job: WorkerJob) => {
  run(job).then(
    (result) => reply({ ok: true, result }),
    (e: unknown) =>
      reply(e instanceof HoneError ? { ok: false, message: e.message, exitCode: e.exitCode } : { ok: false, message: errorMessage(e) }),
  );
});

function reply(r: WorkerReply): void {
  parentPort!.postMessage(r);
  if (!serve) parentPort!.close();
}

async function run(job: WorkerJob): Promise<Measurement | MachinePeaks> {
  if (job.kind === 'peaks') return measurePeaks(job.session ?? {}, job.key);
  return measure(job);
}

async function measure(job: Extract<WorkerJob, { kind: 'measure' }>): Promise<Measurement> {
  const warmup = job.warmup ?? 3;
  const runs = Math.max(1, job.runs ?? 20);
  await initRuntime();
  const maxRssBefore = process.resourceUsage().maxRSS * 1024;
  const baseline = process.memoryUsage().rss;
  let peakRss = baseline;
  const sample = () => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  };

  const t0 = performance.now();
  const session = await createSession(job.model, job.session);
  const sessionCreateMs = performance.now() - t0;
  sample();
  const sessionBytes = Math.max(0, peakRss - baseline);
  const feeds = randomFeeds(job.inputs, job.seed ?? 0, job.intHigh ?? 2, job.values);

  const samples: number[] = [];
  const roundMedians: number[] = [];
  try {
    for (let i = 0; i < warmup; i++) {
      await session.run(feeds);
      sample();
    }
    // Rounds of `runs` while the runs are noisy and the budget lasts (see stats.ts for why rounds).
    const deadline = performance.now() + (job.budgetMs ?? 0);
    const maxRounds = Math.max(1, job.maxRounds ?? 8);
    do {
      const round: number[] = [];
      for (let i = 0; i < runs; i++) {
        const start = performance.now();
        await session.run(feeds);
        round.push(performance.now() - start);
        sample();
      }
      samples.push(...round);
      roundMedians.push(median(round));
    } while (roundMedians.length < maxRounds && performance.now() < deadline && isNoisy(latencyStats(samples)));
  } catch (e) {
    throw e instanceof HoneError ? e : ortRunError(e, `with inputs ${describe(job.inputs)}`, randomFeedsHint(job.inputs, job.values));
  } finally {
    await session.release();
  }
  const maxRssAfter = process.resourceUsage().maxRSS * 1024;
  const peakBytes = Math.max(0, (maxRssAfter > maxRssBefore ? Math.max(maxRssAfter, peakRss) : peakRss) - baseline);

  // Noisy runs get more traced runs too (up to 3x), so the kernel share is a median over more of them.
  const profileRuns = (job.profileRuns ?? 0) * Math.min(3, roundMedians.length);
  const traced = profileRuns > 0 ? await profile(job, feeds, profileRuns) : undefined;
  return {
    latencyMs: latencyStats(samples, roundMedians),
    sessionCreateMs,
    memory: { baselineRssBytes: baseline, sessionBytes, peakBytes },
    ...traced,
  };
}

/**
 * Runs a second session with ORT profiling on, in a temp folder, and summarizes its trace; each traced run
 * is also timed here, so its kernel time can be set against its own wall time (see `Measurement.traceWallMs`).
 */
async function profile(job: Extract<WorkerJob, { kind: 'measure' }>, feeds: Record<string, ort.Tensor>, runs: number) {
  const wallMs: number[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'hone-trace-'));
  try {
    const session = await createSession(job.model, { ...job.session, profilePrefix: join(dir, 'ort') });
    try {
      // One untimed run so the trace is not dominated by first-run allocation.
      await session.run(feeds);
      for (let i = 0; i < runs; i++) {
        const start = performance.now();
        await session.run(feeds);
        wallMs.push(performance.now() - start);
      }
      session.endProfiling();
    } finally {
      await session.release();
    }
    // ORT names the file `<prefix>_<timestamp>.json`: find it by the prefix.
    const file = readdirSync(dir).find((f) => f.startsWith('ort') && f.endsWith('.json'));
    if (!file) throw new HoneError('onnxruntime wrote no profiling trace; rerun, or profile without per-op times', 1);
    return { trace: summarizeTrace(readFileSync(join(dir, file), 'utf8'), 1), traceWallMs: wallMs };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Creates and drops a one-node session before the memory baseline, so that ORT's one-time setup in this
 * process (its environment, thread pools, kernel registries) is not counted as the model's memory.
 */
async function initRuntime(): Promise<void> {
  const b = new GraphBuilder('init');
  b.op('Identity', [b.input('x', DataType.FLOAT, [1])], {}, { output: 'y' });
  b.output('y', DataType.FLOAT, [1]);
  const s = await createSession(encodeModel(b.model()), {});
  await s.release();
}

function describe(inputs: readonly { name: string; shape: number[] }[]): string {
  return inputs.map((i) => `${i.name}[${i.shape.join('x')}]`).join(', ');
}
