/**
 * The forms of a convolution's training kernels on ONNX Runtime, side by side in one run: what Hone's
 * gradient rules (ops/grad/nn.ts) and the step's NCHWc pass (passes/nchwc.ts) chose, against the
 * alternative, per 3×3 stride-1 layer with weights as graph inputs (as in a training step).
 *
 *   npx tsx bench/conv-grad.ts [--layers 64x32,128x16,256x8] [--batch 32] [--threads 1,2] [--rounds 15]
 *                              [--depthwise 96x48,144x24,…,96x48/2,…] [--steps 8] [--skip-step]
 *                              [--torch] [--python /usr/bin/python3] [--default-malloc]
 *
 * Layers are CHANNELSxSIZE (C→C channels, SIZE×SIZE images, pad 1). Per layer and thread count:
 * - input gradient: ConvTranspose(gy, W) against Conv(gy, W with its channel axes swapped and its taps
 *   flipped), the form Hone emits for stride 1, on NCHWc kernels as the trainer runs it;
 * - forward: ORT's Conv against ReorderInput → NCHWc Conv (filter reordered in the graph) → ReorderOutput;
 * - weight gradient: the unfolded form's per-sample GEMMs summed over the batch against one GEMM over the
 *   whole batch's positions (the patches from the one-hot depthwise Conv in both).
 * Each variant runs once per round, interleaved; the table gives medians over rounds and the ratio
 * (chosen / alternative: below 1 means the chosen form is faster). Outputs are checked to agree first.
 * Depthwise layers (--depthwise CHANNELSxSIZE[/STRIDE], 3×3, pad 1; MobileNet-v2's at 96×96 by default):
 * the weight gradient's unfolded form (one-hot grouped Conv to 9 patches, Mul, ReduceSum) against the
 * stacked form (samples stacked along the height, gy as the kernel of one depthwise Conv, dilated by the
 * stride), the latter on the NCHWc kernel (passes/nchwc.ts) as the trainer runs it and on ORT's plain
 * grouped kernel; both built by the gradient rule itself (ops/grad/nn.ts).
 * With --torch, the same layers' three kernels in PyTorch (bench/conv_kernels_torch.py: forward conv2d, and
 * aten.convolution_backward for the input and the weight gradient, what autograd runs; oneDNN, checked
 * first by bench/torch_check.py) and a 1024³ GEMM on both sides, at the largest thread count, next to the
 * form Hone chose, with each side's GFLOP/s: how far ONNX Runtime's kernels are from PyTorch's, op for op.
 * Then, unless --skip-step, training steps of zoo:resnet at ResNet-18 widths (64-128-256, 32×32, Adam,
 * random data) with the NCHWc pass on and off, alternated, --steps steps each, median samples/s.
 */
import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { emptyGraph, GraphBuilder, makeModel, makeNode, valueInfo } from '../src/ir/builder.js';
import { encodeModel } from '../src/ir/codec.js';
import { DataType } from '../src/ir/dtype.js';
import { makeTensor } from '../src/ir/tensor.js';
import type { ModelProto } from '../src/ir/proto.js';
import { nchwcConvs } from '../src/passes/nchwc.js';
import { nchwcBlockSize } from '../src/runtime/index.js';
import { median } from '../src/runtime/stats.js';
import { GradEmitter } from '../src/ops/grad/index.js';
import '../src/ops/index.js';
import { differentiate } from '../src/train/autodiff.js';
import { staticTypes } from '../src/train/shapes.js';
import { train } from '../src/train/index.js';
import { zooModel } from '../src/zoo/index.js';
import { mulberry32 } from '../src/util/random.js';
import { torchBaseline, withSteadyMalloc } from './torch-baseline.js';
import { cpuDescription } from '../src/runtime/cpu.js';

const { values } = parseArgs({
  options: {
    layers: { type: 'string', default: '64x32,128x16,256x8' },
    batch: { type: 'string', default: '32' },
    threads: { type: 'string', default: '1,2' },
    rounds: { type: 'string', default: '15' },
    steps: { type: 'string', default: '8' },
    depthwise: { type: 'string', default: '96x48,144x24,192x12,384x6,96x48/2,144x24/2,192x12/2,576x6/2' },
    'skip-step': { type: 'boolean', default: false },
    torch: { type: 'boolean', default: false },
    python: { type: 'string', default: '/usr/bin/python3' },
    'default-malloc': { type: 'boolean' },
  },
});
withSteadyMalloc(values['default-malloc'] === true);
const N = Number(values.batch);
const F = DataType.FLOAT;
const NCHWC = 'com.microsoft.nchwc';

interface Variant {
  name: string;
  model: Uint8Array;
  inputs: Record<string, number[]>;
}

type Body = (push: (n: ReturnType<typeof makeNode>) => void, ints: (v: number[]) => string) => void;

/** A one-output graph over float inputs, encoded; `body` adds nodes (the output is 'out'). */
function graph(inputs: Record<string, number[]>, body: Body): Uint8Array {
  return encodeModel(graphModel(inputs, body));
}

/** The same as a model, for passes to rewrite first. */
function graphModel(inputs: Record<string, number[]>, body: Body): ModelProto {
  const g = emptyGraph('bench');
  for (const [name, dims] of Object.entries(inputs)) g.input.push(valueInfo(name, F, dims));
  g.output.push(valueInfo('out', F));
  let k = 0;
  const ints = (v: number[]) => {
    const name = `c${k++}`;
    g.initializer.push(makeTensor(name, DataType.INT64, [v.length], v));
    return name;
  };
  body((n) => g.node.push(n), ints);
  return makeModel(g, { opset: 17, extraOpsets: { [NCHWC]: 1 } });
}

function layerVariants(c: number, h: number, block: number): [string, Variant, Variant][] {
  const pads = [1, 1, 1, 1];
  const xs = [N, c, h, h];
  const ws = [c, c, 3, 3];
  const io = { x: xs, w: ws };
  const convT: Variant = {
    name: 'ConvTranspose',
    inputs: io,
    model: graph(io, (push) => push(makeNode('ConvTranspose', ['x', 'w'], ['out'], { pads }))),
  };
  // As the step runs it: the flipped Conv goes through the trainer's NCHWc pass like every Conv.
  const flippedModel = graphModel(io, (push, ints) => {
    push(makeNode('Transpose', ['w'], ['wt'], { perm: [1, 0, 2, 3] }));
    push(makeNode('Slice', ['wt', ints([-1, -1]), ints([-(2 ** 53), -(2 ** 53)]), ints([2, 3]), ints([-1, -1])], ['wf']));
    push(makeNode('Conv', ['x', 'wf'], ['out'], { pads }));
  });
  const flipped: Variant = {
    name: block ? 'NCHWc Conv, flipped W' : 'Conv, flipped W',
    inputs: io,
    model: encodeModel(block ? nchwcConvs(flippedModel, { blockSize: block }).model : flippedModel),
  };
  const plain: Variant = { name: 'Conv', inputs: io, model: graph(io, (push) => push(makeNode('Conv', ['x', 'w'], ['out'], { pads }))) };
  const blocked: Variant = {
    name: 'NCHWc Conv',
    inputs: io,
    model: graph(io, (push, ints) => {
      push(makeNode('Reshape', ['w', ints([c / block, block, c / block, block, 3, 3])], ['w6']));
      push(makeNode('Transpose', ['w6'], ['w6t'], { perm: [0, 2, 4, 5, 3, 1] }));
      push(makeNode('Reshape', ['w6t', ints(ws)], ['wr']));
      push(makeNode('ReorderInput', ['x'], ['xr'], {}, { domain: NCHWC }));
      push(makeNode('Conv', ['xr', 'wr'], ['yr'], { pads, kernel_shape: [3, 3] }, { domain: NCHWC }));
      push(makeNode('ReorderOutput', ['yr'], ['out'], { channels: c }, { domain: NCHWC }));
    }),
  };
  const p = h * h;
  const ck = c * 9;
  const dwInputs = { x: xs, gy: xs };
  const eye = new Float32Array(ck * 9);
  for (let ch = 0; ch < c; ch++) for (let j = 0; j < 9; j++) eye[(ch * 9 + j) * 9 + j] = 1;
  const dw = (oneGemm: boolean) =>
    graph(dwInputs, (push, ints) => {
      push(makeNode('Constant', [], ['eye'], { value: makeTensor('eye', F, [ck, 1, 3, 3], eye) }));
      push(makeNode('Conv', ['x', 'eye'], ['patches'], { group: c, pads }));
      push(makeNode('Reshape', ['patches', ints([N, ck, p])], ['p3']));
      push(makeNode('Reshape', ['gy', ints([N, c, p])], ['g3']));
      if (oneGemm) {
        push(makeNode('Transpose', ['p3'], ['pt'], { perm: [1, 0, 2] }));
        push(makeNode('Reshape', ['pt', ints([ck, N * p])], ['p2']));
        push(makeNode('Transpose', ['g3'], ['gt'], { perm: [1, 0, 2] }));
        push(makeNode('Reshape', ['gt', ints([c, N * p])], ['g2']));
        push(makeNode('Gemm', ['g2', 'p2'], ['d'], { transB: 1 }));
      } else {
        push(makeNode('Transpose', ['g3'], ['g3t'], { perm: [0, 2, 1] }));
        push(makeNode('MatMul', ['p3', 'g3t'], ['ps']));
        push(makeNode('ReduceSum', ['ps', ints([0])], ['s'], { keepdims: 0 }));
        push(makeNode('Transpose', ['s'], ['d'], { perm: [1, 0] }));
      }
      push(makeNode('Reshape', ['d', ints(ws)], ['out']));
    });
  const perSample: Variant = { name: 'per-sample GEMMs', inputs: dwInputs, model: dw(false) };
  const whole: Variant = { name: 'one GEMM', inputs: dwInputs, model: dw(true) };
  // The chosen form first: per-sample below the ratio rule's threshold (nn.ts ONE_GEMM_RATIO), else one GEMM.
  const gemmChosen = ck * c >= 0.75 * (ck + c) * p;
  return [
    ['input gradient', flipped, convT],
    ['forward', blocked, plain],
    ['weight gradient', gemmChosen ? whole : perSample, gemmChosen ? perSample : whole],
  ];
}

/**
 * The depthwise weight gradient for C channels at S×S, 3×3, pad 1, stride `stride` (see the file comment),
 * each form as the rule in ops/grad/nn.ts writes it: the backward of a one-Conv graph, with and without
 * the blocked-depthwise hint, so the bench measures what training runs and cannot drift from it.
 */
function depthwiseVariants(
  c: number,
  h: number,
  stride: number,
  block: number,
): { unfolded: Variant; stacked: Variant; stackedPlain: Variant } {
  const xDims = [N, c, h, h];
  const ho = Math.floor((h + 2 - 3) / stride) + 1;
  const gyDims = [N, c, ho, ho];
  const inputs = { x: xDims, gy: gyDims };
  const backward = (hint: number): ModelProto => {
    const b = new GraphBuilder('bench');
    b.input('x', F, xDims);
    b.input('w', F, [c, 1, 3, 3]);
    const y = b.op('Conv', ['x', 'w'], { group: c, pads: [1, 1, 1, 1], strides: [stride, stride] });
    const graph = b.graph;
    const emit = new GradEmitter(new Set([...graph.node.flatMap((n) => [...n.input, ...n.output]), 'x', 'w', 'gy']), 17);
    const types = staticTypes(graph, 17, new Set(['w']));
    const dw = differentiate(graph, 17, types, emit, new Map([[y, 'gy']]), new Set(['w']), undefined, hint).get('w')!;
    // Only the backward: x and gy in, dW out (the forward Conv is dropped; w is not read by dW's form).
    const g = emptyGraph('bench');
    g.input.push(valueInfo('x', F, xDims), valueInfo('gy', F, gyDims));
    g.node.push(...emit.nodes);
    g.initializer.push(...emit.initializers);
    g.node.push(makeNode('Identity', [dw], ['out']));
    g.output.push(valueInfo('out', F));
    return makeModel(g, { opset: 17, extraOpsets: { [NCHWC]: 1 } });
  };
  const stacked = backward(block);
  return {
    unfolded: { name: 'unfolded (9 patches)', inputs, model: encodeModel(backward(0)) },
    stacked: { name: 'stacked, NCHWc', inputs, model: encodeModel(nchwcConvs(stacked, { blockSize: block }).model) },
    stackedPlain: { name: 'stacked, plain Conv', inputs, model: encodeModel(stacked) },
  };
}

function feedsFor(v: Variant, seed: number): Record<string, ort.Tensor> {
  const rand = mulberry32(seed);
  return Object.fromEntries(
    Object.entries(v.inputs).map(([name, dims]) => [
      name,
      new ort.Tensor(
        'float32',
        Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => rand() - 0.5),
        dims,
      ),
    ]),
  );
}

async function compare(a: Variant, b: Variant, threads: number, rounds: number) {
  // Spinning off, as in the trainer's sessions: two sessions alive at once would otherwise have each one's
  // idle pool spin on the cores the other runs on.
  const opts = {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all' as const,
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  };
  const [sa, sb] = await Promise.all([ort.InferenceSession.create(a.model, opts), ort.InferenceSession.create(b.model, opts)]);
  const feeds = feedsFor(a, 7);
  const [oa, ob] = [(await sa.run(feeds)).out!.data as Float32Array, (await sb.run(feeds)).out!.data as Float32Array];
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < oa.length; i++) {
    diff = Math.max(diff, Math.abs(oa[i]! - ob[i]!));
    scale = Math.max(scale, Math.abs(ob[i]!));
  }
  if (!(diff <= 1e-4 * scale)) throw new Error(`${a.name} and ${b.name} disagree: max difference ${diff} (scale ${scale})`);
  const ta: number[] = [];
  const tb: number[] = [];
  for (let r = 0; r < rounds; r++) {
    for (const [s, t] of [
      [sa, ta],
      [sb, tb],
    ] as const) {
      const t0 = performance.now();
      await s.run(feeds);
      t.push(performance.now() - t0);
    }
  }
  await Promise.all([sa.release(), sb.release()]);
  return { a: median(ta), b: median(tb) };
}

async function stepBench(steps: number, rounds: number) {
  const n = 32 * steps;
  const rand = mulberry32(3);
  const data = {
    features: { input: { data: Float32Array.from({ length: n * 3 * 32 * 32 }, () => rand() * 2 - 1), dims: [n, 3, 32, 32] } },
    labels: { data: BigInt64Array.from({ length: n }, (_, i) => BigInt(i % 10)), dims: [n] },
    size: n,
  };
  const rates: Record<'on' | 'off', number[]> = { on: [], off: [] };
  for (let r = 0; r < rounds; r++) {
    for (const mode of ['on', 'off'] as const) {
      const res = await train(zooModel('resnet:widths=64-128-256'), data, { epochs: 1, batchSize: 32, seed: 1, nchwc: mode === 'on' });
      rates[mode].push(res.samplesPerSec);
    }
  }
  return { on: median(rates.on), off: median(rates.off) };
}

const block = await nchwcBlockSize();
console.log(`# ${cpuDescription()}, ${cpus().length} cores; onnxruntime-node ${ort.env.versions.common}; NCHWc block ${block || 'none'}`);
console.log(
  `# batch ${N}, ${values.rounds} interleaved rounds, median ms; ratio = chosen / alternative; malloc: ${process.env.GLIBC_TUNABLES ?? "glibc's defaults"}\n`,
);
const layers = (values.layers ? values.layers.split(',') : []).map((spec) => spec.split('x').map(Number) as [number, number]);
const threadCounts = values.threads!.split(',').map(Number);
const maxThreads = Math.max(...threadCounts);
const baseline = values.torch ? torchBaseline(values.python!, maxThreads) : undefined;
if (baseline) console.log(`# ${baseline.header}\n`);
/** Hone's chosen form per layer and kernel at the largest thread count, for the PyTorch table. */
const chosenMs = new Map<string, number>();
const GEMM = 1024;
console.log('| layer | threads | kernel | chosen | ms | alternative | ms | ratio |');
console.log('|---|---:|---|---|---:|---|---:|---:|');
for (const [c, h] of layers) {
  for (const threads of threadCounts) {
    for (const [what, chosen, other] of layerVariants(c, h, block || 16)) {
      if (!block && (chosen.name.startsWith('NCHWc') || other.name.startsWith('NCHWc'))) continue;
      const r = await compare(chosen, other, threads, Number(values.rounds));
      if (threads === maxThreads) chosenMs.set(`${c}x${h} ${what}`, r.a);
      console.log(
        `| ${c}→${c}, ${h}×${h} | ${threads} | ${what} | ${chosen.name} | ${r.a.toFixed(2)} | ${other.name} | ${r.b.toFixed(2)} | ${(r.a / r.b).toFixed(2)} |`,
      );
    }
  }
}
if (baseline?.available) {
  // The GEMM both sides' kernels are built on: ORT's MatMul (MLAS), timed like the layers (twice, interleaved).
  const mm: Variant = {
    name: 'MatMul',
    inputs: { x: [GEMM, GEMM], w: [GEMM, GEMM] },
    model: graph({ x: [GEMM, GEMM], w: [GEMM, GEMM] }, (push) => push(makeNode('MatMul', ['x', 'w'], ['out']))),
  };
  chosenMs.set('gemm', (await compare(mm, mm, maxThreads, Number(values.rounds))).a);
  const torch = JSON.parse(
    execFileSync(
      values.python!,
      [
        join(import.meta.dirname, 'conv_kernels_torch.py'),
        `layers=${values.layers}`,
        `batch=${N}`,
        `threads=${maxThreads}`,
        `rounds=${values.rounds}`,
      ],
      { encoding: 'utf8', env: baseline.env },
    )
      .trim()
      .split('\n')
      .pop()!,
  ) as Record<string, Record<string, number>>;
  console.log(
    `\n| ${maxThreads} threads, batch ${N} | kernel | Hone's form on ORT | ms | GFLOP/s | PyTorch ms | GFLOP/s | Hone / PyTorch time |`,
  );
  console.log('|---|---|---|---:|---:|---:|---:|---:|');
  const row = (layer: string, what: string, form: string, hone: number, torchMs: number, flops: number) =>
    console.log(
      `| ${layer} | ${what} | ${form} | ${hone.toFixed(2)} | ${(flops / hone / 1e6).toFixed(0)} | ${torchMs.toFixed(2)} | ${(flops / torchMs / 1e6).toFixed(0)} | ${(hone / torchMs).toFixed(2)} |`,
    );
  for (const [c, h] of layers) {
    const flops = 2 * N * c * c * 9 * h * h;
    const t = torch[`${c}x${h}`]!;
    const forms = Object.fromEntries(layerVariants(c, h, block || 16).map(([what, chosen]) => [what, chosen.name]));
    for (const [what, key] of [
      ['forward', 'forward'],
      ['input gradient', 'inputGrad'],
      ['weight gradient', 'weightGrad'],
    ] as const)
      row(`${c}→${c}, ${h}×${h}`, what, forms[what]!, chosenMs.get(`${c}x${h} ${what}`)!, t[key]!, flops);
  }
  row(`${GEMM}³`, 'GEMM', 'MatMul', chosenMs.get('gemm')!, torch.gemm!.matmul!, 2 * GEMM ** 3);
}
if (values.depthwise && block) {
  console.log('\n| depthwise layer | threads | stacked, NCHWc (chosen) ms | unfolded ms | ratio | stacked, plain Conv ms | ratio |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const spec of values.depthwise.split(',')) {
    const [layer, stride = 1] = spec.split('/') as [string, string?];
    const [c, h] = layer.split('x').map(Number) as [number, number];
    const v = depthwiseVariants(c, h, Number(stride), block);
    for (const threads of values.threads!.split(',').map(Number)) {
      const a = await compare(v.stacked, v.unfolded, threads, Number(values.rounds));
      const b = await compare(v.stackedPlain, v.unfolded, threads, Number(values.rounds));
      console.log(
        `| ${c} channels, ${h}×${h}, stride ${stride} | ${threads} | ${a.a.toFixed(2)} | ${a.b.toFixed(2)} | ${(a.a / a.b).toFixed(2)} | ${b.a.toFixed(2)} | ${(b.a / b.b).toFixed(2)} |`,
      );
    }
  }
}
if (!values['skip-step'] && block) {
  const rounds = Math.max(3, Math.round(Number(values.rounds) / 5));
  const s = await stepBench(Number(values.steps), rounds);
  console.log(
    `\nResNet-18 widths training step, batch 32, ${rounds} alternated runs of ${values.steps} steps: NCHWc pass on ${s.on.toFixed(1)} samples/s, off ${s.off.toFixed(1)} (on/off ${(s.on / s.off).toFixed(2)}x)`,
  );
}
