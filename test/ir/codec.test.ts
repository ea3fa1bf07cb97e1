import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import { decodeModel, decodeTensor, encodeModel, encodeTensor, encodeMessage, decodeMessage, DecodeError } from '../../src/ir/codec.js';
import { DataType, dtypeInfo, byteSize } from '../../src/ir/dtype.js';
import { makeTensor, tensorArray } from '../../src/ir/tensor.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import type { ModelProto, TensorProto } from '../../src/ir/proto.js';
import { onnxTestCases } from '../helpers/onnx-tests.js';

const cases = onnxTestCases();

test('ONNX backend test models: decode → encode is byte-identical', { skip: cases.length === 0 && 'shared/onnx-tests not present' }, () => {
  assert.ok(cases.length > 100, `expected the ONNX backend models, found ${cases.length}`);
  for (const c of cases) {
    const buf = readFileSync(c.model);
    const out = encodeModel(decodeModel(buf));
    assert.equal(Buffer.compare(Buffer.from(out), buf), 0, `${c.name} did not round-trip byte for byte`);
  }
});

test('ONNX backend test tensors: decode → encode is byte-identical', {
  skip: cases.length === 0 && 'shared/onnx-tests not present',
}, () => {
  let n = 0;
  for (const c of cases) {
    for (const ds of c.dataSets) {
      for (const f of readdirSync(ds)) {
        const buf = readFileSync(join(ds, f));
        assert.equal(Buffer.compare(Buffer.from(encodeTensor(decodeTensor(buf))), buf), 0, `${c.name}/${f}`);
        n++;
      }
    }
  }
  assert.ok(n > 200);
});

test('re-encoded models still load and run in ONNX Runtime with the expected outputs', {
  skip: cases.length === 0 && 'shared/onnx-tests not present',
}, async (t) => {
  let ran = 0;
  const skipped: string[] = [];
  for (const c of cases.filter((x) => x.name.startsWith('pytorch-'))) {
    const model = decodeModel(readFileSync(c.model));
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(encodeModel(model));
    } catch (e) {
      // Only acceptable when ORT refuses the original file the same way (an op or opset this build lacks).
      const original = await ort.InferenceSession.create(readFileSync(c.model)).then(
        () => undefined,
        (e2: Error) => e2.message,
      );
      assert.ok(original !== undefined, `${c.name}: ORT loads the original but not the re-encoded model: ${(e as Error).message}`);
      skipped.push(`${c.name}: ${original.split('\n')[0]!.slice(0, 120)}`);
      continue;
    }
    const ds = c.dataSets[0]!;
    const feeds: Record<string, ort.Tensor> = {};
    session.inputNames.forEach((name, i) => {
      const t = decodeTensor(readFileSync(join(ds, `input_${i}.pb`)));
      feeds[name] = new ort.Tensor(dtypeInfo(t.dataType!)!.ort as 'float32', tensorArray(t) as Float32Array, t.dims);
    });
    const out = await session.run(feeds);
    session.outputNames.forEach((name, i) => {
      const want = tensorArray(decodeTensor(readFileSync(join(ds, `output_${i}.pb`)))) as Float32Array;
      const got = out[name]!.data as Float32Array;
      assert.equal(got.length, want.length, `${c.name} output ${i} size`);
      for (let k = 0; k < got.length; k++)
        assert.ok(
          (Number.isNaN(want[k]) && Number.isNaN(got[k])) || Math.abs(got[k]! - want[k]!) <= 1e-3 + 1e-3 * Math.abs(want[k]!),
          `${c.name} output ${i}[${k}]: ${got[k]} vs ${want[k]}`,
        );
    });
    ran++;
    await session.release();
  }
  if (skipped.length) t.diagnostic(`ORT cannot load ${skipped.length} of these models itself:\n${skipped.join('\n')}`);
  assert.ok(ran >= 60, `only ${ran} models ran`);
});

test('every tensor element type round-trips (raw_data and typed fields)', () => {
  for (let id = 1; id <= 26; id++) {
    const info = dtypeInfo(id);
    if (!info || info.bits === 0) continue;
    const dims = [3, 5];
    const bytes = new Uint8Array(byteSize(id, 15));
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 37 + id) & 0xff;
    const t: TensorProto = { name: `t${id}`, dataType: id, dims, rawData: bytes, stringData: [], externalData: [], metadataProps: [] };
    const back = decodeTensor(encodeTensor(t));
    assert.equal(back.dataType, id);
    assert.deepEqual(back.dims, dims);
    assert.deepEqual([...back.rawData!], [...bytes], `dtype ${info.name}`);
  }
  const typed: TensorProto = {
    name: 'typed',
    dims: [2],
    stringData: [new TextEncoder().encode('a'), new TextEncoder().encode('bc')],
    externalData: [],
    metadataProps: [],
    floatData: new Float32Array([1.5, -2]),
    int32Data: new Int32Array([-1, 2 ** 31 - 1]),
    int64Data: new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n]),
    doubleData: new Float64Array([Math.PI, -0]),
    uint64Data: new BigUint64Array([0n, 2n ** 64n - 1n]),
  };
  const back = decodeTensor(encodeTensor(typed));
  assert.deepEqual([...back.floatData!], [1.5, -2]);
  assert.deepEqual([...back.int32Data!], [-1, 2 ** 31 - 1]);
  assert.deepEqual([...back.int64Data!], [-(2n ** 63n), 2n ** 63n - 1n]);
  assert.deepEqual([...back.doubleData!], [Math.PI, -0]);
  assert.deepEqual([...back.uint64Data!], [0n, 2n ** 64n - 1n]);
  assert.deepEqual(
    back.stringData.map((s) => new TextDecoder().decode(s)),
    ['a', 'bc'],
  );
});

test('int64 attribute extremes round-trip (Slice ends = INT64_MAX)', () => {
  const b = new GraphBuilder();
  b.input('x', DataType.FLOAT, [4]);
  b.op('Slice', ['x'], { starts: [1], ends: [2 ** 63], axes: [-1] }, { output: 'y' });
  b.output('y', DataType.FLOAT, [3]);
  const bytes = encodeModel(b.model({ opset: 9 }));
  const node = decodeModel(bytes).graph!.node[0]!;
  const ends = node.attribute.find((a) => a.name === 'ends')!;
  assert.equal(ends.ints[0], 2 ** 63, 'INT64_MAX, as the nearest double');
  assert.equal(Buffer.compare(Buffer.from(encodeModel(decodeModel(bytes))), Buffer.from(bytes)), 0);
});

test('unknown fields survive decode → encode, in every message', () => {
  const b = new GraphBuilder();
  b.input('x', DataType.FLOAT, ['batch', 3]);
  b.op('Relu', ['x'], {}, { output: 'y' });
  b.output('y', DataType.FLOAT, ['batch', 3]);
  const model = b.model();
  // Field 99 (varint 7), field 100 (bytes "hi"), field 101 (fixed32): a newer ONNX's fields.
  const extra = new Uint8Array([0x98, 0x06, 0x07, 0xa2, 0x06, 0x02, 0x68, 0x69, 0xad, 0x06, 1, 2, 3, 4]);
  model.$unknown = [extra];
  model.graph!.node[0]!.$unknown = [extra];
  model.graph!.input[0]!.type!.tensorType!.shape!.dim[0]!.$unknown = [extra];
  const once = encodeModel(model);
  const back = decodeModel(once);
  assert.equal(back.$unknown?.length, 3);
  assert.equal(back.graph!.node[0]!.$unknown?.length, 3);
  assert.equal(back.graph!.input[0]!.type!.tensorType!.shape!.dim[0]!.$unknown?.length, 3);
  assert.equal(Buffer.compare(Buffer.from(encodeModel(back)), Buffer.from(once)), 0);
});

test('every field of the schema round-trips: functions, sparse initializers, training info, metadata, annotations', () => {
  const b = new GraphBuilder();
  b.input('x', DataType.FLOAT, [2, 2]);
  b.op('Relu', ['x'], {}, { output: 'y' });
  b.output('y', DataType.FLOAT, [2, 2]);
  const model = b.model();
  const g = model.graph!;
  const vals = makeTensor('sp_values', DataType.FLOAT, [2], new Float32Array([1, 2]));
  const idx = makeTensor('sp_idx', DataType.INT64, [2], new BigInt64Array([0n, 3n]));
  g.sparseInitializer.push({ values: vals, indices: idx, dims: [2, 2] });
  g.quantizationAnnotation.push({ tensorName: 'y', quantParameterTensorNames: [{ key: 'SCALE_TENSOR', value: 's' }] });
  g.metadataProps.push({ key: 'k', value: 'v' });
  g.valueInfo.push({
    name: 'y',
    docString: 'doc',
    metadataProps: [{ key: 'a', value: 'b' }],
    type: { sequenceType: { elemType: { tensorType: { elemType: 1 } } } },
  });
  g.valueInfo.push({
    name: 'm',
    metadataProps: [],
    type: { mapType: { keyType: 7, valueType: { optionalType: { elemType: { sparseTensorType: { elemType: 1 } } } } }, denotation: 'D' },
  });
  g.valueInfo.push({ name: 'o', metadataProps: [], type: { opaqueType: { domain: 'd', name: 'n' } } });
  model.metadataProps.push({ key: 'author', value: 'hone' });
  model.functions.push({
    name: 'F',
    domain: 'custom',
    overload: 'o1',
    input: ['a'],
    output: ['b'],
    attribute: ['alpha'],
    docString: 'fn',
    attributeProto: [
      { name: 'beta', type: 1, f: 0.5, floats: [], ints: [], strings: [], tensors: [], graphs: [], sparseTensors: [], typeProtos: [] },
    ],
    node: [{ input: ['a'], output: ['b'], opType: 'Relu', attribute: [], metadataProps: [], deviceConfigurations: [] }],
    opsetImport: [{ domain: '', version: 21 }],
    valueInfo: [],
    metadataProps: [{ key: 'f', value: 'g' }],
  });
  model.trainingInfo.push({
    algorithm: {
      ...g,
      node: [],
      input: [],
      output: [],
      initializer: [],
      sparseInitializer: [],
      valueInfo: [],
      quantizationAnnotation: [],
      metadataProps: [],
      name: 'algo',
    },
    initializationBinding: [],
    updateBinding: [{ key: 'w', value: 'w_new' }],
  });
  model.configuration.push({ name: 'cfg', numDevices: 2, device: ['gpu0', 'gpu1'] });
  g.node[0]!.deviceConfigurations.push({
    configurationId: 'cfg',
    pipelineStage: 1,
    shardingSpec: [
      {
        tensorName: 'x',
        device: [0, 1],
        indexToDeviceGroupMap: [{ key: 0, value: [0, 1] }],
        shardedDim: [{ axis: 0, simpleSharding: [{ dimValue: 2, numShards: 2 }] }],
      },
    ],
  });
  g.node[0]!.attribute.push({
    name: 'tp',
    type: 13,
    tp: { tensorType: { elemType: 1 } },
    floats: [],
    ints: [],
    strings: [],
    tensors: [],
    graphs: [],
    sparseTensors: [],
    typeProtos: [{ tensorType: { elemType: 7 } }],
  });
  const bytes = encodeModel(model);
  const back = decodeModel(bytes);
  assert.deepEqual(normalize(back), normalize(model));
  assert.equal(Buffer.compare(Buffer.from(encodeModel(back)), Buffer.from(bytes)), 0);
});

/** Structural comparison: typed arrays and views compared by content. */
function normalize(x: unknown): unknown {
  if (ArrayBuffer.isView(x)) return Array.from(x as unknown as ArrayLike<number | bigint>, (v) => String(v));
  if (Array.isArray(x)) return x.map(normalize);
  if (x && typeof x === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(x)) if (v !== undefined) out[k] = normalize(v);
    return out;
  }
  return x;
}

test('rawData is a zero-copy view into the decoded buffer', () => {
  const b = new GraphBuilder();
  b.input('x', DataType.FLOAT, [1, 64]);
  const w = b.floatInit(
    'w',
    [64, 64],
    new Float32Array(64 * 64).map((_, i) => i),
  );
  b.op('MatMul', ['x', w], {}, { output: 'y' });
  b.output('y', DataType.FLOAT, [1, 64]);
  const bytes = encodeModel(b.model());
  const t = decodeModel(bytes).graph!.initializer[0]!;
  assert.equal(t.rawData!.buffer, bytes.buffer, 'rawData must view the input buffer');
  assert.equal((tensorArray(t) as Float32Array)[100], 100);
});

test('the encoding agrees with @bufbuild/protobuf’s conformance-tested reader', () => {
  const c = cases.find((x) => x.name.endsWith('test_Conv2d')) ?? cases[0];
  const bytes = c ? encodeModel(decodeModel(readFileSync(c.model))) : encodeModel(new GraphBuilder().model());
  const r = new BinaryReader(bytes);
  const seen: number[] = [];
  let graphLen = -1;
  while (r.pos < r.len) {
    const [no, wt] = r.tag();
    seen.push(no);
    if (no === 1) assert.equal(Number(r.int64()), decodeModel(bytes).irVersion);
    else if (no === 7) {
      assert.equal(wt, WireType.LengthDelimited);
      graphLen = r.bytes().length;
    } else r.skip(wt);
  }
  assert.ok(seen.includes(7) && graphLen > 0);
  assert.deepEqual(
    [...seen].sort((a, b) => a - b),
    seen,
    'fields in field-number order',
  );
});

test('fuzz: truncations and bit flips decode or fail with a DecodeError, never crash or hang', () => {
  const sources = cases.slice(0, 40).map((c) => readFileSync(c.model));
  if (sources.length === 0) sources.push(Buffer.from(encodeModel(new GraphBuilder().model())));
  let seed = 12345;
  const rand = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  let failures = 0;
  for (let i = 0; i < 3000; i++) {
    const src = sources[i % sources.length]!;
    let buf: Uint8Array;
    if (i % 3 === 0) buf = src.subarray(0, Math.floor(rand() * src.length));
    else {
      buf = Uint8Array.from(src);
      const flips = 1 + Math.floor(rand() * 4);
      for (let k = 0; k < flips; k++) buf[Math.floor(rand() * buf.length)]! ^= 1 << Math.floor(rand() * 8);
    }
    try {
      const m = decodeMessage<ModelProto>(buf, 'ModelProto');
      encodeMessage(m, 'ModelProto'); // whatever decodes must encode
    } catch (e) {
      assert.ok(e instanceof DecodeError, `unexpected ${(e as Error).name}: ${(e as Error).message}`);
      failures++;
    }
  }
  assert.ok(failures > 500, 'most corruptions should be detected');
});

test('deeply nested messages are refused, not a stack overflow', () => {
  // TypeProto.sequence_type (field 4) → Sequence.elem_type (field 1) → TypeProto …, 10,000 deep.
  let inner = new Uint8Array(0);
  for (let i = 0; i < 10000; i++) {
    const len = inner.length;
    const header = [i % 2 === 0 ? 0x0a : 0x22, ...varint(len)];
    const next = new Uint8Array(header.length + len);
    next.set(header);
    next.set(inner, header.length);
    inner = next;
    if (inner.length > 200000) break;
  }
  assert.throws(() => decodeMessage(inner, inner[0] === 0x22 ? 'TypeProto' : 'TypeProtoSequence'), DecodeError);
});

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 128) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}
