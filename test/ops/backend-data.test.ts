// Shape inference against ONNX's own backend test data: inferred output types equal the stored outputs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeModel, decodeTensor } from '../../src/ir/codec.js';
import { DataType, dtypeName } from '../../src/ir/dtype.js';
import { inferShapes } from '../../src/ops/infer.js';
import { ONNX_TESTS } from '../helpers/onnx-tests.js';

const root = ONNX_TESTS;
// Every group folder there, plus folders named in HONE_ONNX_TEST_DIRS (':'-separated), e.g. ONNX's node
// tests from Debian's libonnx-testdata (.../data/node).
const groups = [
  ...(existsSync(root)
    ? readdirSync(root)
        .filter((g) => !g.includes('.'))
        .sort()
        .map((g) => join(root, g))
    : [join(root, 'simple')]),
  ...(process.env.HONE_ONNX_TEST_DIRS ?? '').split(':').filter((d) => d !== ''),
];

for (const dir of groups) {
  const group = dir.startsWith(root) ? dir.slice(root.length + 1) : dir;
  if (!existsSync(dir)) {
    test(`backend data ${group}`, (t) => t.skip(`${dir} is not present on this machine`));
    continue;
  }
  for (const name of readdirSync(dir).sort()) {
    if (!existsSync(join(dir, name, 'model.onnx'))) continue;
    test(`${group}/${name}: inferred outputs match the reference outputs`, (t) => {
      const model = decodeModel(readFileSync(join(dir, name, 'model.onnx')));
      const g = model.graph!;
      // The one reason to skip: a graph input or output whose declared type is a sequence, map or optional
      // (this test compares tensors). Anything else that gives no tensor type is a failure below.
      const nonTensor = [...g.input, ...g.output].filter((v) => v.type?.sequenceType || v.type?.mapType || v.type?.optionalType);
      if (nonTensor.length)
        return t.skip(
          `graph inputs/outputs of sequence, map or optional type (${nonTensor.map((v) => v.name).join(', ')}); this test compares tensor outputs only`,
        );
      const inf = inferShapes(model);
      // A missing shape rule is a failure, never a skip.
      assert.deepEqual(
        inf.unknownOps.map((n) => `${n.domain ? `${n.domain}::` : ''}${n.opType}`),
        [],
        'ops without a Hone shape rule',
      );
      assert.deepEqual(
        inf.errors.map((e) => e.message),
        [],
      );
      g.output.forEach((o, k) => {
        const ref = decodeTensor(readFileSync(join(dir, name, 'test_data_set_0', `output_${k}.pb`)));
        const got = inf.types.get(o.name!);
        assert.ok(got, `no type inferred for output ${o.name}`);
        // ONNX's reference data stores bfloat16 outputs as uint16 (the same bits).
        const refType = ref.dataType === DataType.UINT16 && got.elemType === DataType.BFLOAT16 ? DataType.BFLOAT16 : ref.dataType;
        assert.equal(dtypeName(got.elemType), dtypeName(refType), `element type of ${o.name}`);
        if (got.shape?.every((d) => typeof d === 'number')) {
          assert.deepEqual(got.shape, ref.dims, `shape of ${o.name}`);
        } else {
          // A size that depends on input values (Expand to a shape fed as input, stopword removal) is a
          // fresh symbol; the rank and every known dim must still agree.
          assert.equal(got.shape?.length, ref.dims.length, `rank of ${o.name}`);
          got.shape!.forEach((d, i) =>
            assert.ok(typeof d === 'string' ? d.startsWith('unk__') : d === ref.dims[i], `dim ${i} of ${o.name}: ${d} vs ${ref.dims[i]}`),
          );
          t.diagnostic(`${o.name}: data-dependent shape [${got.shape!.join(',')}] (reference [${ref.dims.join(',')}])`);
        }
      });
    });
  }
}
