/**
 * Training throughput and accuracy, Hone vs PyTorch on the same machine, thread count, model, initial
 * weights, data order, optimizer (Adam) and batch size. Runs blocks (Hone, then PyTorch) and repeats them,
 * reporting medians — never alternating run by run (ORT's and PyTorch's spinning threads would collide).
 *
 *   npx tsx bench/train.ts [--models mlp,lenet5,resnet,resnet18,mobilenet,transformer] [--batches 32,64,128]
 *                          [--repeats 3] [--steps N | --seconds 3] [--threads 2] [--seq 64]
 *                          [--accuracy-epochs 3] [--skip-accuracy] [--skip-adam] [--check] [--default-malloc]
 *
 * Models: the zoo's MLP 784-512-256-10 and LeNet-5 on MNIST; resnet (zoo defaults: 3 stages of 2 basic
 * blocks, widths 16-32-64) and resnet18 (the same at ResNet-18's widths 64-128-256) on 3×32×32 inputs,
 * mobilenet (zoo MobileNet-v2 defaults, 3×96×96) with random but fixed images and labels (cross-entropy);
 * transformer (zoo defaults: 4 pre-LN layers, dModel 256, 4 heads, FFN 1024, Gelu; sequence --seq) on
 * random inputs regressed onto random targets (MSE: the zoo transformer has no head). PyTorch rebuilds
 * each one (bench/train_torch.py) and loads the zoo's initial weights through an explicit name map.
 *
 * Batches: --batches, else 64 and 128 for mlp and lenet5 and 64 for the others (a full run near 10 minutes).
 * Steps per run: --steps N, else sized per model and batch from Hone's warm-up run to about --seconds
 * (5 to 2000 steps); both sides run the same steps. samples/s is the steady state on both sides: the first
 * WARM_STEPS steps of a run are left out (a fresh ORT session plans its memory in its first runs); the
 * step split columns average every step.
 *
 * Both sides run with glibc's malloc told to keep large buffers (bench/torch-baseline.ts, withSteadyMalloc:
 * the bench re-runs itself with GLIBC_TUNABLES set): PyTorch frees and re-maps its activations every step
 * otherwise, paying a page fault per 4 KiB, which on this project's VMs made its step times switch between
 * two levels (ResNet-18 widths: 87 samples/s by default, 104 with the setting). --default-malloc runs
 * without it.
 *
 * PyTorch comes from /usr/bin/python3 (Debian's python3-torch); without it only Hone's numbers print.
 * Before any ratio the bench checks PyTorch's backends (bench/torch_check.py: an optimized BLAS, oneDNN
 * convolutions; exits 2 naming the fix otherwise) and that each PyTorch model is the zoo model: one
 * eval-mode forward of both on the same input (ORT on the zoo model) must agree to 1e-3 relative, or it
 * exits 2. --check runs only these checks.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { type Dataset, encodeNpy, mnist, permutation } from '../src/data/index.js';
import { GraphBuilder } from '../src/ir/builder.js';
import { DataType } from '../src/ir/dtype.js';
import { tensorArray } from '../src/ir/tensor.js';
import type { ModelProto } from '../src/ir/proto.js';
import { createSession, mulberry32, sessionOptions } from '../src/runtime/index.js';
import { torchBaseline, withSteadyMalloc } from './torch-baseline.js';
import { encodeModel } from '../src/ir/codec.js';
import { cpuDescription } from '../src/runtime/cpu.js';
import { createOptimizer, type LossSpec, train } from '../src/train/index.js';
import { lenet5, mlp, mobilenet, resnet, transformer } from '../src/zoo/index.js';
import { LENET5_DEFAULTS } from '../src/zoo/lenet5.js';
import { MLP_DEFAULTS } from '../src/zoo/mlp.js';
import { MOBILENET_DEFAULTS } from '../src/zoo/mobilenet.js';
import { RESNET_DEFAULTS } from '../src/zoo/resnet.js';
import { TRANSFORMER_DEFAULTS } from '../src/zoo/transformer.js';

const { values } = parseArgs({
  options: {
    models: { type: 'string', default: 'mlp,lenet5,resnet,resnet18,mobilenet,transformer' },
    batches: { type: 'string' },
    repeats: { type: 'string', default: '3' },
    steps: { type: 'string' },
    seconds: { type: 'string', default: '3' },
    threads: { type: 'string', default: '2' },
    seq: { type: 'string', default: '64' },
    'accuracy-epochs': { type: 'string', default: '3' },
    'skip-accuracy': { type: 'boolean' },
    'skip-adam': { type: 'boolean' },
    check: { type: 'boolean' },
    python: { type: 'string', default: '/usr/bin/python3' },
    'default-malloc': { type: 'boolean' },
  },
});
withSteadyMalloc(values['default-malloc'] === true);
const fail = (message: string): never => {
  console.error(message);
  process.exit(2);
};
const positive = (flag: string, text: string) => {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) fail(`--${flag} must be a positive integer, got '${text}'`);
  return n;
};
const repeats = positive('repeats', values.repeats!);
const fixedSteps = values.steps === undefined ? undefined : positive('steps', values.steps);
const targetSeconds = Number(values.seconds);
if (!(targetSeconds > 0)) fail(`--seconds must be a positive number, got '${values.seconds}'`);
const threads = positive('threads', values.threads!);
const seq = positive('seq', values.seq!);
const accEpochs = positive('accuracy-epochs', values['accuracy-epochs']!);
const batchFlag = values.batches?.split(',').map((b) => positive('batches', b.trim()));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** A bench model: the zoo model, the options PyTorch rebuilds it from, its data and loss. */
interface BenchModel {
  label: string;
  arch: 'mlp' | 'lenet5' | 'resnet' | 'mobilenet' | 'transformer';
  options: object;
  build(): ModelProto;
  /** 'mnist', or random inputs of this per-sample shape. */
  data: 'mnist' | { sample: number[]; labels: 'classes' | 'targets' };
  loss: LossSpec;
  dims?: Record<string, number>;
}
const resnet18Widths = { widths: [64, 128, 256] };
const mlpHidden = { hidden: [512, 256] };
const CATALOG: Record<string, BenchModel> = {
  mlp: {
    label: 'MLP 784-512-256-10',
    arch: 'mlp',
    options: { ...MLP_DEFAULTS, ...mlpHidden },
    build: () => mlp(mlpHidden),
    data: 'mnist',
    loss: { kind: 'cross-entropy' },
  },
  lenet5: {
    label: 'LeNet-5',
    arch: 'lenet5',
    options: LENET5_DEFAULTS,
    build: () => lenet5(),
    data: 'mnist',
    loss: { kind: 'cross-entropy' },
  },
  resnet: {
    label: 'ResNet 2-2-2 × 16-32-64',
    arch: 'resnet',
    options: RESNET_DEFAULTS,
    build: () => resnet(),
    data: { sample: [RESNET_DEFAULTS.inputChannels, RESNET_DEFAULTS.size, RESNET_DEFAULTS.size], labels: 'classes' },
    loss: { kind: 'cross-entropy' },
  },
  resnet18: {
    label: 'ResNet 2-2-2 × 64-128-256',
    arch: 'resnet',
    options: { ...RESNET_DEFAULTS, ...resnet18Widths },
    build: () => resnet(resnet18Widths),
    data: { sample: [RESNET_DEFAULTS.inputChannels, RESNET_DEFAULTS.size, RESNET_DEFAULTS.size], labels: 'classes' },
    loss: { kind: 'cross-entropy' },
  },
  mobilenet: {
    label: `MobileNet-v2 ${MOBILENET_DEFAULTS.size}×${MOBILENET_DEFAULTS.size}`,
    arch: 'mobilenet',
    options: MOBILENET_DEFAULTS,
    build: () => mobilenet(),
    data: { sample: [MOBILENET_DEFAULTS.inputChannels, MOBILENET_DEFAULTS.size, MOBILENET_DEFAULTS.size], labels: 'classes' },
    loss: { kind: 'cross-entropy' },
  },
  transformer: {
    label: `Transformer ${TRANSFORMER_DEFAULTS.layers}×${TRANSFORMER_DEFAULTS.dModel} seq ${seq}`,
    arch: 'transformer',
    options: TRANSFORMER_DEFAULTS,
    build: () => transformer(),
    data: { sample: [seq, TRANSFORMER_DEFAULTS.dModel], labels: 'targets' },
    loss: { kind: 'mse' },
    dims: { seq },
  },
};
/** --batches, else 64 and 128 for the MNIST models and 64 for the larger ones (a full run stays near 10 minutes). */
const batchesOf = (name: string) => batchFlag ?? (CATALOG[name]!.data === 'mnist' ? [64, 128] : [64]);
const selected = values.models!.split(',').map((m) => m.trim());
for (const m of selected) if (!CATALOG[m]) fail(`unknown bench model '${m}'; choose from ${Object.keys(CATALOG).join(', ')}`);

// ---- PyTorch and its backends ----------------------------------------------------------------------
const baseline = torchBaseline(values.python!, threads);
const hasTorch = baseline.available;
const torchEnv = baseline.env;
console.log(baseline.header);
console.log(`malloc: ${process.env.GLIBC_TUNABLES ? `GLIBC_TUNABLES=${process.env.GLIBC_TUNABLES}` : "glibc's defaults"} (both sides)`);

// ---- models, weights and data, written for PyTorch ---------------------------------------------------
const dir = mkdtempSync(join(tmpdir(), 'hone-bench-train-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const save = (name: string, data: Float32Array | BigInt64Array, dims: number[]) =>
  writeFileSync(join(dir, `${name}.npy`), encodeNpy(data, dims));
const { train: mnistTrain, test: mnistTest } = mnist();
const datasets = new Map<string, Dataset>();
const dataOf = (name: string): { key: string; set: Dataset } => {
  const m = CATALOG[name]!;
  const key = m.data === 'mnist' ? 'mnist' : name;
  let set = datasets.get(key);
  if (!set) {
    if (m.data === 'mnist') {
      set = mnistTrain;
      save('mnist.x_test', mnistTest.features.input!.data as Float32Array, mnistTest.features.input!.dims);
      save('mnist.y_test', mnistTest.labels.data as BigInt64Array, mnistTest.labels.dims);
    } else {
      // Random but fixed: unit-variance inputs, uniform class labels or unit-variance targets.
      const n = 4 * Math.max(...batchesOf(name));
      const per = m.data.sample.reduce((a, b) => a * b, 1);
      const next = mulberry32(0x5eed + per);
      const x = Float32Array.from({ length: n * per }, () => (2 * next() - 1) * Math.sqrt(3));
      const classes = (m.options as { classes?: number }).classes ?? 10;
      const labels =
        m.data.labels === 'classes'
          ? { data: BigInt64Array.from({ length: n }, () => BigInt(Math.floor(next() * classes))), dims: [n] }
          : { data: Float32Array.from({ length: n * per }, () => (2 * next() - 1) * Math.sqrt(3)), dims: [n, ...m.data.sample] };
      set = { features: { input: { data: x, dims: [n, ...m.data.sample] } }, labels, size: n };
    }
    save(`${key}.x`, set.features.input!.data as Float32Array, set.features.input!.dims);
    save(`${key}.y`, set.labels.data as Float32Array | BigInt64Array, set.labels.dims);
    datasets.set(key, set);
  }
  return { key, set };
};
// The trainer shuffles epoch e with permutation(n, seed·1000003 + e); PyTorch replays the same order.
const ordersWritten = new Map<string, number>();
const writeOrders = (key: string, n: number, epochs: number) => {
  for (let e = ordersWritten.get(key) ?? 0; e < epochs; e++)
    save(
      `${key}.order_${e}`,
      BigInt64Array.from(permutation(n, e), (v) => BigInt(v)),
      [n],
    );
  ordersWritten.set(key, Math.max(epochs, ordersWritten.get(key) ?? 0));
};

const needed = new Set(selected);
if (!values['skip-accuracy'] && !values.check) needed.add('lenet5');
const models: Record<string, ModelProto> = {};
const manifest: Record<string, object> = {};
for (const name of needed) {
  const m = CATALOG[name]!;
  const model = m.build();
  models[name] = model;
  // Every float tensor with a shape (weights, biases, BatchNorm statistics); scalar constants are structure.
  const initializers: Record<string, number[]> = {};
  for (const t of model.graph!.initializer) {
    if (t.dataType !== DataType.FLOAT || t.dims.length === 0) continue;
    const dims = t.dims.map(Number);
    initializers[t.name!] = dims;
    save(`${name}.${t.name}`, Float32Array.from(tensorArray(t) as Float32Array), dims);
  }
  manifest[name] = { arch: m.arch, options: m.options, initializers };
  dataOf(name);
}
writeFileSync(join(dir, 'models.json'), JSON.stringify(manifest));

// ---- the models are the same: one eval-mode forward each, ORT on the zoo model vs PyTorch ------------
if (hasTorch) {
  const checkBatch = 4;
  const checkedNames = [...needed]; // the selected models, and LeNet-5 for the accuracy comparison
  for (const name of checkedNames) {
    const { set } = dataOf(name);
    const input = set.features.input!;
    const per = input.dims.slice(1).reduce((a, b) => a * b, 1);
    const x = (input.data as Float32Array).slice(0, checkBatch * per);
    // The zoo MLP takes flat rows of the MNIST images (the trainer reshapes them the same way).
    const rank = models[name]!.graph!.input[0]!.type?.tensorType?.shape?.dim.length;
    const dims = rank === 2 ? [checkBatch, per] : [checkBatch, ...input.dims.slice(1)];
    const session = await createSession(models[name]!, { intraOpThreads: threads });
    const out = (await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', x, dims) }))[session.outputNames[0]!]!;
    await session.release();
    save(`${name}.check_x`, x, dims);
    save(`${name}.check_ort`, out.data as Float32Array, out.dims.map(Number));
  }
  const check = spawnSync(
    values.python!,
    [join(import.meta.dirname, 'train_torch.py'), `dir=${dir}`, 'mode=check', `models=${checkedNames.join(',')}`],
    {
      encoding: 'utf8',
      env: torchEnv,
    },
  );
  // A weight map that does not cover both models exactly stops train_torch.py with a one-line reason.
  if (check.status !== 0) fail(`PyTorch model check failed: ${check.stderr.trim().split('\n').pop()}`);
  const checked = JSON.parse(check.stdout.trim().split('\n').pop()!) as {
    models: Record<string, { shape: number[]; maxAbsDiff: number | null; maxAbsRef: number }>;
  };
  const lines: string[] = [];
  let same = true;
  for (const name of checkedNames) {
    const c = checked.models[name]!;
    const rel = c.maxAbsDiff === null ? Number.POSITIVE_INFINITY : c.maxAbsDiff / Math.max(c.maxAbsRef, 1e-12);
    const ok = rel <= 1e-3;
    same &&= ok;
    lines.push(
      `${name} ${c.maxAbsDiff === null ? `output shape [${c.shape}] differs` : `max |Δ| ${c.maxAbsDiff.toExponential(1)} (outputs up to ${c.maxAbsRef.toFixed(2)}, relative ${rel.toExponential(1)})`}${ok ? '' : ' MISMATCH'}`,
    );
  }
  console.log(`Same models: one eval-mode forward of ${checkBatch} samples, ORT (zoo model) vs PyTorch: ${lines.join('; ')}`);
  if (!same) fail('the PyTorch and zoo models disagree beyond 1e-3 relative (MISMATCH above); no ratio is printed for different models');
} else if (values.check) fail(`--check needs PyTorch: ${values.python} cannot import torch (apt-get install python3-torch)`);
if (values.check) process.exit(0);

/** Steps left out of samples/s on both sides (session warm-up: ORT plans memory in its first runs). */
const WARM_STEPS = 2;

interface Run {
  samplesPerSec: number;
  graphMs: number;
  optimizerMs: number;
  dataMs: number;
  steps: number;
  trainAccuracy?: number;
  testAccuracy?: number;
}

/** Epochs × steps per epoch that cover `steps` steps (the synthetic sets hold a few batches). */
function schedule(name: string, batch: number, steps: number): { epochs: number; perEpoch: number } {
  const { key, set } = dataOf(name);
  const perEpoch = Math.min(Math.floor(set.size / batch), steps);
  const epochs = Math.ceil(steps / perEpoch);
  writeOrders(key, set.size, epochs);
  return { epochs, perEpoch };
}

async function hone(name: string, batch: number, epochs: number, perEpoch?: number, test?: Dataset): Promise<Run> {
  const m = CATALOG[name]!;
  // Steady-state throughput: from the end of step WARM_STEPS to the end of the last (each train() builds a
  // fresh session, whose first runs plan memory; on the MLP they doubled a 60-step run's mean step).
  const ends: number[] = [];
  const r = await train(models[name]!, dataOf(name).set, {
    onStep: () => {
      ends.push(performance.now());
      return undefined;
    },
    epochs,
    batchSize: batch,
    lr: 1e-3,
    optimizer: { kind: 'adam' },
    loss: m.loss,
    dims: m.dims,
    test,
    threads,
    maxStepsPerEpoch: perEpoch,
  });
  const steady =
    ends.length > WARM_STEPS ? ((ends.length - WARM_STEPS) * batch * 1000) / (ends.at(-1)! - ends[WARM_STEPS - 1]!) : r.samplesPerSec;
  return { samplesPerSec: steady, ...r.timing, trainAccuracy: r.trainAccuracy, testAccuracy: r.testAccuracy };
}

/**
 * PyTorch with both OpenMP wait policies (spinning, the default, and passive), keeping the faster: Hone
 * turns ORT's spinning off, so PyTorch gets the same choice.
 */
function torch(name: string, batch: number, epochs: number, perEpoch?: number): Run | undefined {
  if (!hasTorch) return undefined;
  const { key } = dataOf(name);
  const once = (policy: string) => {
    const out = execFileSync(
      values.python!,
      [
        join(import.meta.dirname, 'train_torch.py'),
        `dir=${dir}`,
        `model=${name}`,
        `data=${key}`,
        `loss=${CATALOG[name]!.loss.kind === 'mse' ? 'mse' : 'ce'}`,
        `batch=${batch}`,
        `threads=${threads}`,
        `epochs=${epochs}`,
        ...(perEpoch ? [`steps=${perEpoch}`] : []),
        `warm=${WARM_STEPS}`,
      ],
      { encoding: 'utf8', env: { ...torchEnv, OMP_WAIT_POLICY: policy } },
    );
    return JSON.parse(out.trim().split('\n').pop()!) as Run;
  };
  const [a, b] = [once('ACTIVE'), once('PASSIVE')];
  return a.samplesPerSec >= b.samplesPerSec ? a : b;
}

const split = (r: Run) => {
  const per = (ms: number) => (ms / r.steps).toFixed(2);
  return `graph ${per(r.graphMs)} / opt ${per(r.optimizerMs)} / data ${per(r.dataMs)} ms/step`;
};

console.log(
  `\n# Training throughput (samples/s, median of ${repeats}; ${fixedSteps ? `${fixedSteps} steps` : `steps for ~${targetSeconds} s`} per run; ${threads} threads; Adam)`,
);
console.log('| model | batch | steps | Hone | PyTorch | ratio | Hone step split | PyTorch step split |');
console.log('|---|---|---|---|---|---|---|---|');
for (const name of selected) {
  for (const batch of batchesOf(name)) {
    if (dataOf(name).set.size < batch)
      fail(`batch ${batch} is larger than ${name}'s ${dataOf(name).set.size} samples; choose a smaller one`);
    const h: Run[] = [];
    const t: Run[] = [];
    const warm = await hone(name, batch, 1, 3); // first session creation, JIT; sizes the runs
    const steps =
      fixedSteps ??
      Math.max(
        3 + WARM_STEPS,
        Math.min(2000, Math.round((targetSeconds * 1000 * warm.steps) / (warm.graphMs + warm.optimizerMs + warm.dataMs))),
      );
    const { epochs, perEpoch } = schedule(name, batch, steps);
    for (let i = 0; i < repeats; i++) {
      h.push(await hone(name, batch, epochs, perEpoch));
      const tr = torch(name, batch, epochs, perEpoch);
      if (tr) t.push(tr);
    }
    const hs = median(h.map((r) => r.samplesPerSec));
    const ts = t.length ? median(t.map((r) => r.samplesPerSec)) : undefined;
    const hm = h.find((r) => r.samplesPerSec === hs)!;
    const tm = t.find((r) => r.samplesPerSec === ts);
    console.log(
      `| ${name} | ${batch} | ${epochs * perEpoch} | ${Math.round(hs)} | ${ts ? Math.round(ts) : 'n/a'} | ${ts ? `${(hs / ts).toFixed(2)}x` : 'n/a'} | ${split(hm)} | ${tm ? split(tm) : 'n/a'} |`,
    );
  }
}
console.log(`\nModels: ${selected.map((n) => `${n} = ${CATALOG[n]!.label}`).join('; ')}`);

// Where should Adam run? The same update over the MLP's 535k parameters: JS loop, the WebAssembly SIMD
// kernel over the optimizer's own arrays (what the trainer uses), and an ONNX graph.
if (!values['skip-adam']) {
  const sizes = mlp(mlpHidden).graph!.initializer.map((t) => t.dims.reduce((a, b) => a * Number(b), 1));
  const N = 200;
  const timeSteps = (wasm: boolean) => {
    const opt = createOptimizer({ kind: 'adam' }, sizes);
    const own = opt.allocate();
    const params = wasm ? own.params : sizes.map((n) => new Float32Array(n));
    const grads = wasm ? own.grads : sizes.map((n) => new Float32Array(n));
    params.forEach((p) => p.fill(0.1));
    grads.forEach((g) => g.fill(0.01));
    for (let i = 0; i < 20; i++) opt.step(params, grads, 1e-3);
    const t = performance.now();
    for (let i = 0; i < N; i++) opt.step(params, grads, 1e-3);
    return (performance.now() - t) / N;
  };
  const jsMs = timeSteps(false);
  const wasmMs = timeSteps(true);
  // In-graph: one session computing p', m', v' for every parameter; outputs double-buffered into the inputs.
  const b = new GraphBuilder('adam');
  const lr = b.input('lr_t', DataType.FLOAT, []);
  const c = (v: number) => b.floatInit('c', [], [v]);
  const b1 = c(0.9),
    b2 = c(0.999),
    nb1 = c(0.1),
    nb2 = c(0.001),
    eps = c(1e-8);
  sizes.forEach((n, k) => {
    const [p, g, m, v] = ['p', 'g', 'm', 'v'].map((s) => b.input(`${s}${k}`, DataType.FLOAT, [n]));
    const m2 = b.op('Add', [b.op('Mul', [m!, b1]), b.op('Mul', [g!, nb1])], {}, { output: `m${k}_out` });
    const v2 = b.op('Add', [b.op('Mul', [v!, b2]), b.op('Mul', [b.op('Mul', [g!, g!]), nb2])], {}, { output: `v${k}_out` });
    b.op('Sub', [p!, b.op('Div', [b.op('Mul', [m2, lr]), b.op('Add', [b.op('Sqrt', [v2]), eps])])], {}, { output: `p${k}_out` });
    for (const s of ['p', 'm', 'v']) b.output(`${s}${k}_out`, DataType.FLOAT, [n]);
  });
  // Same session settings as the trainer's (intra-op spinning off).
  const so = sessionOptions({ intraOpThreads: threads });
  so.extra = { session: { intra_op: { allow_spinning: '0' } } };
  const sess = await ort.InferenceSession.create(encodeModel(b.model()), so);
  const bufs = sizes.map((n) => ({
    a: ['p', 'm', 'v'].map(() => new Float32Array(n)),
    b: ['p', 'm', 'v'].map(() => new Float32Array(n)),
    g: new Float32Array(n).fill(0.01),
  }));
  const feedsFor = (flip: boolean) => {
    const feeds: Record<string, ort.Tensor> = { lr_t: new ort.Tensor('float32', Float32Array.of(1e-3), []) };
    const fetches: Record<string, ort.Tensor> = {};
    bufs.forEach((x, k) => {
      const [src, dst] = flip ? [x.b, x.a] : [x.a, x.b];
      ['p', 'm', 'v'].forEach((s, j) => {
        feeds[`${s}${k}`] = new ort.Tensor('float32', src[j]!, [sizes[k]!]);
        fetches[`${s}${k}_out`] = new ort.Tensor('float32', dst[j]!, [sizes[k]!]);
      });
      feeds[`g${k}`] = new ort.Tensor('float32', x.g, [sizes[k]!]);
    });
    return [feeds, fetches] as const;
  };
  const even = feedsFor(false);
  const odd = feedsFor(true);
  for (let i = 0; i < 20; i++) await sess.run(...(i % 2 ? odd : even));
  const t0 = performance.now();
  for (let i = 0; i < N; i++) await sess.run(...(i % 2 ? odd : even));
  const graphMs = (performance.now() - t0) / N;
  console.log(
    `\nAdam update, MLP (${sizes.reduce((a, b) => a + b, 0)} params): JS loop ${jsMs.toFixed(2)} ms, WebAssembly SIMD ${wasmMs.toFixed(2)} ms, in-graph (ORT, ${threads} threads) ${graphMs.toFixed(2)} ms per step`,
  );
}

if (!values['skip-accuracy']) {
  console.log(
    `\n# LeNet-5 on MNIST (8,000 train / 2,000 test), Adam 1e-3, batch 64, ${accEpochs} epochs, same initial weights and data order`,
  );
  writeOrders('mnist', mnistTrain.size, accEpochs);
  const h = await hone('lenet5', 64, accEpochs, undefined, mnistTest);
  const t = torch('lenet5', 64, accEpochs);
  console.log(`Hone:    test accuracy ${(100 * h.testAccuracy!).toFixed(2)}%  (${Math.round(h.samplesPerSec)} samples/s)`);
  if (t)
    console.log(
      `PyTorch: test accuracy ${(100 * t.testAccuracy!).toFixed(2)}%  (${Math.round(t.samplesPerSec)} samples/s)  difference ${(100 * (h.testAccuracy! - t.testAccuracy!)).toFixed(2)} points`,
    );
}
console.log(`\nmachine: ${cpuDescription()}, ${availableParallelism()} CPUs`);
