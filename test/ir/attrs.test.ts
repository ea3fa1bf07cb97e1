import { test } from 'node:test';
import assert from 'node:assert/strict';
import { attrReader } from '../../src/ir/attrs.js';
import { makeAttribute, makeNode } from '../../src/ir/builder.js';
import { decodeModel, encodeModel } from '../../src/ir/codec.js';
import { AttributeType, type AttributeProto, type NodeProto } from '../../src/ir/proto.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';

/** An attribute as a writer that omits zero values (proto3 habits) leaves it: the type, no value. */
const bare = (name: string, type: number): AttributeProto => ({
  name,
  type,
  floats: [],
  ints: [],
  strings: [],
  tensors: [],
  graphs: [],
  sparseTensors: [],
  typeProtos: [],
});

const node = (...attribute: AttributeProto[]): NodeProto => ({ ...makeNode('Gemm', ['a', 'b'], ['y']), attribute });

test('present attributes read as written; absent ones give the caller’s default', () => {
  const a = attrReader(makeNode('Conv', ['x', 'w'], ['y'], { group: 2, pads: [1, 1, 1, 1], alpha: 0.5, auto_pad: 'VALID' }));
  assert.equal(a.int('group', 1), 2);
  assert.deepEqual(a.ints('pads', []), [1, 1, 1, 1]);
  assert.equal(a.float('alpha', 1), 0.5);
  assert.equal(a.string('auto_pad', 'NOTSET'), 'VALID');
  assert.equal(a.int('missing', 7), 7);
  assert.equal(a.int('missing'), undefined);
  assert.deepEqual(a.ints('strides', [1, 1]), [1, 1]);
  assert.equal(a.float('beta', 1), 1);
  assert.equal(a.string('mode', 'constant'), 'constant');
  assert.equal(a.has('group'), true);
  assert.equal(a.has('missing'), false);
});

test('an attribute present without its value field is the protobuf default, not the op default (as onnx and ORT read it)', () => {
  const a = attrReader(node(bare('transB', AttributeType.INT), bare('beta', AttributeType.FLOAT), bare('mode', AttributeType.STRING)));
  // Gemm's transB defaults to 0 anyway; a caller's default of 1 must not win over the written 0.
  assert.equal(a.int('transB', 1), 0);
  assert.equal(a.float('beta', 1), 0);
  assert.equal(a.string('mode', 'constant'), '');
  // An empty INTS list is a list.
  assert.deepEqual(attrReader(node(bare('axes', AttributeType.INTS))).ints('axes', [9]), []);
});

test('a zero survives the codec and reads as 0', () => {
  const b = new GraphBuilder('g');
  const x = b.input('x', DataType.FLOAT, [2, 3]);
  b.op('Gemm', [x, b.floatInit('w', [4, 3], new Array(12).fill(1))], { transA: 0, transB: 1, beta: { float: 0 } }, { output: 'y' });
  b.output('y', DataType.FLOAT, [2, 4]);
  const back = decodeModel(encodeModel(b.model({ opset: 13 })));
  const a = attrReader(back.graph!.node[0]!);
  assert.equal(a.int('transA', 1), 0);
  assert.equal(a.int('transB', 0), 1);
  assert.equal(a.float('beta', 1), 0);
});

test('a value of another type under the name is not read as a list', () => {
  const a = attrReader(node(makeAttribute('axes', 1)));
  assert.equal(a.ints('axes'), undefined);
  assert.equal(a.int('axes'), 1);
  assert.equal(a.floats('axes'), undefined);
});
