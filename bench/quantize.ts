/**
 * Quantization: what each mode buys on this machine, measured side by side in one run. Latency is timed
 * in blocks (each variant: fresh worker and session, warm-up, N runs; every variant once per round;
 * rounds repeat) and reported as the median over rounds of each block's p50 — never alternating run by
 * run (ORT's spinning intra-op threads would collide). Everything is seeded: same models, same data.
 *
 *   npx tsx bench/quantize.ts [--rounds 3] [--runs 20] [--write-docs] [--skip-torch] [--skip-lenet]
 *
 * Sections: (1) the zoo transformer encoder (4 layers, d=256, batch 8×128): fp32 vs Hone's dynamic int8
 * and the two other ORT forms it was chosen over, int4 and fp16; PyTorch's dynamic int8 on the same
 * weights when /usr/bin/python3 has torch. (2) CNNs (zoo resnet and mobilenet, batch 8): static int8 in
 * the QDQ and QOperator formats, U8S8 and S8S8. (3) LeNet-5 trained 2 epochs on MNIST with `hone train`:
 * static int8 accuracy with each calibration method. --write-docs replaces the "Quantization" section
 * of docs/benchmarks.md with the tables printed.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { encodeModel } from '../src/ir/codec.js';
import { Graph } from '../src/ir/graph.js';
import { makeNode } from '../src/ir/builder.js';
import { DataType } from '../src/ir/dtype.js';
import { floatTensor, makeTensor, tensorArray } from '../src/ir/tensor.js';
import { loadModel } from '../src/ir/model.js';
import type { ModelProto, NodeProto } from '../src/ir/proto.js';
import { zooModel } from '../src/zoo/index.js';
import { fixDims, resolveInputs, type ConcreteInput } from '../src/runtime/inputs.js';
import { measureInWorker } from '../src/runtime/measure.js';
import { encodeNpy } from '../src/data/npy.js';
import { main } from '../src/cli/main.js';
import {
  compareOutputs,
  convertFp16,
  loadSampleData,
  quantizeDynamic,
  quantizeInt4,
  quantizeStatic,
  calibrateStatic,
  syntheticData,
  type SampleData,
} from '../src/quantize/index.js';
import { copyModel, requireDomain } from '../src/quantize/common.js';
import { quantizeWeight, S8 } from '../src/quantize/math.js';
import { median } from '../src/runtime/stats.js';
import { cpuDescription } from '../src/runtime/cpu.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    runs: { type: 'string', default: '20' },
    'write-docs': { type: 'boolean' },
    'skip-torch': { type: 'boolean' },
    'skip-lenet': { type: 'boolean' },
    python: { type: 'string', default: '/usr/bin/python3' },
  },
});
const rounds = Number(values.rounds);
const runs = Number(values.runs);
const out: string[] = [];
const say = (s = '') => {
  out.push(s);
  console.log(s);
};
const ratio = (x: number) => `${x.toFixed(2)}x`;
const mib = (b: number) => `${(b / 2 ** 20).toFixed(2)} MiB`;

/**
 * Per variant: the median over rounds of each block's p50, and the median over rounds of the ratio to
 * the first variant's block in the same round (robust when machine load drifts between rounds).
 */
async function timeBlocks(
  models: Record<string, ModelProto>,
  inputs: ConcreteInput[],
): Promise<{ ms: Record<string, number>; ratio: Record<string, number> }> {
  const bytes = Object.fromEntries(Object.entries(models).map(([k, m]) => [k, encodeModel(m)]));
  const meds: Record<string, number[]> = Object.fromEntries(Object.keys(models).map((k) => [k, []]));
  for (let r = 0; r < rounds; r++) {
    for (const k of Object.keys(models)) meds[k]!.push((await measureInWorker(bytes[k]!, { inputs, runs, warmup: 5 })).latencyMs.p50);
  }
  const first = meds[Object.keys(models)[0]!]!;
  return {
    ms: Object.fromEntries(Object.entries(meds).map(([k, v]) => [k, median(v)])),
    ratio: Object.fromEntries(Object.entries(meds).map(([k, v]) => [k, median(v.map((t, i) => t / first[i]!))])),
  };
}

/** Output cosine of each variant against fp32 on one seeded batch. */
async function cosines(models: Record<string, ModelProto>, data: SampleData): Promise<Record<string, number>> {
  const res: Record<string, number> = {};
  for (const [k, m] of Object.entries(models)) res[k] = k === 'fp32' ? 1 : (await compareOutputs(models.fp32!, m, data, data.size)).cosine;
  return res;
}

const size = (m: ModelProto) => encodeModel(m).byteLength;
const matmulWeightBytes = (m: ModelProto) =>
  m.graph!.initializer.filter((t) => /(proj|fc\d)\.weight/.test(t.name ?? '')).reduce((s, t) => s + (t.rawData?.byteLength ?? 0), 0);

/** The standard-op dynamic form: DynamicQuantizeLinear + MatMulInteger + Cast + Mul (per-tensor). */
function matmulIntegerForm(model: ModelProto): ModelProto {
  return rewriteMatMuls(model, (n, q, s) => {
    const p = n.output[0]!;
    return [
      makeNode('DynamicQuantizeLinear', [n.input[0]!], [`${p}_xq`, `${p}_xs`, `${p}_xzp`]),
      makeNode('MatMulInteger', [`${p}_xq`, q, `${p}_xzp`], [`${p}_i32`]),
      makeNode('Cast', [`${p}_i32`], [`${p}_f`], { to: DataType.FLOAT }),
      makeNode('Mul', [`${p}_xs`, s], [`${p}_sc`]),
      makeNode('Mul', [`${p}_f`, `${p}_sc`], [p]),
    ];
  });
}

/** The QDQ dynamic form: DynamicQuantizeLinear → DequantizeLinear, int8 weight → DequantizeLinear, float MatMul. */
function qdqForm(model: ModelProto): ModelProto {
  return rewriteMatMuls(model, (n, q, s) => {
    const p = n.output[0]!;
    return [
      makeNode('DynamicQuantizeLinear', [n.input[0]!], [`${p}_xq`, `${p}_xs`, `${p}_xzp`]),
      makeNode('DequantizeLinear', [`${p}_xq`, `${p}_xs`, `${p}_xzp`], [`${p}_xf`]),
      makeNode('DequantizeLinear', [q, s], [`${p}_wf`]),
      makeNode('MatMul', [`${p}_xf`, `${p}_wf`], [p]),
    ];
  });
}

/** Replaces each MatMul with a 2-D constant weight by `form` over a per-tensor symmetric int8 weight. */
function rewriteMatMuls(model: ModelProto, form: (n: NodeProto, q: string, s: string) => NodeProto[]): ModelProto {
  const m = copyModel(model);
  const g = new Graph(m.graph!);
  for (const n of [...g.nodes]) {
    const w = n.opType === 'MatMul' ? g.initializer(n.input[1]!) : undefined;
    if (w?.dims.length !== 2) continue;
    const qw = quantizeWeight(tensorArray(w) as Float32Array, w.dims, { type: S8, symmetric: true });
    const q = g.addInitializer(makeTensor(g.freshName(`${w.name}_q`), DataType.INT8, w.dims, qw.data));
    const s = g.addInitializer(floatTensor(g.freshName(`${w.name}_s`), [], qw.scale));
    g.replaceNode(n, form(n, q, s));
    if (!g.isUsed(w.name!)) g.removeInitializer(w.name!);
  }
  requireDomain(m, 'com.microsoft', 1);
  return m;
}

say(
  `Machine: ${cpuDescription()}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Node ${process.version}, onnxruntime-node ${ort.env.versions.common}. Run: \`npx tsx bench/quantize.ts --rounds ${rounds} --runs ${runs}\` (${new Date().toISOString().slice(0, 10)}).`,
);
say(
  `Latency: median over ${rounds} rounds of each block's p50 (${runs} timed runs after 5 warm-up, fresh worker and session per block, ORT default threads); variants timed in blocks, side by side in one run. "× fp32" is the median over rounds of the ratio to the fp32 block of the same round.`,
);
say();

// ---- 1. Transformer encoder: dynamic int8, its alternatives, int4, fp16, PyTorch ------------------
const HONE =
  'dynamic int8 (Hone default: per-channel; shared DynamicQuantizeLinear + MatMulIntegerToFloat for Q/K/V, DynamicQuantizeMatMul elsewhere)';
{
  const model = fixDims(zooModel('transformer'), { dims: { batch: 8, seq: 128 } });
  const inputs = resolveInputs(model);
  const data: SampleData = syntheticData(model, 8, {}, 3, 'seeded uniform [-1, 1)');
  const variants: Record<string, ModelProto> = {
    fp32: model,
    [HONE]: quantizeDynamic(model).model,
    'dynamic int8: DynamicQuantizeMatMul everywhere (per-channel)': quantizeDynamic(model, { shareInputQuantization: false }).model,
    'dynamic int8: Hone default, per-tensor weights': quantizeDynamic(model, { perChannel: false }).model,
    'alt: DynamicQuantizeLinear+MatMulInteger+Cast+Mul': matmulIntegerForm(model),
    'alt: QDQ (DynamicQuantizeLinear→DQ, DQ weight, MatMul)': qdqForm(model),
    'int4 MatMulNBits (block 32)': quantizeInt4(model).model,
    'int4 MatMulNBits (block 32, accuracy_level 4)': quantizeInt4(model, { accuracyLevel: 4 }).model,
    fp16: convertFp16(model).model,
  };
  const lat = await timeBlocks(variants, inputs);
  const cos = await cosines(variants, data);
  say('### Transformer encoder: `zoo:transformer` (4 layers, d=256, 4 heads, ffn 1024), input [8, 128, 256]');
  say();
  say('| variant | p50 | × fp32 latency | size | × fp32 size | MatMul weights × fp32 | output cosine |');
  say('|---|---:|---:|---:|---:|---:|---:|');
  const base = size(model);
  for (const [k, m] of Object.entries(variants)) {
    say(
      `| ${k} | ${lat.ms[k]!.toFixed(1)} ms | ${ratio(lat.ratio[k]!)} | ${mib(size(m))} | ${ratio(size(m) / base)} | ${k.startsWith('int4') ? ratio(m.graph!.initializer.filter((t) => /_(q4|scales|zero_points)/.test(t.name!)).reduce((s, t) => s + t.rawData!.byteLength, 0) / matmulWeightBytes(model)) : ''} | ${cos[k]!.toFixed(5)} |`,
    );
  }
  say();
  if (!values['skip-torch'] && spawnSync(values.python!, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0) {
    const dir = mkdtempSync(join(tmpdir(), 'hone-qbench-'));
    try {
      for (const t of model.graph!.initializer) {
        if (t.dataType === DataType.FLOAT && /^(layers|norm)/.test(t.name!))
          writeFileSync(join(dir, `${t.name}.npy`), encodeNpy(tensorArray(t) as Float32Array, t.dims));
      }
      const x = data.features.input!;
      writeFileSync(join(dir, 'input.npy'), encodeNpy(x.data.subarray(0, 8 * 128 * 256) as Float32Array, [8, 128, 256]));
      const s = await ort.InferenceSession.create(encodeModel(model));
      const y = await s.run({ input: new ort.Tensor('float32', x.data.subarray(0, 8 * 128 * 256) as Float32Array, [8, 128, 256]) });
      writeFileSync(join(dir, 'ort_fp32.npy'), encodeNpy(y.output!.data as Float32Array, [8, 128, 256]));
      await s.release();
      // PyTorch's fp32 run is seconds long here: fewer runs per block keep the section to minutes.
      const torchRuns = Math.max(3, Math.round(runs / 4));
      const r = spawnSync(
        values.python!,
        ['bench/quantize_torch.py', dir, '--rounds', String(rounds), '--runs', String(torchRuns), '--threads', String(cpus().length)],
        { encoding: 'utf8' },
      );
      if (r.status !== 0) say(`PyTorch: failed (${r.stderr.trim().split('\n').pop()})`);
      else {
        const t = JSON.parse(r.stdout.trim().split('\n').pop()!);
        say(
          `PyTorch ${t.torch} (${t.engine} engine, ${t.threads} threads, ${torchRuns} runs per block), same weights and input: fp32 ${t.fp32_ms.toFixed(1)} ms, dynamic int8 (quantize_dynamic on nn.Linear) ${t.int8_ms.toFixed(1)} ms = ${ratio(t.int8_ms / t.fp32_ms)} of its fp32; output cosine int8 vs fp32 ${t.cosine_int8_vs_fp32.toFixed(5)} (its fp32 vs ORT fp32: ${t.cosine_fp32_vs_ort.toFixed(6)}). Hone dynamic int8 vs PyTorch dynamic int8: ${ratio(lat.ms[HONE]! / t.int8_ms)} the latency (different processes, blocks after each other).`,
        );
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  } else say('PyTorch: skipped (no torch in /usr/bin/python3, or --skip-torch).');
  say();
}

// ---- 2. CNNs: static int8 ---------------------------------------------------------------------------
// The zoo's defaults are narrow (resnet widths 16-32-64): int8 kernels gain little on narrow layers, so
// a ResNet with ResNet-18's widths and a MobileNet at 160 px are measured too.
for (const spec of ['resnet', 'resnet:widths=64-128-256', 'mobilenet', 'mobilenet:size=160']) {
  const model = fixDims(zooModel(spec), { dims: { batch: 8 } });
  const inputs = resolveInputs(model);
  const calib = syntheticData(model, 64, {}, 1, 'synthetic');
  const evalData = syntheticData(model, 32, {}, 2, 'synthetic');
  const calibration = await calibrateStatic(model, calib);
  const variants: Record<string, ModelProto> = {
    fp32: model,
    'static int8 QDQ U8S8 (Hone default)': (await quantizeStatic(model, calibration)).model,
    'static int8 QDQ S8S8': (await quantizeStatic(model, calibration, { activationType: 'int8' })).model,
    'static int8 QOperator U8S8': (await quantizeStatic(model, calibration, { format: 'qoperator' })).model,
    fp16: convertFp16(model).model,
  };
  const lat = await timeBlocks(variants, inputs);
  const fid: Record<string, number> = {};
  for (const [k, m] of Object.entries(variants)) fid[k] = k === 'fp32' ? 1 : (await compareOutputs(model, m, evalData)).cosine;
  const shape = inputs[0]!.shape.join(', ');
  say(`### CNN: \`zoo:${spec}\`, input [${shape}]; calibration: 64 seeded uniform [-1, 1) samples (minmax), fidelity on 32 others`);
  say();
  say('| variant | p50 | × fp32 latency | size | × fp32 size | output cosine |');
  say('|---|---:|---:|---:|---:|---:|');
  for (const [k, m] of Object.entries(variants))
    say(
      `| ${k} | ${lat.ms[k]!.toFixed(2)} ms | ${ratio(lat.ratio[k]!)} | ${mib(size(m))} | ${ratio(size(m) / size(model))} | ${fid[k]!.toFixed(5)} |`,
    );
  say();
}

// ---- 3. LeNet-5 on MNIST, trained with hone train ----------------------------------------------------
if (!values['skip-lenet']) {
  const dir = mkdtempSync(join(tmpdir(), 'hone-qbench-lenet-'));
  try {
    const path = join(dir, 'lenet.onnx');
    const io = { stdout: () => {}, stderr: (s: string) => process.stderr.write(s), isTTY: false };
    const code = await main(
      ['train', '--model', 'zoo:lenet5', '--data', 'mnist', '--epochs', '2', '--batch-size', '64', '--seed', '0', '-o', path],
      io,
    );
    if (code !== 0) throw new Error('hone train failed');
    const model = loadModel(path);
    const calib = await loadSampleData('mnist', model, { samples: 256, split: 'train' });
    const test = await loadSampleData('mnist', model, { split: 'test' });
    say(
      `### LeNet-5 on MNIST (trained 2 epochs with \`hone train\`, Adam 1e-3, batch 64), static int8 QDQ U8S8 calibrated on 256 training images, accuracy on the ${test.size} test images`,
    );
    say();
    say('| calibration | fp32 accuracy | int8 accuracy | drop (points) | top-1 agreement | output cosine |');
    say('|---|---:|---:|---:|---:|---:|');
    let int8: ModelProto | undefined;
    for (const method of ['minmax', 'percentile', 'entropy'] as const) {
      const q = (await quantizeStatic(model, calib, { method })).model;
      int8 ??= q;
      const f = await compareOutputs(model, q, test, 100);
      say(
        `| ${method} | ${(f.accuracy!.float * 100).toFixed(2)}% | ${(f.accuracy!.quantized * 100).toFixed(2)}% | ${((f.accuracy!.float - f.accuracy!.quantized) * 100).toFixed(2)} | ${(f.top1Agreement! * 100).toFixed(2)}% | ${f.cosine.toFixed(5)} |`,
      );
    }
    const lat = await timeBlocks({ fp32: fixDims(model, { dims: { batch: 64 } }), int8: fixDims(int8!, { dims: { batch: 64 } }) }, [
      { name: 'input', elemType: DataType.FLOAT, shape: [64, 1, 28, 28] },
    ]);
    say();
    say(`Latency at batch 64: fp32 ${lat.ms.fp32!.toFixed(2)} ms, int8 ${lat.ms.int8!.toFixed(2)} ms (${ratio(lat.ratio.int8!)}).`);
    say();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

say('Reading the numbers:');
say(
  '- Dynamic int8: Hone writes the kernels ORT runs directly: com.microsoft DynamicQuantizeMatMul, and for MatMuls that share an input (Q/K/V) one DynamicQuantizeLinear feeding MatMulIntegerToFloat. ORT fuses the standard-op chain (DynamicQuantizeLinear + MatMulInteger + Cast + Mul) into the same two kernels, so those rows should match within noise; the QDQ form runs its MatMul in float after dequantizing, hence its latency.',
);
say(
  "- Static int8 gains with layer width: the zoo defaults are narrow (resnet widths 16-32-64 at 32x32), where ORT's int8 convolutions are little faster than fp32; with ResNet-18's widths (64-128-256) or MobileNet at 160 px the same pass gives the speedups int8 is known for. LeNet-5 (6 and 16 channels) is the extreme case below.",
);
say(
  "- Static int8: U8S8 is the default because with int8 activations (S8S8) ORT 1.30 left 9 of zoo:resnet's 15 Convs unfused on this CPU (its optimized graph), and its int8 QLinearAdd/QLinearConv kernels ran slower; asymmetric int8 and uint8 ranges are the same grid shifted by 128, so the cosines agree. ReLU and ReLU6 (Clip 0..6) after a Conv are folded into its output range, so every unit fuses.",
);
say(
  "- fp16 and int4 buy size on this CPU, not speed: ORT's CPU provider runs float16 ops through Casts it inserts, and MatMulNBits dequantizes 4-bit blocks to fp32 (accuracy_level 4 = int8 compute, not faster here).",
);
say(
  "- LeNet-5 int8 is slower than fp32: its convolutions (1→6 and 6→16 channels) are too narrow for ORT's int8 kernels; `hone profile` of the int8 model shows conv1's QLinearConv alone at ~45% of the run.",
);
say();

if (values['write-docs']) {
  const path = 'docs/benchmarks.md';
  const doc = readFileSync(path, 'utf8');
  const section = `## Quantization\n\n${out.join('\n').trim()}\n`;
  const start = doc.indexOf('## Quantization');
  const next = start < 0 ? -1 : doc.indexOf('\n## ', start + 3);
  const updated = start < 0 ? `${doc.trimEnd()}\n\n${section}` : `${doc.slice(0, start)}${section}${next < 0 ? '' : doc.slice(next)}`;
  writeFileSync(path, updated);
  console.log(`\nwrote the Quantization section of ${path}`);
}
