/**
 * `hone demo` (what `npm start` runs): Hone's main job end to end on what ships with it. Trains a zoo CNN on
 * the built-in MNIST with Hone's own trainer (once: the trained model is cached), then runs `hone optimize`
 * on it for latency within 1 accuracy point under a time budget, and prints the before/after table.
 */
import { accessSync, constants, existsSync, mkdirSync, readdirSync, statSync, unlinkSync, utimesSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import type { Command, Io } from '../command.js';
import { parseFlags, progressLines, quietFlag, quietHelp, shellWord } from '../command.js';
import { badInput, errorMessage } from '../../errors.js';
import { loadModel, saveModel } from '../../ir/model.js';
import type { ModelProto } from '../../ir/proto.js';
import { firstSamples, mnist } from '../../data/index.js';
import { train } from '../../train/index.js';
import { zooModel } from '../../zoo/index.js';
import { checkOutDir, optimizeModel, writeOptimizeOutput, type OptimizeResult } from '../../optimize/index.js';
import { optimizeText } from '../../report/optimize-text.js';
import { optimizeHtml } from '../../report/optimize-html.js';
import { abortOnSignals, interruptExitCode } from '../tune/interrupt.js';
import { parseDuration } from './optimize.js';

/**
 * The CNN and how it is trained, chosen by measurement on a 2-core Xeon under heavy load (load average ~10),
 * each optimized for a minute: the default LeNet-5 (6 and 16 channels) reached 96.9% in 10 epochs, and at
 * 0.03 ms a run only session settings gained (1.05x); a small ResNet (16-32-64 at 28 px) reached 97.5% but
 * took 96 s for 4 epochs, and nothing beat fp32 at batch 1 (best 1.08x). LeNet-5 with 32 and 128 channels
 * reaches 97.35% in 4 epochs (52-56 s there), and its second convolution (10 M multiply-adds) is wide enough
 * for static int8 to run the model ~2x faster. (64 and 128 channels: 97.4% in 3 epochs, 2.35x, but 89 s.)
 */
export const DEMO_RECIPE = {
  model: 'lenet5:channels=32-128,fc=256',
  epochs: 4,
  batchSize: 64,
  optimizer: 'adam',
  lr: 1e-3,
  schedule: 'cosine',
  seed: 0,
} as const;

/** Default search budget, seconds: with the training, the demo fits in about 3 minutes on 2 cores. */
export const DEMO_BUDGET = 120;
export const DEMO_OUTPUT = 'hone-demo';
/** Trains on the first N MNIST training digits instead of all 8,000 (quick runs and tests). */
export const SAMPLES_ENV = 'HONE_DEMO_SAMPLES';
/** Trained models the demo's cache keeps: the newest by use (other sample counts, earlier Hone versions). */
export const DEMO_CACHE_KEEP = 3;
/** The test accuracy is kept in the cached model's metadata, so a cached run can print it. */
const ACCURACY_KEY = 'hone.demo.testAccuracy';

const VERSION = (createRequire(import.meta.url)('../../../package.json') as { version: string }).version;

const HELP = `hone demo [-o OUT_DIR] [options]

Hone's main job on what ships with it, in about 3 minutes on 2 cores (about 2 once the model is cached):
1. trains a CNN (zoo:${DEMO_RECIPE.model}) on the built-in MNIST (8,000 training and 2,000
   test digits) with Hone's trainer: ${DEMO_RECIPE.epochs} epochs, Adam, cosine schedule, about a minute on 2 cores; it
   reaches ~97% test accuracy. The trained model is cached in ~/.cache/hone/demo (the OS temp folder when
   home is not writable), so later runs skip this step; the ${DEMO_CACHE_KEEP} models used last are kept there;
2. runs 'hone optimize' on it: goal latency at batch 1, at most 1 accuracy point lost on the MNIST test
   split, static int8 calibrated on MNIST training digits among the candidates, runtime settings searched,
   each candidate timed side by side with ONNX Runtime fp32 (default budget 2 minutes);
3. prints the before/after table and writes OUT_DIR/report.html (the report, one page that opens offline),
   OUT_DIR/model.onnx (the chosen model), OUT_DIR/report.json and OUT_DIR/candidates.json, all or
   nothing, as 'hone optimize' does.
Ctrl-C stops cleanly: nothing half-written, and a model being trained is not cached.

Options:
  -o, --output OUT_DIR  the output folder (default ./${DEMO_OUTPUT}). An existing folder that is not the output
                        of a previous demo or 'hone optimize' is refused unless --force
  --budget T            time for the search: seconds, or 90s, 5m (default 2m)
  --force               write into an OUT_DIR that is not a previous optimize output
  --retrain             train again even when a cached model exists (and replace it)
  --json                print the report as one JSON object (with a 'trained' entry) instead of the tables
${quietHelp(24).replace(/^ {2}--quiet {4}/, '  -q, --quiet')}

Environment: ${SAMPLES_ENV}=N trains on the first N training digits only (quick runs; lower accuracy),
cached under its own name.

Examples:
  hone demo
  hone demo -o demo-out --budget 5m --json
`;

export const demoCommand: Command = {
  name: 'demo',
  summary: 'train a CNN on the built-in MNIST (cached), optimize it for latency, print the before/after table',
  help: HELP,
  async run(argv, io) {
    const { values: v } = parseFlags(
      'demo',
      argv,
      {
        output: { type: 'string', short: 'o' },
        budget: { type: 'string' },
        force: { type: 'boolean' },
        retrain: { type: 'boolean' },
        json: { type: 'boolean' },
        quiet: { ...quietFlag.quiet, short: 'q' },
      },
      false,
    );
    const outDir = v.output ?? DEMO_OUTPUT;
    checkOutDir(outDir, v.force);
    const budget = v.budget === undefined ? DEMO_BUDGET : parseDuration(v.budget, '--budget');
    const samples = samplesFromEnv();
    const progress = progressLines(io, v.quiet) ?? (() => {});
    const interrupt = abortOnSignals();
    try {
      const trained = await trainedModel({ samples, retrain: v.retrain, progress, signal: interrupt.signal });
      if (!trained) return interrupted(io, interrupt.signal.reason, 'while training; nothing was cached or written');
      progress(`optimizing for latency within 1 accuracy point on MNIST, budget ${budget} s`);
      let result: OptimizeResult;
      try {
        result = await optimizeModel({
          model: trained.path,
          data: 'mnist',
          goal: 'latency',
          maxAccuracyDrop: 1,
          budget,
          onProgress: progress,
          signal: interrupt.signal,
        });
      } catch (e) {
        if (!interrupt.signal.aborted) throw e;
        return interrupted(
          io,
          interrupt.signal.reason,
          `while optimizing; nothing was written to ${outDir} (the trained model stays cached for the next run)`,
        );
      }
      writeOptimizeOutput(outDir, result, v.force, optimizeHtml(result.report, result.candidates));
      io.stdout(v.json ? `${JSON.stringify({ output: outDir, trained, ...result.report })}\n` : demoText(trained, result, outDir));
      return 0;
    } finally {
      interrupt.release();
    }
  },
};

/** The trained model the demo optimizes, and where it came from. */
export interface TrainedModel {
  /** The cached .onnx file. */
  path: string;
  spec: string;
  /** True when an earlier run trained it. */
  cached: boolean;
  trainSamples: number;
  epochs: number;
  testAccuracy?: number;
  /** Seconds the training took (this run only). */
  trainSeconds?: number;
}

/**
 * The cached trained model, or a freshly trained one (then cached, atomically); undefined when interrupted,
 * and then nothing is cached.
 */
async function trainedModel(opts: {
  samples: number | undefined;
  retrain?: boolean;
  progress: (message: string) => void;
  signal: AbortSignal;
}): Promise<TrainedModel | undefined> {
  const data = mnist();
  const trainSet = opts.samples ? firstSamples(data.train, opts.samples) : data.train;
  const r = DEMO_RECIPE;
  const dir = demoCacheDir();
  const path = join(dir, cacheName(trainSet.size));
  const base = { path, spec: `zoo:${r.model}`, trainSamples: trainSet.size, epochs: r.epochs };
  if (!opts.retrain) {
    const cached = readCached(path, opts.progress);
    if (cached) {
      markUsed(path);
      opts.progress(`using the trained model cached at ${path} (--retrain to train again)`);
      return { ...base, cached: true, testAccuracy: cached.testAccuracy };
    }
  }
  opts.progress(
    `training ${base.spec} on ${count(trainSet.size)} MNIST digits: ${r.epochs} epochs, batch ${r.batchSize}, ${r.optimizer} lr ${r.lr}, ${r.schedule} schedule`,
  );
  const started = performance.now();
  const steps = Math.floor(trainSet.size / r.batchSize);
  const result = await train(zooModel(r.model), trainSet, {
    epochs: r.epochs,
    batchSize: r.batchSize,
    optimizer: { kind: r.optimizer },
    lr: r.lr,
    schedule: { kind: r.schedule, period: Math.max(1, steps * r.epochs) },
    seed: r.seed,
    test: data.test,
    onStep: () => (opts.signal.aborted ? false : undefined),
    onEpoch: (e) => {
      if (opts.signal.aborted) return;
      const acc = e.testAccuracy === undefined ? '' : `, test accuracy ${percent(e.testAccuracy)}`;
      opts.progress(
        `epoch ${e.epoch}/${r.epochs}: loss ${e.trainLoss.toFixed(4)}${acc}, ${Math.round(e.samplesPerSec)} samples/s, ${e.seconds.toFixed(1)} s`,
      );
    },
  });
  if (opts.signal.aborted) return undefined;
  const trainSeconds = (performance.now() - started) / 1000;
  const model = withAccuracy(result.model, result.testAccuracy);
  saveModel(model, path);
  pruneDemoCache(dir, path, DEMO_CACHE_KEEP, opts.progress);
  opts.progress(`trained in ${trainSeconds.toFixed(0)} s; cached at ${path}`);
  return { ...base, cached: false, testAccuracy: result.testAccuracy, trainSeconds };
}

/** The cached model's test accuracy, or undefined when there is no usable cached model (then it is trained again). */
function readCached(path: string, progress: (message: string) => void): { testAccuracy?: number } | undefined {
  if (!existsSync(path)) return undefined;
  let model: ModelProto;
  try {
    model = loadModel(path);
  } catch (e) {
    progress(`the cached model at ${path} cannot be read (${errorMessage(e)}); training it again`);
    return undefined;
  }
  const text = model.metadataProps.find((p) => p.key === ACCURACY_KEY)?.value;
  const testAccuracy = text === undefined ? undefined : Number(text);
  return { testAccuracy: Number.isFinite(testAccuracy) ? testAccuracy : undefined };
}

function withAccuracy(model: ModelProto, accuracy: number | undefined): ModelProto {
  if (accuracy === undefined) return model;
  const metadataProps = [...model.metadataProps.filter((p) => p.key !== ACCURACY_KEY), { key: ACCURACY_KEY, value: String(accuracy) }];
  return { ...model, metadataProps };
}

/**
 * The cache file's name: the architecture, every training setting and Hone's version, so a change to any of
 * them (or to the trainer, with a new version) trains afresh instead of reusing a stale model.
 */
export function cacheName(trainSamples: number, version = VERSION): string {
  const r = DEMO_RECIPE;
  const arch = r.model.replace(/[^\w.-]+/g, '_');
  return `${arch}.${r.optimizer}-lr${r.lr}-${r.schedule}-e${r.epochs}-b${r.batchSize}-seed${r.seed}-n${trainSamples}.hone-${version}.onnx`;
}

/**
 * A cached model's time of last use is its file's mtime: set to now when a run reuses it, so pruning keeps
 * the models in use rather than the ones trained last. Best effort: a read-only cache is still used.
 */
function markUsed(path: string): void {
  try {
    const now = new Date();
    utimesSync(path, now, now);
  } catch {
    /* the model is read all the same; it may only be pruned sooner */
  }
}

/**
 * Removes all but the `keep` most recently used trained models from the demo's cache folder `dir` (one per
 * sample count and Hone version, a few MB each), never `inUse` (the one this run uses), which counts as
 * one of them. Only files named as `cacheName` names them are touched: not a temporary file another demo
 * is writing, nor anything else kept there. Another demo may prune at the same time: a file gone already
 * is fine. A file that cannot be removed (permissions) is left and `warn`ed about: the demo goes on.
 * Returns the names removed.
 */
export function pruneDemoCache(dir: string, inUse: string, keep = DEMO_CACHE_KEEP, warn: (message: string) => void = () => {}): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const entries: { name: string; path: string; mtimeMs: number }[] = [];
  for (const name of names) {
    if (!CACHE_ENTRY.test(name)) continue;
    const path = join(dir, name);
    if (resolve(path) === resolve(inUse)) continue;
    try {
      entries.push({ name, path, mtimeMs: statSync(path).mtimeMs });
    } catch {
      /* removed meanwhile by another demo */
    }
  }
  entries.sort((a, b) => b.mtimeMs - a.mtimeMs || a.name.localeCompare(b.name));
  const removed: string[] = [];
  for (const e of entries.slice(Math.max(0, keep - 1))) {
    try {
      unlinkSync(e.path);
      removed.push(e.name);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') warn(`could not remove the older cached model ${e.path}: ${errorMessage(err)}`);
    }
  }
  return removed;
}

/** What `cacheName` writes, for any model, settings and version (never a dot file: `writeFileAtomic`'s temporary files). */
const CACHE_ENTRY = /^[^.].*\.hone-.+\.onnx$/;

/** ~/.cache/hone/demo, or the OS temp folder's hone/demo when home is not writable. */
function demoCacheDir(): string {
  const home = join(homedir(), '.cache', 'hone', 'demo');
  try {
    mkdirSync(home, { recursive: true });
    accessSync(home, constants.W_OK);
    return home;
  } catch {
    const tmp = join(tmpdir(), 'hone', 'demo');
    try {
      mkdirSync(tmp, { recursive: true });
    } catch (e) {
      throw badInput(`cannot cache the demo's trained model: neither ${home} nor ${tmp} can be created (${errorMessage(e)})`);
    }
    return tmp;
  }
}

function samplesFromEnv(): number | undefined {
  const text = process.env[SAMPLES_ENV];
  if (text === undefined || text === '') return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw badInput(`${SAMPLES_ENV} must be an integer >= 1 (training digits), got '${text}'`);
  return n;
}

function interrupted(io: Io, reason: unknown, what: string): number {
  io.stderr(`hone: demo interrupted (${String(reason)}) ${what}\n`);
  return interruptExitCode(reason);
}

/** The text report: what was trained, `hone optimize`'s before/after report, where the files are, what next. */
function demoText(t: TrainedModel, result: OptimizeResult, outDir: string): string {
  const acc =
    t.testAccuracy === undefined ? '' : `: test accuracy ${percent(t.testAccuracy)} on ${count(mnist().test.size)} held-out digits`;
  const how = t.cached
    ? `using the trained model cached at ${t.path}`
    : `trained in ${t.trainSeconds!.toFixed(0)} s (${t.epochs} epochs on ${count(t.trainSamples)} MNIST digits); cached at ${t.path}`;
  const out = [
    `1. ${t.spec} on MNIST${acc}`,
    `   ${how}`,
    '',
    `2. ${optimizeText(result.report, result.candidates, outDir).trimEnd()}`,
    '',
  ];
  out.push(
    `Written to ${outDir}: report.html (open it in a browser: speed against accuracy for every candidate, per-op time`,
    `  before and after), model.onnx (the ${result.report.chosen ? 'chosen' : 'unchanged'} model), report.json (the numbers and the`,
    '  SessionOptions to use) and candidates.json (every candidate: passes, settings, metrics, why kept or not)',
    `Next: the same for your own model: 'hone profile your-model.onnx' (where its time goes), then`,
    `  'hone optimize your-model.onnx -o your-model-opt --data calib.npz --budget 15m' (see 'hone optimize --help')`,
  );
  if (result.report.chosen)
    out.push(`  'hone profile ${shellWord(join(outDir, 'model.onnx'))}' shows where the chosen model's time goes now`);
  return `${out.join('\n')}\n`;
}

function count(n: number): string {
  return n.toLocaleString('en-US');
}

function percent(v: number): string {
  return `${(100 * v).toFixed(2)}%`;
}
