/**
 * `hone train … --workers N` and `hone train-worker --join URL --run NAME`: data-parallel training over NATS
 * (src/distributed). The leader (the `hone train` process, rank 0) publishes the run — its own arguments, less
 * its output and display flags, and a fingerprint of the model and the data — in the run's key-value bucket,
 * starts N−1 local `train-worker` processes (more can be started by hand on other machines instead, with
 * --workers counting them), and trains as rank 0 once all have joined. Each worker parses the same arguments,
 * loads its own copy of the model and the data, and is refused when its fingerprint differs. Only the leader
 * writes the model.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash, randomUUID } from 'node:crypto';
import { availableParallelism, hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { NatsConnection } from '@nats-io/transport-node';
import { badInput, errorMessage, HoneError } from '../../errors.js';
import { encodeModel } from '../../ir/codec.js';
import { createExchange, formatCompression, HEADER_BYTES, parseCompression, type CompressionSpec } from '../../distributed/compress.js';
import { dataParallel, Reform, type DataParallelStats } from '../../distributed/data-parallel.js';
import {
  BlobInbox,
  connectNats,
  NatsCollective,
  natsUrl,
  parseBandwidth,
  PeerLost,
  publishBlob,
  TokenBucket,
} from '../../distributed/nats.js';
import { checkRunName, HEARTBEAT_TIMEOUT_MS, Rendezvous, workerId } from '../../distributed/rendezvous.js';
import { checkBatchSplit, checkpointPath, train, type TrainOptions, type TrainResult } from '../../train/index.js';
import { nodeScriptArgs } from '../../util/worker.js';
import type { TrainCallback } from '../../train/callbacks.js';
import type { Command, Io } from '../command.js';
import { numberFlag, parseFlags } from '../command.js';
import { prepareTrain, TRAIN_FLAGS, type PreparedTrain, type TrainValues } from './train-prepare.js';

export const DP_HELP = `  --workers N              data-parallel training on N workers (this process and N−1 train-worker
                           processes it starts), exchanging gradients over NATS: each computes the
                           gradients of batch/N samples of every batch (N must divide --batch-size)
  --grad-compression M     none (default) | fp16 | powersgd[:rank=R,warmup=W] | topk[:ratio=F] |
                           qsgd[:levels=S] | signsgd (error feedback for powersgd, topk and signsgd)
  --nats URL               the NATS server (JetStream enabled; default nats://127.0.0.1:4222)
  --run NAME               the run's name, for 'hone train-worker --join URL --run NAME' on other machines
                           (default: hone-<pid>); with --local-workers K only K workers start here
  --local-workers K        start K of the N−1 other workers on this machine (default N−1)
  --bandwidth RATE         limit each worker's sending to RATE (100mbit, 1gbit): emulates a slower link
  --min-workers M          elastic: when workers are lost (killed, crashed, unreachable), go on with the
                           survivors from the last commit (see --commit-every); below M, wait for joiners
                           (default: no --min-workers or --max-workers, a lost worker ends the run)
  --max-workers K          elastic: admit workers that join later ('hone train-worker --join URL --run NAME',
                           e.g. a restarted one) at the next epoch, up to K (default --workers)
  --commit-every K         elastic: commit the run's state every K steps as well as at each epoch's end, so
                           survivors redo at most K steps (default: each epoch)
  --heartbeat-timeout S    a worker silent for S seconds is lost (default 10)`;

/** The flags a leader keeps out of the arguments it gives its workers (they are its own). */
const LEADER_ONLY = new Set(['output', 'workers', 'json', 'quiet', 'log', 'nats', 'run', 'local-workers', 'debug']);

export interface DpSettings {
  workers: number;
  /** Fewest workers the run goes on with after losing some (= workers: every loss ends the run). */
  minWorkers: number;
  /** Most workers a generation admits (joiners wait beyond it; default workers). */
  maxWorkers: number;
  /** --min-workers or --max-workers given: lost workers are left behind (or waited for), others may join. */
  elastic: boolean;
  /** Commit every this many steps as well as at each epoch's end (--commit-every). */
  commitEvery?: number;
  /** A worker whose heartbeat is older than this is gone. */
  heartbeatMs: number;
  local: number;
  url: string;
  run: string;
  compression: CompressionSpec;
  bandwidth?: number;
}

/** --workers and its companions, checked before anything loads. */
export function checkDataParallelFlags(values: TrainValues): DpSettings | undefined {
  if (values.workers === undefined) {
    for (const f of [
      'grad-compression',
      'nats',
      'run',
      'bandwidth',
      'local-workers',
      'min-workers',
      'max-workers',
      'commit-every',
      'heartbeat-timeout',
    ] as const)
      if (values[f] !== undefined) throw badInput(`--${f} sets data-parallel training; add --workers N`);
    return undefined;
  }
  const workers = numberFlag(values.workers, '--workers', { int: true, min: 1 })!;
  if (workers > 64) throw badInput(`--workers ${workers}: at most 64 workers`);
  for (const [f, why] of [
    ['checkpoint', 'a data-parallel run keeps no checkpoints yet'],
    ['resume', 'a data-parallel run keeps no checkpoints yet'],
    ['qat', 'quantization-aware training runs in one process'],
    ['profile', 'profile a step in one process'],
  ] as const)
    if (values[f] !== undefined) throw badInput(`--${f} cannot be used with --workers: ${why}`);
  const local = numberFlag(values['local-workers'], '--local-workers', { int: true, min: 0 }) ?? workers - 1;
  const minWorkers = numberFlag(values['min-workers'], '--min-workers', { int: true, min: 1 }) ?? workers;
  if (minWorkers > workers) throw badInput(`--min-workers ${minWorkers} is more than --workers ${workers}`);
  const maxWorkers = numberFlag(values['max-workers'], '--max-workers', { int: true, min: 1 }) ?? workers;
  const commitEvery = numberFlag(values['commit-every'], '--commit-every', { int: true, min: 1 });
  if (commitEvery !== undefined && values['min-workers'] === undefined && values['max-workers'] === undefined)
    throw badInput('--commit-every sets how much an elastic run redoes after losing a worker; add --min-workers M');
  if (maxWorkers < workers) throw badInput(`--max-workers ${maxWorkers} is fewer than --workers ${workers}`);
  const heartbeat = numberFlag(values['heartbeat-timeout'], '--heartbeat-timeout', { min: 0.5 }) ?? HEARTBEAT_TIMEOUT_MS / 1000;
  if (local > workers - 1) throw badInput(`--local-workers ${local}: at most --workers − 1 = ${workers - 1} start here`);
  return {
    workers,
    minWorkers,
    maxWorkers,
    elastic: values['min-workers'] !== undefined || values['max-workers'] !== undefined,
    ...(commitEvery !== undefined ? { commitEvery } : {}),
    heartbeatMs: heartbeat * 1000,
    local,
    url: natsUrl(values.nats ?? 'nats://127.0.0.1:4222'),
    run: checkRunName(values.run ?? `hone-${process.pid}-${Date.now().toString(36)}`),
    compression: parseCompression(values['grad-compression'] ?? 'none'),
    ...(values.bandwidth !== undefined ? { bandwidth: parseBandwidth(values.bandwidth) } : {}),
  };
}

/** `argv` less the flags named in `drop`, as `--name=value` words (parsed with `options`, so forms don't matter). */
function withoutFlags(argv: string[], options: ParseArgsConfig['options'], drop: Set<string>): string[] {
  const { tokens } = parseArgs({ args: argv, options, strict: false, allowPositionals: true, tokens: true });
  const out: string[] = [];
  for (const t of tokens ?? []) {
    if (t.kind !== 'option' || drop.has(t.name)) continue;
    out.push(t.value === undefined ? `--${t.name}` : `--${t.name}=${t.value}`);
  }
  return out;
}

/** sha256 of what must be the same on every worker: the model's bytes, the training data, the arguments. */
function fingerprint(p: PreparedTrain, argv: string[]): string {
  const h = createHash('sha256');
  h.update(encodeModel(p.model));
  const arrays = [...Object.values(p.data.train.features), p.data.train.labels];
  for (const a of arrays) h.update(new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength));
  h.update(JSON.stringify(argv));
  return h.digest('hex');
}

export interface DistributedReport {
  workers: number;
  run: string;
  compression: string;
  steps: number;
  skippedSteps: number;
  /** Bytes this worker sent per step: the gradients (compressed) and the control round. */
  bytesPerStep: number;
  gradientBytesPerStep: number;
  /** The compression's own formula for the gradient bytes per step, over the same steps (warm-up included). */
  analyticBytesPerStep: number;
  /** Uncompressed f32 gradients per step, for the ratio. */
  rawBytesPerStep: number;
  exchangeSeconds: number;
  bandwidthBytesPerSec?: number;
  /** Workers in the last generation, how many generations the run took, the workers lost and joined (ranks). */
  workersAtEnd?: number;
  generations?: number;
  lostWorkers?: number[];
  joinedWorkers?: number[];
}

function report(dp: DpSettings, stats: DataParallelStats, analytic: number, raw: number): DistributedReport {
  const steps = Math.max(1, stats.steps);
  // The formula's bytes over the steps exchanged: PowerSGD's warm-up steps go uncompressed (raw f32 and a header).
  const exchanged = stats.steps - stats.skipped;
  const warm = dp.compression.kind === 'powersgd' ? Math.min(exchanged, dp.compression.warmup) : 0;
  const expected = warm * (HEADER_BYTES + raw) + (exchanged - warm) * analytic;
  return {
    workers: dp.workers,
    run: dp.run,
    compression: formatCompression(dp.compression),
    steps: stats.steps,
    skippedSteps: stats.skipped,
    bytesPerStep: (stats.gradientBytes + stats.controlBytes) / steps,
    gradientBytesPerStep: stats.gradientBytes / steps,
    analyticBytesPerStep: expected / steps,
    rawBytesPerStep: raw,
    exchangeSeconds: stats.exchangeMs / 1000,
    ...(dp.bandwidth ? { bandwidthBytesPerSec: dp.bandwidth } : {}),
  };
}

export function distributedLine(r: DistributedReport): string {
  const kb = (b: number) => `${(b / 1024).toFixed(1)} KiB`;
  const changes = [
    ...(r.lostWorkers?.length ? [`${r.lostWorkers.length} lost`] : []),
    ...(r.joinedWorkers?.length ? [`${r.joinedWorkers.length} joined`] : []),
  ];
  const lost = changes.length ? ` (${changes.join(', ')}: ${r.workersAtEnd} at the end, generation ${r.generations})` : '';
  return `  ${r.workers} workers${lost}, --grad-compression ${r.compression}: ${kb(r.gradientBytesPerStep)} of gradients sent per step per worker (uncompressed ${kb(r.rawBytesPerStep)}, ${(r.rawBytesPerStep / Math.max(1, r.gradientBytesPerStep)).toFixed(1)}x less), ${r.exchangeSeconds.toFixed(1)} s exchanging${r.skippedSteps ? `, ${r.skippedSteps} step(s) skipped (gradients not finite on some worker)` : ''}`;
}

/** Exchange statistics over every generation of a run. */
function addStats(into: DataParallelStats, s: DataParallelStats): void {
  into.steps += s.steps;
  into.skipped += s.skipped;
  into.gradientBytes += s.gradientBytes;
  into.controlBytes += s.controlBytes;
  into.uncompressedLayers = s.uncompressedLayers;
  into.exchangeMs += s.exchangeMs;
}

/** A worker's part of the run, whichever side started it: what `trainMember` needs. */
interface MemberContext {
  nc: NatsConnection;
  rv: Rendezvous;
  dp: DpSettings;
  /** The rank this worker took: its name for the whole run (its rank in a later generation may differ). */
  id: number;
  prepared: PreparedTrain;
  /** Workers (ids) known to be gone: the leader learns of its local processes' exits at once. */
  dead: Set<number>;
  wantsStop: () => boolean;
  say: (text: string) => void;
  /** Checked while waiting for the first generation's workers (the leader's children exiting). */
  check?: () => void;
  /** Fails the generation in progress (set by trainMember): the leader's local worker died, not elastic. */
  abortCurrent?: (e: Error) => void;
}

/**
 * Trains as worker `id`, generation after generation: each generation subscribes to its own subjects, waits
 * for its members, and trains with their shares. A worker lost mid-run (PeerLost) ends the generation; with
 * --min-workers below --workers the survivors agree on the next generation's members (rendezvous
 * `members.<g>`), roll back to the last epoch's commit (each worker's identical checkpoint) and go on.
 */
async function trainMember(
  ctx: MemberContext,
  extra: Partial<TrainOptions>,
  start?: { generation: number; members: number[]; commits: string },
) {
  const { nc, rv, dp, id, prepared, dead } = ctx;
  const { elastic } = dp;
  const commits = start?.commits ?? (elastic ? mkdtempSync(join(tmpdir(), 'hone-dp-commit-')) : undefined);
  const totals: DataParallelStats = { steps: 0, skipped: 0, gradientBytes: 0, controlBytes: 0, uncompressedLayers: 0, exchangeMs: 0 };
  let members = start?.members ?? Array.from({ length: dp.workers }, (_, k) => k);
  let generation = start?.generation ?? 1;
  const joinedIds: number[] = [];
  let analytic = 0;
  let raw = 0;
  const lostIds: number[] = [];
  let current: NatsCollective | undefined;
  rv.watchAborts((e) => current?.fail(e));
  ctx.abortCurrent = (e) => current?.fail(e);
  try {
    for (;;) {
      const rank = members.indexOf(id);
      const world = members.length;
      const gen = generation;
      const collective = new NatsCollective(nc, dp.run, gen, rank, world, {
        ...(dp.bandwidth ? { limit: new TokenBucket(dp.bandwidth, 256 * 1024) } : {}),
        timeoutMs: dp.heartbeatMs * 3,
        // Gone: known dead, a heartbeat older than the timeout, or left out of a next generation already agreed.
        lost: async (missing) => {
          const next = await rv.agreedMembers(gen + 1);
          const gone: number[] = [];
          for (const r of missing) {
            const k = members[r]!;
            const age = await rv.lastSeenMs(k);
            if (dead.has(k) || age === undefined || age > dp.heartbeatMs || (next && !next.includes(k))) gone.push(r);
          }
          return gone;
        },
      });
      current = collective;
      let inner: ReturnType<typeof dataParallel> | undefined;
      let reform = false;
      try {
        await collective.ready();
        await rv.ready(gen, id);
        if (gen === 1) await rv.waitReady(gen, members, dp.local + 1 === dp.workers ? 120_000 : 600_000, ctx.check);
        else await rv.waitReady(gen, members, dp.heartbeatMs * 3);
        const callback: TrainCallback = {
          onTrainBegin(run) {
            const exchange = createExchange(
              dp.compression,
              run.graph.params.map((p) => p.dims),
              { seed: prepared.options.seed ?? 0, rank },
            );
            analytic = exchange.analyticBytes();
            raw = 4 * run.params.reduce((sum, p) => sum + p.length, 0);
            inner = dataParallel({ collective, exchange, wantsStop: ctx.wantsStop, reform: () => reform });
          },
          onGradients: (run, info) => inner!.onGradients!(run, info),
          // The leader admits workers waiting to join at an epoch's start, once an epoch is committed: it sends
          // them the commit, proposes the next generation, and the first step's control round re-forms.
          async onEpochBegin() {
            if (id !== 0 || !commits || reform || members.length >= dp.maxWorkers || !existsSync(checkpointPath(commits))) return;
            const joins = (await rv.joinRequests())
              .filter((k) => !members.includes(k) && !dead.has(k))
              .slice(0, dp.maxWorkers - members.length);
            if (!joins.length) return;
            await publishBlob(nc, `hone.dp.${dp.run}.commit.${gen + 1}`, readFileSync(checkpointPath(commits)));
            const agreed = await rv.members(gen + 1, [...members, ...joins]);
            // Someone else proposed generation gen+1 first (survivors of a loss): the joiners wait for a later one.
            reform = joins.every((k) => agreed.includes(k));
          },
        };
        const result = await train(prepared.model, prepared.data.train, {
          ...prepared.options,
          ...extra,
          shard: { rank, world },
          callbacks: [callback],
          ...(commits
            ? { checkpointDir: commits, resume: gen > 1, ...(dp.commitEvery ? { checkpointEverySteps: dp.commitEvery } : {}) }
            : {}),
        });
        if (inner) addStats(totals, inner.stats);
        return {
          result,
          report: {
            ...report(dp, totals, analytic, raw),
            workersAtEnd: world,
            generations: gen,
            lostWorkers: lostIds,
            joinedWorkers: joinedIds,
          },
        };
      } catch (e) {
        if (inner) addStats(totals, inner.stats);
        // The next generation: the leader admitted workers (Reform), or workers were lost (PeerLost).
        let next: number[];
        let why: string;
        if (e instanceof Reform) {
          next = (await rv.agreedMembers(gen + 1))!;
          why = `worker(s) ${next.filter((k) => !members.includes(k)).join(', ')} joined`;
        } else {
          if (!(e instanceof PeerLost) || !elastic) throw e;
          const gone = e.ranks.map((r) => members[r]!);
          for (const k of gone) dead.add(k);
          lostIds.push(...gone);
          if (dead.has(0)) throw new HoneError(`${e.message}; the leader (worker 0) is gone, so the run ends`, 1);
          // The leader proposes the next generation; the others wait for its word (or its silence).
          next = id === 0 ? await nextAfterLoss(ctx, e, gen, members, commits!) : await rv.waitForMembers(gen + 1, dp.heartbeatMs);
          if (!next.includes(id)) throw new HoneError(`${e.message}; the other workers went on without this one`, 1);
          why = e.message;
        }
        joinedIds.push(...next.filter((k) => !members.includes(k)));
        members = next;
        generation = gen + 1;
        ctx.say(`hone: ${why}; going on with ${members.length} workers (generation ${generation}) from the last commit\n`);
      } finally {
        collective.close();
      }
    }
  } finally {
    if (commits) rmSync(commits, { recursive: true, force: true });
  }
}

/**
 * The leader's proposal after losing workers: the survivors, and when fewer than --min-workers are left, the
 * workers that ask to join until there are enough (waiting, with a message, instead of ending the run); the
 * joiners get the last commit (nothing when no epoch has finished: all start over).
 */
async function nextAfterLoss(ctx: MemberContext, e: PeerLost, gen: number, members: number[], commits: string): Promise<number[]> {
  const { rv, dp, dead, nc } = ctx;
  const survivors = members.filter((k) => !dead.has(k));
  let joins: number[] = [];
  if (survivors.length < dp.minWorkers) {
    ctx.say(
      `hone: ${e.message}; ${survivors.length} worker(s) left, fewer than --min-workers ${dp.minWorkers}: waiting for ${dp.minWorkers - survivors.length} to join ('hone train-worker --join ${dp.url} --run ${dp.run}')\n`,
    );
    for (;;) {
      if (ctx.wantsStop()) throw new HoneError(`interrupted while waiting for workers to join run '${dp.run}'`, 1);
      joins = (await rv.joinRequests()).filter((k) => !members.includes(k) && !dead.has(k)).slice(0, dp.maxWorkers - survivors.length);
      if (survivors.length + joins.length >= dp.minWorkers) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const ck = checkpointPath(commits);
    await publishBlob(nc, `hone.dp.${dp.run}.commit.${gen + 1}`, existsSync(ck) ? readFileSync(ck) : new Uint8Array(0));
  }
  return rv.members(gen + 1, [...survivors, ...joins]);
}

export interface Leader {
  /** ORT threads for the leader's own training (the machine's cores shared with its local workers). */
  threads: number;
  /** Trains as worker 0 through every generation. */
  train(extra: Partial<TrainOptions>): Promise<TrainResult>;
  /** Training failed here: tells the workers, stops the local ones. */
  fail(e: unknown): Promise<void>;
  /** Training ended: waits for the local workers, removes the run, and reports the exchange. */
  finish(): Promise<DistributedReport>;
}

/** The leader's side: publishes the run, starts the local workers; `train` waits until every worker has joined. */
export async function startLeader(
  argv: string[],
  dp: DpSettings,
  prepared: PreparedTrain,
  io: Io,
  quiet: boolean,
  wantsStop: () => boolean,
): Promise<Leader> {
  // Before any worker starts: each would refuse it too, and the first to exit would hide the reason.
  checkBatchSplit(prepared.batchSize, dp.workers);
  const shared = withoutFlags(argv, TRAIN_FLAGS, LEADER_ONLY);
  const nc = await connectNats(dp.url, 'hone train (leader)');
  const children: { proc: ChildProcess; tail: string; lost?: boolean }[] = [];
  let rv: Rendezvous | undefined;
  try {
    rv = await Rendezvous.create(nc, dp.url, dp.run, {
      argv: shared,
      fingerprint: fingerprint(prepared, shared),
      world: dp.workers,
      leader: hostname(),
    });
    // The cores are shared among the workers on this machine (ORT's default takes them all in each).
    const threads = prepared.options.threads || Math.max(1, Math.floor(availableParallelism() / (dp.local + 1)));
    for (let k = 0; k < dp.local; k++) children.push(startWorker(dp, threads));
    if (dp.workers > dp.local + 1 && !quiet)
      io.stderr(
        `hone: waiting for ${dp.workers - dp.local - 1} more worker(s): on each machine run 'hone train-worker --join ${dp.url} --run ${dp.run}'\n`,
      );
    const dead = new Set<number>();
    const ctx: MemberContext = {
      nc,
      rv,
      dp,
      id: 0,
      prepared,
      dead,
      wantsStop,
      say: (t) => void (quiet ? undefined : io.stderr(t)),
      check: () => {
        const gone = children.find((c) => c.proc.exitCode !== null || c.proc.signalCode !== null);
        if (gone)
          throw new HoneError(
            `a local worker exited before training (${gone.proc.signalCode ?? `code ${gone.proc.exitCode}`}): ${lastLine(gone.tail)}`,
            1,
          );
      },
    };
    // A local worker that dies (a crash, kill -9): with --min-workers the run goes on without it, else it
    // fails at once instead of after the round timeout.
    for (const [k, c] of children.entries())
      c.proc.once('exit', (code, signal) => {
        if (code === 0) return;
        const why = `local worker process ${k + 1} stopped (${signal ?? `exit ${code}`}): ${lastLine(c.tail)}`;
        if (dp.elastic) {
          c.lost = true;
          rv!
            .rankOfProcess(c.proc.pid!)
            .then((id) => id !== undefined && dead.add(id))
            .catch(() => {});
        } else ctx.abortCurrent?.(new HoneError(why, 1));
      });
    let last: DistributedReport | undefined;
    return {
      threads,
      async train(extra) {
        const { result, report: r } = await trainMember(ctx, extra);
        last = r;
        return result;
      },
      async fail(e) {
        await rv!.abort(0, errorMessage(e)).catch(() => {});
        await stopChildren(children, 5000);
        await rv!.close(true);
        await nc.drain().catch(() => {});
      },
      async finish() {
        await stopChildren(children, 30_000);
        const failed = children.find((c) => c.proc.exitCode !== 0 && !c.lost);
        await rv!.close(true);
        await nc.drain().catch(() => {});
        if (failed) throw new HoneError(`a local worker failed (exit ${failed.proc.exitCode}): ${lastLine(failed.tail)}`, 1);
        return last!;
      },
    };
  } catch (e) {
    await rv?.abort(0, errorMessage(e)).catch(() => {});
    for (const c of children) c.proc.kill('SIGKILL');
    await rv?.close(true);
    await nc.drain().catch(() => {});
    throw e;
  }
}

function startWorker(dp: DpSettings, threads: number): { proc: ChildProcess; tail: string } {
  const args = [
    ...nodeScriptArgs(import.meta.url, '../bin'),
    'train-worker',
    '--join',
    dp.url,
    '--run',
    dp.run,
    '--threads',
    String(threads),
    '--quiet',
  ];
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  const w = { proc, tail: '' };
  proc.stderr!.on('data', (d: Buffer) => {
    w.tail = (w.tail + d.toString()).slice(-4000);
  });
  return w;
}

/** Waits up to `ms` for the local workers to exit, then kills what is left. */
async function stopChildren(children: { proc: ChildProcess }[], ms: number): Promise<void> {
  const alive = children.filter((c) => c.proc.exitCode === null && c.proc.signalCode === null);
  await Promise.all(
    alive.map(
      (c) =>
        new Promise<void>((resolve) => {
          const t = setTimeout(() => {
            c.proc.kill('SIGKILL');
            resolve();
          }, ms);
          c.proc.once('exit', () => {
            clearTimeout(t);
            resolve();
          });
        }),
    ),
  );
}

function lastLine(text: string): string {
  return (
    text
      .trim()
      .split('\n')
      .filter((l) => l.trim())
      .pop() ?? 'no message'
  );
}

const WORKER_HELP = `hone train-worker — join a data-parallel training run (hone train … --workers N) as one of its workers

Usage: hone train-worker --join nats://HOST:4222 --run NAME [--threads N] [--wait SECONDS] [--quiet]

The run's leader (hone train … --workers N --run NAME) publishes what to train: this worker parses the same
arguments, loads the model and the data from its own disk (the same paths must hold the same files: a
worker whose model or data differ from the leader's is refused), takes a free rank and trains its share of
every batch. It writes nothing; the leader writes the model.

Options:
  --join URL        the run's NATS server (JetStream enabled)
  --run NAME        the run's name, as the leader's --run
  --threads N       ONNX Runtime intra-op threads here (default: the leader's setting, else 2)
  --wait SECONDS    how long to wait for the run to start (default 60)
  --quiet           no progress on stderr

Ctrl-C stops every worker after the current step; the leader then writes nothing.

Two machines, the NATS server on the first (10.0.0.5): the leader there, this worker on the second.

Examples:
  hone train --model zoo:mlp --data mnist --batch-size 128 --workers 2 --local-workers 0 --nats nats://10.0.0.5:4222 --run demo -o mlp.onnx
  hone train-worker --join nats://10.0.0.5:4222 --run demo
`;

export const trainWorkerCommand: Command = {
  name: 'train-worker',
  summary: 'join a data-parallel training run (hone train --workers) from this or another machine',
  help: WORKER_HELP,
  async run(argv, io) {
    const { values } = parseFlags(
      'train-worker',
      argv,
      {
        join: { type: 'string' },
        run: { type: 'string' },
        threads: { type: 'string' },
        wait: { type: 'string' },
        quiet: { type: 'boolean' },
      },
      false,
    );
    if (!values.join) throw badInput("train-worker needs --join nats://HOST:4222 (the leader's --nats server)");
    if (!values.run) throw badInput("train-worker needs --run NAME (the leader's --run)");
    const url = natsUrl(values.join);
    const run = checkRunName(values.run);
    const waitS = numberFlag(values.wait, '--wait', { min: 0 }) ?? 60;
    const threads = numberFlag(values.threads, '--threads', { int: true, min: 0 });
    const say = (t: string) => void (values.quiet ? undefined : io.stderr(t));
    const nc = await connectNats(url, 'hone train-worker');
    let rv: Rendezvous | undefined;
    let rank = -1;
    let stopping: string | undefined;
    const onSignal = (sig: NodeJS.Signals) => {
      if (stopping) process.exit(130);
      stopping = sig;
      say(`hone: ${sig}: stopping every worker after the current step (again to quit at once)\n`);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    // A local worker goes when its leader goes, even when the leader could not say so (SIGKILL, a crash).
    const orphaned = () => process.exit(1);
    if (process.connected) process.once('disconnect', orphaned);
    try {
      rv = await Rendezvous.join(nc, url, run, waitS * 1000, () => say(`hone: waiting for run '${run}' to start on ${url}…\n`));
      const { config } = rv;
      const given = parseFlags('train', config.argv, TRAIN_FLAGS, false).values;
      const values2 = { ...given, ...(threads !== undefined ? { threads: String(threads) } : {}), quiet: values.quiet };
      const prepared = await prepareTrain(values2, io);
      const id = workerId(process.pid, randomUUID().slice(0, 8));
      if (fingerprint(prepared, config.argv) !== config.fingerprint)
        await rv.refuse(
          id,
          `${hostname()}: this worker's model or data differ from the leader's (on ${config.leader}); give it the same files at the same paths`,
        );
      const dp = checkDataParallelFlags({ ...given, workers: String(config.world), nats: url, run })!;
      // Subscribed before asking to join, so the commit the leader sends on admitting this worker arrives.
      const inbox = new BlobInbox(nc, `hone.dp.${run}.commit`);
      await inbox.ready();
      let start: Parameters<typeof trainMember>[2];
      try {
        rank = await rv.claimRank(id, dp.elastic);
        if (rank >= config.world) {
          // The run is under way: admitted at the leader's next epoch, with its last commit.
          await rv.requestJoin(rank);
          say(`hone: run '${run}' is under way; worker ${rank} joins at its next epoch\n`);
          const { generation, members } = await rv.waitForMembership(rank, 2, () => {
            if (stopping) throw new HoneError(`interrupted (${stopping}) while waiting to join run '${run}'`, 1);
          });
          const commits = mkdtempSync(join(tmpdir(), 'hone-dp-commit-'));
          // Empty: no epoch had finished, so every worker starts over.
          const commit = await inbox.get(String(generation), 60_000);
          if (commit.length) writeFileSync(checkpointPath(commits), commit);
          start = { generation, members, commits };
        }
      } finally {
        inbox.close();
      }
      say(`hone: worker ${rank} of ${config.world} in run '${run}' (leader on ${config.leader}): training\n`);
      const { result, report: r } = await trainMember(
        { nc, rv, dp, id: rank, prepared, dead: new Set(), wantsStop: () => stopping !== undefined, say },
        {},
        start,
      );
      say(`hone: worker ${rank}: ${result.epochs} epoch(s), ${r.steps} steps\n${distributedLine(r)}\n`);
      return stopping ? 130 : 0;
    } catch (e) {
      if (rv && rank >= 0) await rv.abort(rank, errorMessage(e)).catch(() => {});
      throw e;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      process.off('disconnect', orphaned);
      await rv?.close(false);
      await nc.drain().catch(() => {});
    }
  },
};
