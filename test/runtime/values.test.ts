import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HoneError } from '../../src/errors.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { createSession } from '../../src/runtime/session.js';
import {
  batchDim,
  fixDims,
  graphInputs,
  randomFeeds,
  randomFeedsHint,
  resolveBatchSizes,
  resolveInputs,
  valueShape,
  type InputValue,
} from '../../src/runtime/inputs.js';
import { valueTensor } from '../../src/runtime/values.js';
import { halfBits } from '../../src/ir/half.js';
import { parseInputFlags } from '../../src/cli/model-flags.js';
import { writeNpy } from '../helpers/npz.js';
import { sampleRateModel, tinyMlp, twoInputs, unnamedDims } from './helpers.js';

const value = (text: string, data: number[], dims: number[] = data.length === 1 ? [] : [data.length]): InputValue => ({
  dims,
  data: Float64Array.from(data),
  text,
});
const honeError = (re: RegExp) => (e: unknown) => e instanceof HoneError && e.exitCode === 2 && re.test(e.message);

test('--input: numbers, comma lists, true/false, .npy files, integers past 2^53 kept exact', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hone-values-'));
  try {
    const mask = join(dir, 'mask.npy');
    writeNpy(mask, { data: Float32Array.of(1, 1, 0), dims: [1, 3] });
    const v = parseInputFlags(['sr=16000', 'ids=101, 2023,102', 'flag=true', `mask=${mask}`, 'big=9007199254740993,1']);
    assert.deepEqual([...v.get('sr')!.data], [16000]);
    assert.deepEqual(v.get('sr')!.dims, []);
    assert.deepEqual(v.get('ids')!.dims, [3]);
    assert.deepEqual([...v.get('flag')!.data], [1]);
    assert.deepEqual(v.get('mask')!.dims, [1, 3]);
    assert.deepEqual([...v.get('mask')!.data], [1, 1, 0]);
    assert.deepEqual([...v.get('big')!.data], [9007199254740993n, 1n]);
    assert.equal(v.get('sr')!.text, 'sr=16000');
    for (const [bad, re] of [
      ['sr', /not NAME=VALUE/],
      ['=3', /not NAME=VALUE/],
      ['sr=', /not NAME=VALUE/],
      ['sr=abc', /'abc' is not a number/],
      ['ids=1,,2', /'' is not a number/],
      [`m=${join(dir, 'nope.npy')}`, /cannot read .*nope\.npy \(no such file\)/],
    ] as const)
      assert.throws(() => parseInputFlags([bad]), honeError(re), bad);
    assert.throws(() => parseInputFlags(['sr=1', 'sr=2']), honeError(/--input sr is given twice/));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a given value is converted to the input type and repeated over the leading dims it leaves out', () => {
  const int64 = valueTensor({ name: 'sr', elemType: DataType.INT64 }, [], value('sr=16000', [16000]));
  assert.equal(int64.type, 'int64');
  assert.deepEqual([...(int64.data as BigInt64Array)], [16000n]);
  const rows = valueTensor({ name: 'ids', elemType: DataType.INT32 }, [2, 3], value('ids=7,8,9', [7, 8, 9]));
  assert.deepEqual([...(rows.data as Int32Array)], [7, 8, 9, 7, 8, 9]);
  const fill = valueTensor({ name: 'm', elemType: DataType.FLOAT }, [2, 2], value('m=0.5', [0.5]));
  assert.deepEqual([...(fill.data as Float32Array)], [0.5, 0.5, 0.5, 0.5]);
  const bool = valueTensor({ name: 'b', elemType: DataType.BOOL }, [2], value('b=1,0', [1, 0]));
  assert.equal(bool.type, 'bool');
  assert.deepEqual([...(bool.data as Uint8Array)], [1, 0]);
  const half = valueTensor({ name: 'h', elemType: DataType.FLOAT16 }, [4], value('h=1,-2,65504,1e6', [1, -2, 65504, 1e6]));
  assert.deepEqual([...(half.data as Uint16Array)], [0x3c00, 0xc000, 0x7bff, 0x7c00]);
  assert.equal(halfBits(2 ** -24), 1, 'the smallest subnormal');
  const big: InputValue = { dims: [], data: BigInt64Array.of(9007199254740993n), text: 'id=9007199254740993' };
  assert.deepEqual([...(valueTensor({ name: 'id', elemType: DataType.INT64 }, [], big).data as BigInt64Array)], [9007199254740993n]);
  const bad: [number, number, number[], RegExp][] = [
    [DataType.INT64, 16000.5, [], /input 'sr' is int64, and 16000\.5 is not a whole number/],
    [DataType.UINT8, 300, [], /is uint8, and 300 is not a whole number in 0\.\.255/],
    [DataType.BOOL, 2, [], /input 'sr' is bool; give true, false, 1 or 0, not 2/],
    [DataType.STRING, 1, [], /element type string, which --input cannot give/],
  ];
  for (const [elemType, x, shape, re] of bad)
    assert.throws(() => valueTensor({ name: 'sr', elemType }, shape, value(`sr=${x}`, [x])), honeError(re));
  assert.throws(
    () => valueTensor({ name: 'ids', elemType: DataType.INT64 }, [2, 4], value('ids=1,2,3', [1, 2, 3])),
    honeError(/--input ids=1,2,3 has shape \[3\], which does not fill the trailing dims of input 'ids' \[2,4\]/),
  );
});

test('values size the dims they fill, for every input that shares the symbol', () => {
  const m = twoInputs();
  const ids = value('ids=5,6,7', [5, 6, 7]);
  assert.deepEqual(
    resolveInputs(m, { dims: { batch: 2 }, values: { ids } }).map((i) => i.shape),
    [
      [2, 3],
      [2, 3],
    ],
  );
  const feeds = randomFeeds(resolveInputs(m, { dims: { batch: 2 }, values: { ids } }), 0, 2, { ids });
  assert.deepEqual([...(feeds.ids!.data as BigInt64Array)], [5n, 6n, 7n, 5n, 6n, 7n]);
  assert.equal(feeds.mask!.type, 'float32', 'inputs without a value stay random');
  assert.deepEqual(valueShape(graphInputs(m)[0]!, ids, new Map([['batch', 4]])), [4, 3]);
  assert.throws(
    () => valueShape(graphInputs(m)[0]!, ids, new Map()),
    honeError(/leaves dim 0 of input 'ids' \('batch'\) without a size; pass --dim batch=N/),
  );
});

test('a value that disagrees with --dim, --shape, the model or the rank is an error naming both', () => {
  const m = twoInputs();
  const ids = value('ids=5,6,7', [5, 6, 7]);
  const err = (fixes: Parameters<typeof resolveInputs>[1], re: RegExp) => assert.throws(() => resolveInputs(m, fixes), honeError(re));
  err(
    { dims: { batch: 1, seq: 4 }, values: { ids } },
    /--input ids=5,6,7 makes 'seq' 3, but --dim seq=4 makes it 4; drop one or make them agree/,
  );
  err(
    { dims: { batch: 1 }, shapes: { ids: [1, 4], mask: [1, 4] }, values: { ids } },
    /--shape ids=1x4 and --input ids=5,6,7 \(shape \[3\]\) disagree/,
  );
  err({ dims: { batch: 1, seq: 3 }, values: { idz: ids } }, /--input names 'idz', but the model's inputs are: ids, mask/);
  err(
    { dims: { batch: 1, seq: 3 }, values: { ids: { dims: [1, 1, 3], data: new Float64Array(3), text: 'ids=x.npy' } } },
    /--input ids=x\.npy has rank 3, but input 'ids' has rank 2/,
  );
  assert.throws(
    () => resolveInputs(tinyMlp(), { dims: { batch: 1 }, values: { x: value('x=1,2', [1, 2]) } }),
    honeError(/dim 1 of input 'x' is fixed at 16 in the model, the value has 2/),
  );
  assert.throws(
    () => resolveInputs(sampleRateModel(), { dims: { batch: 1 }, values: { sr: value('sr=1,2', [1, 2]) } }),
    honeError(/gives 2 values, but input 'sr' is a scalar; give one number/),
  );
});

test('dims the model leaves unnamed get stable names, and the error lists every dim without a size', () => {
  const m = unnamedDims();
  assert.deepEqual(graphInputs(m)[0]!.shape, ['x_dim0', 'x_dim1']);
  assert.throws(
    () => resolveInputs(m),
    honeError(
      /symbolic dims without a size: 'x_dim0' \(input 'x' dim 0, unnamed in the model\), 'x_dim1' \(input 'x' dim 1, unnamed in the model\); pass --dim x_dim0=N --dim x_dim1=N/,
    ),
  );
  assert.throws(
    () => resolveInputs(m, { dims: { x_dim0: 2 } }),
    honeError(/input 'x' has symbolic dim 'x_dim1' \(dim 1, unnamed in the model\); pass --dim x_dim1=N/),
  );
  assert.throws(
    () => resolveInputs(m, { dims: { x_dim2: 2 } }),
    honeError(/the symbolic dims are: x_dim0 \(unnamed dim 0 of 'x'\), x_dim1 \(unnamed dim 1 of 'x'\)/),
  );
  assert.deepEqual(resolveInputs(m, { dims: { x_dim0: 2, x_dim1: 3 } })[0]!.shape, [2, 3]);
  const fixed = fixDims(m, { dims: { x_dim0: 2, x_dim1: 3 } });
  assert.deepEqual(fixed.graph!.input[0]!.type!.tensorType!.shape!.dim, [{ dimValue: 2 }, { dimValue: 3 }]);
});

test('fixDims partial leaves unsized dims (and with keepLeading the batch) as the model has them', () => {
  const m = twoInputs();
  const partial = fixDims(m, { dims: { seq: 5 } }, { partial: true });
  assert.deepEqual(
    partial.graph!.input.map((i) => i.type!.tensorType!.shape!.dim),
    [
      [{ dimParam: 'batch' }, { dimValue: 5 }],
      [{ dimParam: 'batch' }, { dimValue: 5 }],
    ],
  );
  const lead = fixDims(m, { shapes: { ids: [4, 5] }, dims: { seq: 5 } }, { partial: true, keepLeading: true });
  assert.deepEqual(lead.graph!.input[0]!.type!.tensorType!.shape!.dim, [{ dimParam: 'batch' }, { dimValue: 5 }]);
  assert.throws(() => fixDims(m, { dims: { beam: 2 } }, { partial: true }), honeError(/--dim names 'beam'/));
});

test('the batch size is set once: --batch-sizes or a fix of the batch dim; both disagreeing is an error naming both', () => {
  const m = twoInputs();
  assert.equal(resolveBatchSizes(m, {}, undefined), undefined);
  assert.deepEqual(resolveBatchSizes(m, {}, [1, 8]), [1, 8]);
  assert.deepEqual(resolveBatchSizes(m, { dims: { batch: 4 } }, undefined), [4]);
  assert.deepEqual(resolveBatchSizes(m, { dims: { batch: 4 } }, [4]), [4]);
  assert.deepEqual(batchDim(m, { shapes: { ids: [3, 7] } }), { input: 'ids', dim: 'batch', given: { size: 3, flag: '--shape ids=3x7' } });
  assert.deepEqual(batchDim(m, { values: { ids: { dims: [2, 3], data: new Float64Array(6), text: 'ids=ids.npy' } } })?.given, {
    size: 2,
    flag: '--input ids=ids.npy',
  });
  assert.equal(
    batchDim(m, { values: { ids: value('ids=1,2', [1, 2]) } })?.given,
    undefined,
    'a value of the last dims leaves the batch open',
  );
  assert.throws(
    () => resolveBatchSizes(m, { dims: { batch: 4 } }, [1, 8]),
    honeError(/^--dim batch=4 sets the batch size to 4, --batch-sizes to 1,8; drop one of them, or make them agree$/),
  );
  assert.throws(
    () => resolveBatchSizes(m, { shapes: { ids: [3, 7] } }, [16], '--batch-size'),
    honeError(/--shape ids=3x7 sets the batch size to 3, --batch-size to 16/),
  );
});

test('a run that fails on random data names the non-float and scalar inputs that got it', async () => {
  const m = sampleRateModel();
  const inputs = resolveInputs(m, { dims: { batch: 1 } });
  assert.equal(randomFeedsHint(inputs), "'sr' got random data; if it needs a real value, pass --input sr=VALUE");
  assert.equal(randomFeedsHint(inputs, { sr: value('sr=16000', [16000]) }), undefined);
  const s = await createSession(m);
  try {
    const out = await s.run(randomFeeds(inputs, 0, 2, { sr: value('sr=16000', [16000]) }));
    assert.deepEqual(out.y!.dims, [1, 3], 'sr=16000 reaches the feed: the Reshape keeps width 4');
    await assert.rejects(s.run(randomFeeds(inputs)), 'a random sr makes the Reshape fail');
  } finally {
    await s.release();
  }
});

test('a bool input takes true/false', async () => {
  const b = new GraphBuilder('flag');
  const x = b.input('x', DataType.FLOAT, [2]);
  const flag = b.input('flag', DataType.BOOL, []);
  b.op('Where', [flag, x, b.op('Neg', [x])], {}, { output: 'y' });
  b.output('y', DataType.FLOAT, [2]);
  const m = b.model();
  const s = await createSession(m);
  try {
    for (const [text, sign] of [
      ['flag=true', 1],
      ['flag=false', -1],
    ] as const) {
      const values = Object.fromEntries(parseInputFlags([text]));
      const out = await s.run({ ...randomFeeds(resolveInputs(m, { values }), 0, 2, values), x: randomFeeds(resolveInputs(m), 3).x! });
      const x0 = (randomFeeds(resolveInputs(m), 3).x!.data as Float32Array)[0]!;
      assert.equal((out.y!.data as Float32Array)[0], sign * x0, text);
    }
  } finally {
    await s.release();
  }
});
