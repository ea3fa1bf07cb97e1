/**
 * Training throughput and accuracy, Hone vs PyTorch on the same machine, thread count, model, initial
 * weights, data order, optimizer (Adam) and batch size. Runs blocks (Hone, then PyTorch) and repeats them,
 * reporting medians — never alternating run by run (ORT's and PyTorch's spinning threads would collide).
 *
 *   npx tsx bench/train.ts [--repeats 3] [--steps 60] [--accuracy-epochs 3] [--threads 2] [--skip-accuracy]
 *                          [--models mlp,lenet5] [--skip-adam]
 *
 * PyTorch comes from /usr/bin/python3 (Debian's python3-torch); without it only Hone's numbers print.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { encodeNpy, mnist, permutation } from '../src/data/index.js';
import { GraphBuilder } from '../src/ir/builder.js';
import { DataType } from '../src/ir/dtype.js';
import { tensorArray } from '../src/ir/tensor.js';
import type { ModelProto } from '../src/ir/proto.js';
import { sessionOptions } from '../src/runtime/index.js';
import { encodeModel } from '../src/ir/codec.js';
import { createOptimizer, train } from '../src/train/index.js';
import { zooModel } from '../src/zoo/index.js';

const { values } = parseArgs({
  options: {
    repeats: { type: 'string', default: '3' },
    steps: { type: 'string', default: '60' },
    threads: { type: 'string', default: '2' },
    'accuracy-epochs': { type: 'string', default: '3' },
    'skip-accuracy': { type: 'boolean' },
    python: { type: 'string', default: '/usr/bin/python3' },
    models: { type: 'string', default: 'mlp,lenet5' },
    'skip-adam': { type: 'boolean' },
  },
});
const repeats = Number(values.repeats);
const steps = Number(values.steps);
const threads = Number(values.threads);
const accEpochs = Number(values['accuracy-epochs']);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const hasTorch = spawnSync(values.python!, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
const dir = mkdtempSync(join(tmpdir(), 'hone-bench-train-'));
const { train: trainSet, test } = mnist();
const save = (name: string, data: Float32Array | BigInt64Array, dims: number[]) =>
  writeFileSync(join(dir, `${name}.npy`), encodeNpy(data, dims));
save('x_train', trainSet.features.input!.data as Float32Array, trainSet.features.input!.dims);
save('y_train', trainSet.labels.data as BigInt64Array, trainSet.labels.dims);
save('x_test', test.features.input!.data as Float32Array, test.features.input!.dims);
save('y_test', test.labels.data as BigInt64Array, test.labels.dims);
// The trainer shuffles epoch e with permutation(n, seed·1000003 + e); PyTorch replays the same order.
for (let e = 0; e < Math.max(accEpochs, 1); e++)
  save(
    `order_${e}`,
    BigInt64Array.from(permutation(trainSet.size, e), (v) => BigInt(v)),
    [trainSet.size],
  );
const models: Record<string, ModelProto> = { mlp: zooModel('mlp:hidden=512-256'), lenet5: zooModel('lenet5') };
for (const [name, m] of Object.entries(models)) {
  for (const t of m.graph!.initializer) save(`${name}.${t.name}`, Float32Array.from(tensorArray(t) as Float32Array), t.dims.map(Number));
}

interface Run {
  samplesPerSec: number;
  graphMs: number;
  optimizerMs: number;
  dataMs: number;
  steps: number;
  trainAccuracy?: number;
  testAccuracy?: number;
}

async function hone(model: string, batch: number, epochs: number, maxSteps?: number): Promise<Run> {
  const r = await train(models[model]!, trainSet, {
    epochs,
    batchSize: batch,
    lr: 1e-3,
    optimizer: { kind: 'adam' },
    test,
    threads,
    maxStepsPerEpoch: maxSteps,
  });
  return { samplesPerSec: r.samplesPerSec, ...r.timing, trainAccuracy: r.trainAccuracy, testAccuracy: r.testAccuracy };
}

/**
 * PyTorch with both OpenMP wait policies (spinning, the default, and passive), keeping the faster: Hone
 * turns ORT's spinning off, so PyTorch gets the same choice.
 */
function torch(model: string, batch: number, epochs: number, maxSteps?: number): Run | undefined {
  if (!hasTorch) return undefined;
  const once = (policy: string) => {
    const out = execFileSync(
      values.python!,
      [
        join(import.meta.dirname, 'train_torch.py'),
        `dir=${dir}`,
        `model=${model}`,
        `batch=${batch}`,
        `threads=${threads}`,
        `epochs=${epochs}`,
        ...(maxSteps ? [`steps=${maxSteps}`] : []),
      ],
      {
        encoding: 'utf8',
        env: { ...process.env, OMP_NUM_THREADS: String(threads), MKL_NUM_THREADS: String(threads), OMP_WAIT_POLICY: policy },
      },
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

console.log(`# Training throughput (samples/s, median of ${repeats}; ${steps} steps per run; ${threads} threads; Adam)`);
console.log('| model | batch | Hone | PyTorch | ratio | Hone step split | PyTorch step split |');
console.log('|---|---|---|---|---|---|---|');
for (const model of values.models!.split(',')) {
  for (const batch of [64, 128]) {
    const h: Run[] = [];
    const t: Run[] = [];
    await hone(model, batch, 1, 5); // warm-up: first session creation, JIT
    for (let i = 0; i < repeats; i++) {
      h.push(await hone(model, batch, 1, steps));
      const tr = torch(model, batch, 1, steps);
      if (tr) t.push(tr);
    }
    const hs = median(h.map((r) => r.samplesPerSec));
    const ts = t.length ? median(t.map((r) => r.samplesPerSec)) : undefined;
    const hm = h.find((r) => r.samplesPerSec === hs)!;
    const tm = t.find((r) => r.samplesPerSec === ts);
    console.log(
      `| ${model} | ${batch} | ${Math.round(hs)} | ${ts ? Math.round(ts) : 'n/a'} | ${ts ? `${(hs / ts).toFixed(2)}x` : 'n/a'} | ${split(hm)} | ${tm ? split(tm) : 'n/a'} |`,
    );
  }
}

// Where should Adam run? The same update over the MLP's 535k parameters: JS loop, the WebAssembly SIMD
// kernel over the optimizer's own arrays (what the trainer uses), and an ONNX graph.
if (!values['skip-adam']) {
  const sizes = models.mlp!.graph!.initializer.map((t) => t.dims.reduce((a, b) => a * Number(b), 1));
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
  const h = await hone('lenet5', 64, accEpochs);
  const t = torch('lenet5', 64, accEpochs);
  console.log(`Hone:    test accuracy ${(100 * h.testAccuracy!).toFixed(2)}%  (${Math.round(h.samplesPerSec)} samples/s)`);
  if (t)
    console.log(
      `PyTorch: test accuracy ${(100 * t.testAccuracy!).toFixed(2)}%  (${Math.round(t.samplesPerSec)} samples/s)  difference ${(100 * (h.testAccuracy! - t.testAccuracy!)).toFixed(2)} points`,
    );
}
console.log(
  `\nmachine: ${execFileSync('sh', ['-c', "lscpu | grep -E 'Model name|^CPU\\(s\\)' | tr -s ' ' | tr '\\n' ';'"], { encoding: 'utf8' })}`,
);
