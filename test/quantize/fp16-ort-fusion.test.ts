// ONNX Runtime 1.30 segfaults creating a session at graphOptimizationLevel 'all' for a MatMul with a constant
// B that reads a batch-moving Transpose (perm [1, 0, 2]: a GRU's output read batch-first) when float16 is
// involved (fp16.ts, ORT_FUSION_CRASH). A segfault kills the process, so every session on a converted model
// here is created in a child process: the test asserts it exits 0 and its outputs match the float model's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor } from 'onnxruntime-node';
import { convertFp16 } from '../../src/quantize/fp16.js';
import { encodeModel } from '../../src/ir/codec.js';
import { loadModel } from '../../src/ir/model.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import type { ModelProto } from '../../src/ir/proto.js';
import { corpusModels } from '../helpers/corpus.js';
import { mulberry32 } from '../../src/util/random.js';
import { cosine, floatInput, run } from './helpers.js';

/** Creates an ORT session at level 'all' in a child process and runs it once; the child prints the outputs as JSON. */
const CHILD = `
const ort = require('onnxruntime-node');
const fs = require('fs');
const [model, feedsPath] = process.argv.slice(1);
const feeds = {};
for (const [k, v] of Object.entries(JSON.parse(fs.readFileSync(feedsPath, 'utf8')))) {
  feeds[k] = new ort.Tensor(v.type, v.type === 'bool' ? Uint8Array.from(v.data) : Float32Array.from(v.data), v.dims);
}
ort.InferenceSession.create(model, { graphOptimizationLevel: 'all', intraOpNumThreads: 1, logSeverityLevel: 3 })
  .then((s) => s.run(feeds))
  .then((out) => process.stdout.write(JSON.stringify(Object.fromEntries(Object.entries(out).map(([k, t]) => [k, Array.from(t.data)])))));
`;

function runInChild(
  model: ModelProto,
  feeds: Record<string, Tensor>,
): { status: number | null; signal: string | null; outputs?: Record<string, number[]>; stderr: string } {
  const dir = mkdtempSync(join(tmpdir(), 'hone-fp16-fusion-'));
  try {
    const path = join(dir, 'model.onnx');
    writeFileSync(path, encodeModel(model));
    const feedsPath = join(dir, 'feeds.json');
    writeFileSync(
      feedsPath,
      JSON.stringify(
        Object.fromEntries(
          Object.entries(feeds).map(([k, t]) => [k, { type: t.type, dims: t.dims, data: Array.from(t.data as ArrayLike<number>) }]),
        ),
      ),
    );
    const r = spawnSync(process.execPath, ['-e', CHILD, path, feedsPath], { encoding: 'utf8' });
    return { status: r.status, signal: r.signal, outputs: r.status === 0 ? JSON.parse(r.stdout) : undefined, stderr: r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function assertLoadsAndMatches(
  float: ModelProto,
  half: ModelProto,
  feeds: Record<string, Tensor>,
  minCosine: number,
): Promise<number> {
  const child = runInChild(half, feeds);
  assert.equal(child.signal, null, `ORT crashed (${child.signal}) creating the float16 session at level 'all'`);
  assert.equal(child.status, 0, child.stderr);
  const expected = await run(float, feeds);
  let worst = 1;
  for (const [name, want] of Object.entries(expected)) {
    const got = child.outputs![name]!;
    assert.ok(got.every(Number.isFinite), `${name}: non-finite outputs`);
    worst = Math.min(worst, cosine(want, got));
  }
  assert.ok(worst >= minCosine, `output cosine ${worst} < ${minCosine}`);
  return worst;
}

/** x[T, B, H] → Transpose(perm) → (Div by a constant) → MatMul(constant W) → Add(bias): the GRU-head shape. */
function batchTransposedMatMul(opts: { perm: number[]; shape: number[]; div?: boolean }): ModelProto {
  const r = mulberry32(5);
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, opts.shape);
  const h = opts.shape[opts.perm[opts.perm.length - 1]!]!;
  const w = b.floatInit(
    'w',
    [h, 8],
    Float32Array.from({ length: h * 8 }, () => r() - 0.5),
  );
  const bias = b.floatInit(
    'bias',
    [8],
    Float32Array.from({ length: 8 }, () => r() - 0.5),
  );
  let t = b.op('Transpose', [x], { perm: opts.perm });
  if (opts.div) t = b.op('Div', [t, b.floatInit('scale', [], Float32Array.of(4))]);
  b.op('Add', [b.op('MatMul', [t, w]), bias], {}, { output: 'y' });
  b.output('y', DataType.FLOAT);
  return b.model({ opset: 17 });
}

const CASES = [
  { name: 'Transpose(1,0,2) → MatMul', perm: [1, 0, 2], shape: [5, 2, 16] },
  { name: 'Transpose(1,0,2) → Div → MatMul', perm: [1, 0, 2], shape: [5, 2, 16], div: true },
  { name: 'Transpose(1,2,0,3) → MatMul (rank 4)', perm: [1, 2, 0, 3], shape: [3, 2, 4, 16] },
];

for (const c of CASES) {
  test(`fp16: ${c.name} with a constant B keeps the MatMul float32; ORT loads it at level all, outputs match`, async () => {
    const float = batchTransposedMatMul(c);
    const { model, report } = convertFp16(float);
    const matmul = report.nodes.find((d) => d.opType === 'MatMul')!;
    assert.equal(matmul.quantized, false);
    assert.match(matmul.detail, /ONNX Runtime 1\.30 crashes/);
    assert.ok(
      report.nodes.some((d) => d.opType === 'Add' && d.quantized),
      'the rest of the graph still runs in float16',
    );
    await assertLoadsAndMatches(float, model, { x: floatInput(c.shape, 2) }, 0.999);
  });
}

test('fp16: a Transpose that fuses to transA (perm 0,2,1) is not the crash pattern: the MatMul runs in float16', async () => {
  const float = batchTransposedMatMul({ perm: [0, 2, 1], shape: [2, 16, 5] });
  const { model, report } = convertFp16(float);
  assert.equal(report.nodes.find((d) => d.opType === 'MatMul')!.quantized, true);
  await assertLoadsAndMatches(float, model, { x: floatInput([2, 16, 5], 2) }, 0.999);
});

const gru = corpusModels().find((m) => m.id === 'tiny-gru-kws')!;

test('fp16: the corpus GRU keyword spotter (GRU → Transpose → MatMul head) loads at level all and matches float', async () => {
  const float = loadModel(gru.path);
  const { model } = convertFp16(float);
  const r = mulberry32(7);
  const feeds = {
    features: new Tensor(
      'float32',
      Float32Array.from({ length: 2 * 50 * 40 }, () => r() * 2 - 1),
      [2, 50, 40],
    ),
    h0: new Tensor('float32', new Float32Array(2 * 2 * 64), [2, 2, 64]),
    reset: new Tensor('bool', Uint8Array.of(0, 1), [2]),
  };
  await assertLoadsAndMatches(float, model, feeds, 0.999);
});
