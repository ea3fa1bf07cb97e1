/**
 * Transformer fusions: what Hone's fusion passes buy on the zoo encoder, alone and with dynamic int8, measured side by side in one run.
 *
 *   npx tsx bench/fusions.ts [--rounds 5] [--runs 10] [--batches 8,1] [--threads 0,1] [--seq 128]
 *
 * `zoo:transformer` (4 layers, d=256, 4 heads, ffn 1024) at [batch, seq, 256] per batch size, under each
 * intra-op thread setting (0 = ORT's default); sessions otherwise have ORT's defaults (level 'all').
 * Latency is timed in blocks as bench/quantize.ts does (fresh worker and session per block, 5 warm-up
 * runs, then `runs`); every (variant, threads) block once per round, and the tables give the median over
 * rounds of each block's p50 and of its speed-up over fp32's blocks of the same round: at the same
 * threads, and at ORT's default threads (the issue's baseline). Variants: fp32 with the attention fusion
 * in each form, and with skip layer norm added; Hone's dynamic int8; int8 with MultiHeadAttention fused
 * before and after; skip layer norm on top; the Attention form before int8 (its packed QKV weight stays
 * float); and the alternative not chosen, QAttention (the Attention form with its packed weight int8
 * per column, built here). Output cosine against fp32 on one seeded batch. A last table measures the
 * PyTorch encoder export in the corpus (padding mask, post-LN) the same way.
 */
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { encodeModel } from '../src/ir/codec.js';
import { Graph } from '../src/ir/graph.js';
import { makeNode } from '../src/ir/builder.js';
import { DataType } from '../src/ir/dtype.js';
import { floatTensor, makeTensor, tensorArray } from '../src/ir/tensor.js';
import { loadModel } from '../src/ir/model.js';
import type { ModelProto } from '../src/ir/proto.js';
import { zooModel } from '../src/zoo/index.js';
import { fixDims, randomFeeds, resolveInputs, type ConcreteInput } from '../src/runtime/inputs.js';
import { measureInWorker } from '../src/runtime/measure.js';
import { quantizeDynamic } from '../src/quantize/index.js';
import { copyModel, defaultReduceRange } from '../src/quantize/common.js';
import { quantizeWeight, S8 } from '../src/quantize/math.js';
import { median } from '../src/runtime/stats.js';
import { TRANSFORMER_FUSIONS } from '../src/passes/fuse-transformer.js';
import { cpuDescription } from '../src/runtime/cpu.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    runs: { type: 'string', default: '10' },
    batches: { type: 'string', default: '8,1' },
    threads: { type: 'string', default: '0,1' },
    seq: { type: 'string', default: '128' },
  },
});
const rounds = Number(values.rounds);
const runs = Number(values.runs);
const seq = Number(values.seq);
const batches = values.batches!.split(',').map(Number);
const threadSettings = values.threads!.split(',').map(Number);
const say = (s = '') => console.log(s);

/** The fusions in their order, skip layer norm only when asked (ORT's kernel for it measured slower here). */
async function fused(model: ModelProto, form: 'mha' | 'attention', skip = false): Promise<ModelProto> {
  let m = model;
  for (const p of TRANSFORMER_FUSIONS) {
    if (p.id === 'fuse.skip-layer-norm' && !skip) continue;
    m = (await p.run(m, p.id === 'fuse.attention' ? { form } : {}, {})).model;
  }
  return m;
}
const skipLayerNorm = async (m: ModelProto) =>
  (await TRANSFORMER_FUSIONS.find((p) => p.id === 'fuse.skip-layer-norm')!.run(m, {}, {})).model;
const int8 = (m: ModelProto) => quantizeDynamic(m).model;

/** The Attention form with its packed QKV weight int8 per column: DynamicQuantizeLinear + com.microsoft QAttention. */
async function qattention(model: ModelProto): Promise<ModelProto> {
  const m = copyModel(int8(await fused(model, 'attention')));
  const g = new Graph(m.graph!);
  const reduceRange = defaultReduceRange([]);
  for (const n of [...g.nodes]) {
    if (n.opType !== 'Attention') continue;
    const w = g.initializer(n.input[1]!)!;
    const dims = w.dims.map(Number);
    const q = quantizeWeight(tensorArray(w) as Float32Array, dims, { type: S8, symmetric: true, axis: 1, reduceRange });
    const wq = g.addInitializer(makeTensor(g.freshName(`${w.name}_q`), DataType.INT8, dims, q.data));
    const ws = g.addInitializer(floatTensor(g.freshName(`${w.name}_s`), [q.scale.length], q.scale));
    const p = n.output[0]!;
    const dql = makeNode('DynamicQuantizeLinear', [n.input[0]!], [`${p}_xq`, `${p}_xs`, `${p}_xzp`]);
    const qa = makeNode(
      'QAttention',
      [`${p}_xq`, wq, n.input[2]!, `${p}_xs`, ws, n.input[3] ?? '', `${p}_xzp`],
      [p],
      {},
      { domain: 'com.microsoft' },
    );
    qa.attribute = n.attribute;
    g.replaceNode(n, [dql, qa]);
  }
  g.removeDeadCode();
  return m;
}

interface Timing {
  ms: number;
  /** fp32's block (same threads) over this one, median over rounds. */
  speedup: number;
  /** fp32's block at ORT's default threads over this one: the issue's baseline. */
  vsDefault: number;
}

/**
 * Every (variant, thread setting) once per round, thread settings interleaved; per entry the median over
 * rounds of its block's p50 and of the ratios to fp32's blocks of the same round.
 */
async function timeBlocks(models: Record<string, ModelProto>, inputs: ConcreteInput[]): Promise<Record<number, Record<string, Timing>>> {
  const bytes = Object.fromEntries(Object.entries(models).map(([k, m]) => [k, encodeModel(m)]));
  const p50 = new Map<string, number[]>();
  const key = (k: string, t: number) => `${t}|${k}`;
  for (let r = 0; r < rounds; r++) {
    for (const threads of threadSettings) {
      for (const k of Object.keys(models)) {
        const session = threads ? { intraOpThreads: threads } : {};
        const ms = (await measureInWorker(bytes[k]!, { inputs, runs, warmup: 5, session })).latencyMs.p50;
        p50.set(key(k, threads), [...(p50.get(key(k, threads)) ?? []), ms]);
      }
    }
  }
  const base = (t: number) => p50.get(key('fp32', t)) ?? [];
  const ref = p50.get(key('fp32', 0)) ?? base(threadSettings[0]!);
  return Object.fromEntries(
    threadSettings.map((t) => [
      t,
      Object.fromEntries(
        Object.keys(models).map((k) => {
          const v = p50.get(key(k, t))!;
          return [k, { ms: median(v), speedup: median(v.map((x, i) => base(t)[i]! / x)), vsDefault: median(v.map((x, i) => ref[i]! / x)) }];
        }),
      ),
    ]),
  );
}

async function cosines(models: Record<string, ModelProto>, inputs: ConcreteInput[]): Promise<Record<string, number>> {
  const feeds = randomFeeds(inputs, 1);
  const out: Record<string, Float32Array> = {};
  for (const [k, m] of Object.entries(models)) {
    const s = await ort.InferenceSession.create(encodeModel(m), { logSeverityLevel: 3 });
    out[k] = (await s.run(feeds))[s.outputNames[0]!]!.data as Float32Array;
    await s.release();
  }
  const ref = out.fp32!;
  return Object.fromEntries(
    Object.entries(out).map(([k, y]) => {
      let ab = 0;
      let aa = 0;
      let bb = 0;
      for (let i = 0; i < y.length; i++) {
        ab += ref[i]! * y[i]!;
        aa += ref[i]! * ref[i]!;
        bb += y[i]! * y[i]!;
      }
      return [k, ab / Math.sqrt(aa * bb)];
    }),
  );
}

function table(title: string, models: Record<string, ModelProto>, lat: Record<string, Timing>, cos: Record<string, number>) {
  say(title);
  say();
  say('| variant | nodes | p50 | speed-up vs fp32 (same threads) | vs fp32 at ORT default threads | output cosine |');
  say('|---|---:|---:|---:|---:|---:|');
  for (const [k, m] of Object.entries(models))
    say(
      `| ${k} | ${m.graph!.node.length} | ${lat[k]!.ms.toFixed(1)} ms | ${lat[k]!.speedup.toFixed(2)}x | ${lat[k]!.vsDefault.toFixed(2)}x | ${cos[k]!.toFixed(5)} |`,
    );
  say();
}

say(
  `Machine: ${cpuDescription()}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Node ${process.version}, onnxruntime-node ${ort.env.versions.common}. Run: \`npx tsx bench/fusions.ts --rounds ${rounds} --runs ${runs} --batches ${batches.join(',')} --threads ${threadSettings.join(',')}\` (${new Date().toISOString().slice(0, 10)}).`,
);
say();
for (const batch of batches) {
  const model = fixDims(zooModel('transformer'), { dims: { batch, seq } });
  const inputs = resolveInputs(model);
  const variants: Record<string, ModelProto> = {
    fp32: model,
    'fp32 + MultiHeadAttention': await fused(model, 'mha'),
    'fp32 + Attention': await fused(model, 'attention'),
    'fp32 + MultiHeadAttention + SkipLayerNorm': await fused(model, 'mha', true),
    'dynamic int8': int8(model),
    'MultiHeadAttention, then int8': int8(await fused(model, 'mha')),
    'int8, then MultiHeadAttention': await fused(int8(model), 'mha'),
    'MultiHeadAttention, then int8, + SkipLayerNorm': await skipLayerNorm(int8(await fused(model, 'mha'))),
    'Attention, then int8 (QKV stays float)': int8(await fused(model, 'attention')),
    'alt: int8 + QAttention': await qattention(model),
  };
  const cos = await cosines(variants, inputs);
  const lat = await timeBlocks(variants, inputs);
  for (const threads of threadSettings)
    table(
      `### \`zoo:transformer\`, input [${batch}, ${seq}, 256], intra-op threads: ${threads || "ORT's default"}`,
      variants,
      lat[threads]!,
      cos,
    );
}
{
  const model = fixDims(loadModel('test/corpus/models/tiny-encoder.onnx'), { dims: { batch: 8, sequence: 128 } });
  const inputs = resolveInputs(model, {});
  const variants: Record<string, ModelProto> = {
    fp32: model,
    'fp32 + fusions': await fused(model, 'mha'),
    'fp32 + fusions + SkipLayerNorm': await fused(model, 'mha', true),
    'dynamic int8': int8(model),
    'fusions, then int8': int8(await fused(model, 'mha')),
  };
  const lat = (await timeBlocks(variants, inputs))[threadSettings[0]!]!;
  table(
    "### PyTorch encoder export (`test/corpus/models/tiny-encoder.onnx`, 2 layers, d=64), ids [8, 128], ORT's default threads",
    variants,
    lat,
    await cosines(variants, inputs),
  );
}
