/**
 * `hone optimize` on the three cases, each checked again after the search by an independent
 * side-by-side timing: the baseline (ORT fp32, the model as given, default session settings), the float
 * model at the chosen session settings and the chosen model with those settings take turns block by
 * block (fresh worker and session per block), and each one's latency is its least block floor. The middle
 * one splits the gain: what the session settings give (threads above all: ORT's default is one thread per
 * physical core as it counts them, which on some 2-vCPU machines is one) and what the passes give on top.
 *
 *   npx tsx bench/optimize.ts [--budget 300] [--cases transformer,cnn,browser] [--blocks 6] [--train-samples 8000]
 *
 * Cases: (1) the zoo transformer encoder (4 layers, d=256) at batch 8 × 128, no data: data-free passes,
 * fidelity as output cosine on synthetic inputs; (2) a CNN at ResNet-18 widths (zoo resnet, stages
 * 64-128-256, 2 blocks each, 1×28×28 input) trained by `train` for one epoch on the built-in MNIST's 8,000
 * training digits (cached in
 * ~/.cache/hone/bench), optimized with --data mnist for latency at batch 1 within 1 accuracy point;
 * (3) the transformer again, for the browser target (onnxruntime-web's WASM in headless Chromium) at batch
 * 1 × 128, beside the node choice for the same shape. The tables go to stdout as markdown.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { cpus, homedir, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { encodeModel } from '../src/ir/codec.js';
import { loadModel, saveModel } from '../src/ir/model.js';
import type { ModelProto } from '../src/ir/proto.js';
import { zooModel } from '../src/zoo/index.js';
import { firstSamples, mnist } from '../src/data/index.js';
import { train } from '../src/train/index.js';
import { measureInWorker } from '../src/runtime/measure.js';
import { openBrowserRuntime } from '../src/runtime/browser.js';
import { resolveInputs, type ConcreteInput } from '../src/runtime/inputs.js';
import { optimizeModel, settingsText, type OptimizeResult, type RuntimeSettings } from '../src/optimize/index.js';
import { cpuDescription } from '../src/runtime/cpu.js';

const { values: flags } = parseArgs({
  options: {
    budget: { type: 'string', default: '300' },
    cases: { type: 'string', default: 'transformer,cnn,browser' },
    blocks: { type: 'string', default: '6' },
    'train-samples': { type: 'string', default: '8000' },
  },
});
const budget = Number(flags.budget);
const blocks = Number(flags.blocks);
const cases = new Set(flags.cases!.split(','));
const machine = cpuDescription();
const say = (s = '') => console.log(s);
const log = (s: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${s}`);
say(
  `Machine: ${machine}, ${cpus().length} cores, Node ${process.version}. Date: ${new Date().toISOString().slice(0, 10)}. Budget ${budget} s per search.`,
);
say();

const TRANSFORMER = 'transformer';
const CNN = 'resnet:widths=64-128-256,blocks=2-2-2,inputChannels=1,size=28';

interface Row {
  case: string;
  chosen: string;
  settings: string;
  searchSpeedup: string;
  independent: string;
  /** The chosen model against the float model at the same settings: what the passes alone give. */
  modelAlone: string;
  fidelity: string;
  candidates: string;
  seconds: string;
}
const rows: Row[] = [];

type Arm = 'base' | 'float' | 'chosen';
const ARMS: readonly Arm[] = ['base', 'float', 'chosen'];

/**
 * The three take turns for `blocks` blocks each, the order rotating from block to block: the baseline (fp32,
 * default settings), the float model at the chosen settings (what the settings alone give) and the chosen
 * model at its settings. Each one's latency is its least block floor (ms).
 */
async function alternate(floorOf: (which: Arm) => Promise<number>) {
  const floors: Record<Arm, number[]> = { base: [], float: [], chosen: [] };
  for (let i = 0; i < blocks; i++)
    for (let k = 0; k < ARMS.length; k++) {
      const which = ARMS[(i + k) % ARMS.length]!;
      floors[which].push(await floorOf(which));
    }
  const [base, float, mine] = ARMS.map((a) => Math.min(...floors[a]));
  return { ratio: base! / mine!, base: base!, mine: mine!, float: float!, modelRatio: float! / mine! };
}

const BLOCK = { runs: 20, warmup: 3, budgetMs: 1000 };

/** The model as given is the baseline and the float arm (at other settings): encoded once for both. */
function armBytes(model: ModelProto, chosen: ModelProto): Record<Arm, Uint8Array> {
  const given = encodeModel(model);
  return { base: given, float: given, chosen: encodeModel(chosen) };
}

function independentNode(model: ModelProto, chosen: ModelProto, settings: RuntimeSettings, inputs: ConcreteInput[]) {
  const bytes = armBytes(model, chosen);
  return alternate(
    async (which) => (await measureInWorker(bytes[which], { inputs, ...BLOCK, session: which === 'base' ? {} : settings })).latencyMs.floor,
  );
}

async function independentBrowser(model: ModelProto, chosen: ModelProto, settings: RuntimeSettings, inputs: ConcreteInput[]) {
  const rt = await openBrowserRuntime();
  try {
    const bytes = armBytes(model, chosen);
    const mine = { threads: settings.intraOpThreads ?? 1, graphOptimizationLevel: settings.graphOptimizationLevel };
    const web = { base: { threads: 1 }, float: mine, chosen: mine };
    return await alternate(async (which) => (await rt.measure(bytes[which], { inputs, ...BLOCK, settings: web[which] })).latencyMs.floor);
  } finally {
    await rt.close();
  }
}

async function runCase(
  name: string,
  model: ModelProto,
  job: Omit<Parameters<typeof optimizeModel>[0], 'model'>,
  inputs: ConcreteInput[],
  browser = false,
): Promise<OptimizeResult> {
  log(`${name}: optimize (budget ${budget} s), load ${loadavg()[0]!.toFixed(2)}`);
  const started = performance.now();
  const r = await optimizeModel({ model, budget, onProgress: (m) => log(`  ${m}`), ...job });
  const seconds = (performance.now() - started) / 1000;
  const c = r.report.chosen;
  let independent = '—';
  let modelAlone = '—';
  if (c) {
    log(`${name}: independent side-by-side check, ${blocks} blocks each`);
    const v = browser
      ? await independentBrowser(model, r.model, c.settings, inputs)
      : await independentNode(model, r.model, c.settings, inputs);
    independent = `${v.ratio.toFixed(2)}x (${v.base.toFixed(3)} → ${v.mine.toFixed(3)} ms)`;
    modelAlone = `${v.modelRatio.toFixed(2)}x (${v.float.toFixed(3)} ms)`;
  }
  const f = c?.fidelity;
  rows.push({
    case: name,
    chosen: c ? c.passes.filter((p) => !p.startsWith('fold.')).join(' → ') || '(settings only)' : `nothing claimed: ${r.report.conclusion}`,
    settings: c ? settingsText(c.settings) : '—',
    searchSpeedup: c ? `${c.speedup.toFixed(2)}x` : '—',
    independent,
    modelAlone,
    fidelity: f
      ? f.accuracy
        ? `accuracy ${(100 * f.accuracy.float).toFixed(2)}% → ${(100 * f.accuracy.optimized).toFixed(2)}% (${f.samples} test digits), cosine ${f.cosine.toFixed(4)}`
        : `cosine ${f.cosine.toFixed(4)} (${f.samples} samples)`
      : '—',
    candidates: `${r.report.counts.candidates} (${r.report.counts.measured} measured, ${r.report.counts.rejected} rejected)`,
    seconds: `${seconds.toFixed(0)} s, load ${r.report.machine.loadAverage.toFixed(1)}`,
  });
  for (const n of r.report.notes) log(`  note: ${n}`);
  return r;
}

/** The ResNet-18-width CNN trained on MNIST once (cached by recipe). */
async function trainedCnn(wanted: number): Promise<{ model: ModelProto; accuracy?: number; seconds?: number }> {
  const data = mnist();
  const samples = Math.min(wanted, data.train.size);
  const dir = join(homedir(), '.cache', 'hone', 'bench');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${CNN.replace(/[:=,]/g, '_')}.adam-lr1e-3-b32-e1-n${samples}.onnx`);
  if (existsSync(path)) {
    log(`cnn: using the trained model cached at ${path}`);
    return { model: loadModel(path) };
  }
  log(`cnn: training zoo:${CNN} on ${samples} MNIST digits, 1 epoch, Adam 1e-3, batch 32`);
  const started = performance.now();
  const r = await train(zooModel(CNN), firstSamples(data.train, samples), {
    epochs: 1,
    batchSize: 32,
    optimizer: { kind: 'adam' },
    lr: 1e-3,
    seed: 0,
    test: data.test,
    onEpoch: (e) =>
      log(`  epoch ${e.epoch}: loss ${e.trainLoss.toFixed(4)}, test accuracy ${e.testAccuracy}, ${Math.round(e.samplesPerSec)} samples/s`),
  });
  saveModel(r.model, path);
  return { model: r.model, accuracy: r.testAccuracy, seconds: (performance.now() - started) / 1000 };
}

if (cases.has('transformer')) {
  const model = zooModel(TRANSFORMER);
  const inputs = resolveInputs(model, {
    dims: new Map([
      ['batch', 8],
      ['seq', 128],
    ]),
  });
  await runCase('transformer 4×256, batch 8×128, no data', model, { batchSizes: [8], dims: { seq: 128 } }, inputs);
}
if (cases.has('cnn')) {
  const { model, accuracy, seconds } = await trainedCnn(Number(flags['train-samples']));
  if (accuracy !== undefined) say(`CNN trained: test accuracy ${(100 * accuracy).toFixed(2)}% after ${seconds!.toFixed(0)} s.`);
  const inputs = resolveInputs(model, { dims: new Map([['batch', 1]]) });
  await runCase(
    'CNN at ResNet-18 widths (64-128-256), MNIST, batch 1',
    model,
    { data: 'mnist', batchSizes: [1], maxAccuracyDrop: 1 },
    inputs,
  );
}
if (cases.has('browser')) {
  const model = zooModel(TRANSFORMER);
  const inputs = resolveInputs(model, {
    dims: new Map([
      ['batch', 1],
      ['seq', 128],
    ]),
  });
  await runCase('transformer 4×256, batch 1×128: node', model, { batchSizes: [1], dims: { seq: 128 } }, inputs);
  await runCase(
    'transformer 4×256, batch 1×128: browser (Chromium, WASM)',
    model,
    { batchSizes: [1], dims: { seq: 128 }, target: 'browser' },
    inputs,
    true,
  );
}

say(
  '| case | chosen passes | session | speedup (search) | speedup (independent check) | of which the passes (against fp32 at the chosen session) | fidelity | candidates | time |',
);
say('|---|---|---|---:|---:|---:|---|---|---|');
for (const r of rows)
  say(
    `| ${r.case} | ${r.chosen} | ${r.settings} | ${r.searchSpeedup} | ${r.independent} | ${r.modelAlone} | ${r.fidelity} | ${r.candidates} | ${r.seconds} |`,
  );
