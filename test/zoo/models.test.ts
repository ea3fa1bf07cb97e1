// Every zoo model encodes, decodes, loads in ORT and runs a batch of 2 to the expected output shape.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { zooModel, zooNames, ZOO_OPSET, ZOO_IR_VERSION } from '../../src/zoo/index.js';
import { encodeModel } from '../../src/ir/codec.js';
import { assertFinite, runOnce } from './helpers.js';

const cases: { spec: string; input: number[]; output: number[]; ids?: number }[] = [
  { spec: 'mlp', input: [2, 784], output: [2, 10] },
  { spec: 'mlp:flatten=true,activation=gelu', input: [2, 1, 28, 28], output: [2, 10] },
  { spec: 'mlp:hidden=,classes=3', input: [2, 784], output: [2, 3] },
  { spec: 'lenet5', input: [2, 1, 28, 28], output: [2, 10] },
  { spec: 'lenet5:inputChannels=3,size=32,pool=avg,activation=tanh', input: [2, 3, 32, 32], output: [2, 10] },
  { spec: 'lenet5:pool=stride', input: [2, 1, 28, 28], output: [2, 10] },
  { spec: 'lenet5:channels=32-64,fc=128,kernel=3,pool=stride', input: [2, 1, 28, 28], output: [2, 10] },
  { spec: 'lenet5:kernel=7,size=13,pool=stride', input: [2, 1, 13, 13], output: [2, 10] },
  { spec: 'resnet', input: [2, 3, 32, 32], output: [2, 10] },
  { spec: 'resnet:depth=20,classes=100', input: [2, 3, 32, 32], output: [2, 100] },
  { spec: 'mobilenet', input: [2, 3, 96, 96], output: [2, 10] },
  { spec: 'mobilenet:widthMultiplier=0.35,size=64,activation=relu', input: [2, 3, 64, 64], output: [2, 10] },
  { spec: 'transformer', input: [2, 16, 256], output: [2, 16, 256] },
  { spec: 'transformer:layers=1,dModel=64,heads=8,ffn=128,activation=relu,finalNorm=false', input: [2, 5, 64], output: [2, 5, 64] },
  { spec: 'transformer:layers=1,dModel=32,heads=2,ffn=64,vocab=50,maxSeq=16', input: [2, 9], output: [2, 9, 32], ids: 50 },
];

for (const c of cases) {
  test(`zoo:${c.spec} runs in ORT with output shape [${c.output}]`, async () => {
    const model = zooModel(c.spec);
    assert.equal(model.opsetImport[0]!.version, ZOO_OPSET);
    assert.equal(model.irVersion, ZOO_IR_VERSION);
    const out = await runOnce(model, c.input, { ids: c.ids });
    assert.deepEqual(out.dims, c.output);
    assertFinite(out);
  });
}

test('every zoo model is covered above', () => {
  const covered = new Set(cases.map((c) => c.spec.split(':')[0]));
  assert.deepEqual([...covered].sort(), zooNames().sort());
});

test('the batch dim is symbolic by default and fixed by batch=N', async () => {
  const dims = (spec: string) => zooModel(spec).graph!.input[0]!.type!.tensorType!.shape!.dim;
  assert.equal(dims('lenet5')[0]!.dimParam, 'batch');
  assert.equal(dims('lenet5:batch=2')[0]!.dimValue, 2);
  assert.equal(dims('transformer:seq=128')[1]!.dimValue, 128);
  assert.equal(dims('transformer')[1]!.dimParam, 'seq');
  const out = await runOnce(zooModel('transformer:layers=1,batch=2,seq=8'), [2, 8, 256]);
  assert.deepEqual(out.dims, [2, 8, 256]);
});

test('weights are deterministic per seed', () => {
  const bytes = (spec: string) => Buffer.from(encodeModel(zooModel(spec)));
  assert.ok(bytes('lenet5').equals(bytes('lenet5')));
  assert.ok(bytes('lenet5:seed=0').equals(bytes('lenet5')));
  assert.ok(!bytes('lenet5:seed=1').equals(bytes('lenet5')));
});
