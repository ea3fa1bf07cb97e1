import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { decodeModel, decodeTensor, encodeModel } from '../../src/ir/codec.js';
import { emptyGraph, makeModel, makeNode, valueInfo } from '../../src/ir/builder.js';
import { DataType, dtypeInfo } from '../../src/ir/dtype.js';
import type { ModelProto } from '../../src/ir/proto.js';
import { makeTensor, tensorArray } from '../../src/ir/tensor.js';
import { HoneError } from '../../src/errors.js';
import { aiOnnxOpset, upgradeOpset } from '../../src/passes/upgrade.js';
import { onnxTestCases } from '../helpers/onnx-tests.js';

type Feeds = Record<string, ort.Tensor>;

async function run(model: ModelProto, feeds: Feeds): Promise<ort.Tensor[]> {
  const s = await ort.InferenceSession.create(encodeModel(model), { graphOptimizationLevel: 'disabled' });
  const out = await s.run(feeds);
  const result = s.outputNames.map((n) => out[n]!);
  await s.release();
  return result;
}

function close(got: ort.Tensor, want: ArrayLike<number | bigint>, what: string): void {
  assert.equal(got.data.length, want.length, `${what}: size`);
  for (let k = 0; k < want.length; k++) {
    const g = Number(got.data[k]);
    const w = Number(want[k]);
    assert.ok((Number.isNaN(w) && Number.isNaN(g)) || Math.abs(g - w) <= 1e-4 + 1e-4 * Math.abs(w), `${what}[${k}]: ${g} vs ${w}`);
  }
}

test('every ONNX backend model below opset 13 runs at opsets 13, 16 and 18 with the expected outputs', async () => {
  const cases = onnxTestCases().filter((c) => aiOnnxOpset(decodeModel(readFileSync(c.model))) < 13);
  assert.ok(cases.length >= 100, `only ${cases.length} old-opset backend models found`);
  const refused: string[] = [];
  let ran = 0;
  let runnable = 0;
  for (const c of cases) {
    const original = decodeModel(readFileSync(c.model));
    const tensorTypes = [...original.graph!.input, ...original.graph!.output].map((v) => v.type?.tensorType?.elemType);
    if (tensorTypes.includes(DataType.STRING)) continue;
    // Models this ORT build cannot run as shipped (e.g. training-preview ops) say nothing about the upgrade.
    if (
      !(await ort.InferenceSession.create(readFileSync(c.model)).then(
        (s) => s.release().then(() => true),
        () => false,
      ))
    )
      continue;
    runnable++;
    const ds = c.dataSets[0]!;
    const inputNames = original.graph!.input.map((v) => v.name!).filter((n) => !original.graph!.initializer.some((t) => t.name === n));
    const feeds: Feeds = {};
    inputNames.forEach((name, i) => {
      const t = decodeTensor(readFileSync(join(ds, `input_${i}.pb`)));
      feeds[name] = new ort.Tensor(dtypeInfo(t.dataType!)!.ort as 'float32', tensorArray(t) as Float32Array, t.dims);
    });
    const want = original.graph!.output.map(
      (_, i) => tensorArray(decodeTensor(readFileSync(join(ds, `output_${i}.pb`)))) as ArrayLike<number>,
    );
    for (const to of [13, 16, 18]) {
      let up: ModelProto;
      try {
        up = upgradeOpset(original, to).model;
      } catch (e) {
        assert.ok(e instanceof HoneError && e.exitCode === 2 && !e.message.includes('\n'), `${c.name}: ${String(e)}`);
        refused.push(`${c.name} -> ${to}: ${e.message}`);
        continue;
      }
      assert.equal(aiOnnxOpset(up), to);
      const got = await run(up, feeds);
      got.forEach((g, i) => close(g, want[i]!, `${c.name} at opset ${to}, output ${i}`));
      ran++;
    }
  }
  // Nothing in the backend data needs an unsupported rewrite: every case upgrades to every target.
  assert.deepEqual(refused, []);
  assert.ok(runnable >= 90, `only ${runnable} old-opset backend models load in ORT`);
  assert.equal(ran, runnable * 3);
});

test("the caller's model is untouched and an already-new model comes back as is", () => {
  const g = emptyGraph();
  g.input.push(valueInfo('x', DataType.FLOAT, [2, 3]));
  g.output.push(valueInfo('y', DataType.FLOAT, [3]));
  g.node.push(makeNode('ReduceSum', ['x'], ['y'], { axes: [0], keepdims: 0 }));
  const m = makeModel(g, { opset: 11, irVersion: 6 });
  const before = JSON.stringify(encodeModel(m));
  const r = upgradeOpset(m, 13);
  assert.equal(r.changed, true);
  assert.equal(r.from, 11);
  assert.equal(r.model.graph!.node[0]!.attribute.length, 1, 'axes moved to an input, keepdims kept');
  assert.equal(r.model.graph!.node[0]!.input.length, 2);
  assert.equal(JSON.stringify(encodeModel(m)), before);
  const same = upgradeOpset(r.model, 13);
  assert.equal(same.changed, false);
  assert.equal(same.model, r.model);
});

/** A one-node model at `opset` over a float input [1,2,3,4] (values 0..23), run before and after upgrading. */
async function sameAfterUpgrade(
  opset: number,
  to: number,
  build: (g: ReturnType<typeof emptyGraph>) => void,
  outShape: number[],
): Promise<ModelProto> {
  const g = emptyGraph();
  g.input.push(valueInfo('x', DataType.FLOAT, [1, 2, 3, 4]));
  g.output.push(valueInfo('y', DataType.FLOAT, outShape));
  build(g);
  const m = makeModel(g, { opset, irVersion: opset < 9 ? 3 : 6 });
  const x = new ort.Tensor(
    'float32',
    Float32Array.from({ length: 24 }, (_, i) => ((i * 7) % 11) - 3.5),
    [1, 2, 3, 4],
  );
  const [want] = await run(m, { x });
  const up = upgradeOpset(m, to).model;
  const [got] = await run(up, { x });
  assert.deepEqual(got!.dims, want!.dims);
  close(got!, want!.data as Float32Array, `opset ${opset} -> ${to}`);
  return up;
}

test('Upsample (7: scales attribute, 9: scales input) and Resize-10 become a Resize that samples the same points', async () => {
  for (const mode of ['nearest', 'linear']) {
    for (const to of [10, 13]) {
      const up7 = await sameAfterUpgrade(
        7,
        to,
        (g) => {
          g.node.push(makeNode('Upsample', ['x'], ['y'], { mode, scales: { floats: [1, 1, 2, 1.5] } }));
        },
        [1, 2, 6, 6],
      );
      assert.equal(up7.graph!.node[0]!.opType, 'Resize');
      await sameAfterUpgrade(
        9,
        to,
        (g) => {
          g.initializer.push(makeTensor('s', DataType.FLOAT, [4], Float32Array.of(1, 1, 3, 2)));
          g.node.push(makeNode('Upsample', ['x', 's'], ['y'], { mode }));
        },
        [1, 2, 9, 8],
      );
    }
    await sameAfterUpgrade(
      10,
      13,
      (g) => {
        g.initializer.push(makeTensor('s', DataType.FLOAT, [4], Float32Array.of(1, 1, 2, 2)));
        g.node.push(makeNode('Resize', ['x', 's'], ['y'], { mode }));
      },
      [1, 2, 6, 8],
    );
  }
});

test('attributes that became inputs keep their meaning, for float16 Clip bounds too', async () => {
  await sameAfterUpgrade(
    9,
    13,
    (g) => {
      g.node.push(makeNode('Slice', ['x'], ['y'], { starts: [1, -3], ends: [3, 1000], axes: [2, 3] }));
    },
    [1, 2, 2, 3],
  );
  await sameAfterUpgrade(
    9,
    13,
    (g) => {
      g.node.push(makeNode('Pad', ['x'], ['y'], { pads: [0, 0, 1, 0, 0, 0, 0, 2], value: 1.5 }));
    },
    [1, 2, 4, 6],
  );
  await sameAfterUpgrade(
    9,
    18,
    (g) => {
      g.node.push(makeNode('ReduceMean', ['x'], ['y'], { axes: [1, 3], keepdims: 1 }));
    },
    [1, 1, 3, 1],
  );
  await sameAfterUpgrade(
    9,
    13,
    (g) => {
      g.node.push(makeNode('TopK', ['x'], ['y', 'i'], { k: 2, axis: 3 }));
    },
    [1, 2, 3, 2],
  );
  // Clip on float16: its min/max must become float16 inputs, not float ones.
  const up = await sameAfterUpgrade(
    9,
    13,
    (g) => {
      g.node.push(makeNode('Cast', ['x'], ['h'], { to: DataType.FLOAT16 }));
      g.node.push(makeNode('Clip', ['h'], ['c'], { min: { float: -1 }, max: 2.5 }));
      g.node.push(makeNode('Cast', ['c'], ['y'], { to: DataType.FLOAT }));
    },
    [1, 2, 3, 4],
  );
  assert.ok(
    up.graph!.node.some((n) => n.opType === 'Cast' && n.attribute[0]!.i === DataType.FLOAT16 && n.output[0]!.startsWith('upgrade/')),
  );
});

test('softmax over a middle axis keeps its opset-11 meaning (2-D coercion)', async () => {
  const up = await sameAfterUpgrade(
    11,
    13,
    (g) => {
      g.node.push(makeNode('Softmax', ['x'], ['y'], { axis: 1 }));
    },
    [1, 2, 3, 4],
  );
  assert.ok(up.graph!.node.some((n) => n.opType === 'Flatten'));
  const last = await sameAfterUpgrade(
    11,
    13,
    (g) => {
      g.node.push(makeNode('Softmax', ['x'], ['y'], { axis: 3 }));
    },
    [1, 2, 3, 4],
  );
  assert.equal(last.graph!.node.length, 1);
});

test('subgraphs are upgraded too: an If whose branches use opset-9 Unsqueeze and Slice', async () => {
  const branch = (name: string, start: number) => {
    const b = emptyGraph(name);
    b.output.push(valueInfo(`${name}_y`, DataType.FLOAT, undefined));
    b.node.push(makeNode('Slice', ['x'], [`${name}_s`], { starts: [start], ends: [start + 2], axes: [3] }));
    b.node.push(makeNode('Unsqueeze', [`${name}_s`], [`${name}_y`], { axes: [0] }));
    return b;
  };
  const g = emptyGraph();
  g.input.push(valueInfo('x', DataType.FLOAT, [1, 2, 3, 4]), valueInfo('c', DataType.BOOL, []));
  g.output.push(valueInfo('y', DataType.FLOAT, undefined));
  g.node.push(makeNode('If', ['c'], ['y'], { then_branch: branch('then', 1), else_branch: branch('else', 2) }));
  const m = makeModel(g, { opset: 9, irVersion: 4 });
  const up = upgradeOpset(m, 13).model;
  const x = new ort.Tensor(
    'float32',
    Float32Array.from({ length: 24 }, (_, i) => i),
    [1, 2, 3, 4],
  );
  for (const c of [true, false]) {
    const feeds = { x, c: new ort.Tensor('bool', Uint8Array.of(c ? 1 : 0), []) };
    const [want] = await run(m, feeds);
    const [got] = await run(up, feeds);
    assert.deepEqual(got!.dims, want!.dims);
    close(got!, want!.data as Float32Array, `If ${c}`);
  }
  const thenBranch = up.graph!.node[0]!.attribute.find((a) => a.name === 'then_branch')!.g!;
  assert.ok(thenBranch.node.every((n) => n.attribute.every((a) => a.name !== 'axes' && a.name !== 'starts')));
  assert.ok(thenBranch.initializer.length >= 3, 'the branch holds its own constants');
});

test('a rewrite that cannot keep the meaning is one clear line naming the node', () => {
  const g = emptyGraph();
  g.input.push(valueInfo('x', DataType.FLOAT, [2, 3, 4]), valueInfo('b', DataType.FLOAT, [3]));
  g.output.push(valueInfo('y', DataType.FLOAT, [2, 3, 4]));
  g.node.push(makeNode('Add', ['x', 'b'], ['y'], { broadcast: 1, axis: 1 }, { name: 'add_mid' }));
  assert.throws(
    () => upgradeOpset(makeModel(g, { opset: 6, irVersion: 3 }), 13),
    (e: unknown) =>
      e instanceof HoneError &&
      e.exitCode === 2 &&
      /Add node 'add_mid' cannot be upgraded from opset 6 to 13: legacy broadcasting at axis 1/.test(e.message),
  );
});
