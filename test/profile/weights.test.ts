// The profile's parameter and weight-byte counts come from the weights view: the same numbers as before for
// models whose weights are initializers, the real ones for models that keep them elsewhere.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataType } from '../../src/ir/dtype.js';
import { saveModel } from '../../src/ir/model.js';
import { numElements } from '../../src/ir/tensor.js';
import { profileModel } from '../../src/profile/profile.js';
import { zooModel } from '../../src/zoo/index.js';
import { constantNodeModel, constantOfShapeModel, ifModel } from '../helpers/weight-models.js';

const staticOnly = { dynamic: false };

test('zoo models: every float initializer, as before; int64 shape constants are not parameters', async () => {
  for (const name of ['mlp', 'lenet5', 'resnet', 'mobilenet', 'transformer']) {
    const inits = zooModel(name).graph!.initializer;
    const floats = inits.filter((t) => t.dataType === DataType.FLOAT).reduce((n, t) => n + numElements(t.dims), 0);
    const r = await profileModel(`zoo:${name}`, { ...staticOnly, dims: name === 'transformer' ? { seq: 16 } : {} });
    assert.equal(r.params, floats, name);
    assert.equal(r.weightBytes, 4 * floats, name);
    if (name !== 'transformer')
      assert.equal(
        inits.every((t) => t.dataType === DataType.FLOAT),
        true,
        `${name} has only float initializers`,
      );
  }
});

test('weights in Constant nodes, ConstantOfShape chains and If branches are counted', async () => {
  assert.deepEqual(await counts(constantNodeModel()), [144, 576]);
  assert.deepEqual(await counts(constantOfShapeModel(512, 256)), [512 * 256 + 256, 2 * (512 * 256 + 256)]);
  assert.deepEqual(await counts(ifModel()), [49, 196]);
});

test('a model with external data: its size includes the data file, its weights count once', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hone-profile-weights-'));
  try {
    const path = join(dir, 'm.onnx');
    saveModel(constantNodeModel(), path, { externalData: true, sizeThreshold: 16 });
    const r = await profileModel(path, staticOnly);
    assert.deepEqual([r.params, r.weightBytes], [144, 576]);
    assert.equal(r.bytes, statSync(path).size + statSync(`${path}.data`).size);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

async function counts(model: Parameters<typeof profileModel>[0]): Promise<[number, number]> {
  const r = await profileModel(model, staticOnly);
  return [r.params, r.weightBytes];
}
