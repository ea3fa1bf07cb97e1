// int8 on a trained MNIST classifier, calibrated on the train split and judged on the held-out test split:
// accuracy, top-1 agreement with the float model, cosine and the largest output error, each bounded; and
// three plausible quantizer bugs, planted in a correct model, each fail those bounds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ModelProto } from '../../src/ir/proto.js';
import { makeTensor, tensorArray } from '../../src/ir/tensor.js';
import { copyModel } from '../../src/quantize/common.js';
import { loadSampleData } from '../../src/quantize/data.js';
import { quantizeDynamic } from '../../src/quantize/dynamic.js';
import { compareOutputs, type Fidelity } from '../../src/quantize/evaluate.js';
import { quantizeStatic } from '../../src/quantize/static.js';
import { trainedMnistMlp } from './helpers.js';

const held = (model: ModelProto) => loadSampleData('mnist', model, { split: 'test', samples: 1000 });
const calib = (model: ModelProto) => loadSampleData('mnist', model, { split: 'train', samples: 256 });

/**
 * What a correct int8 model of this classifier must keep, measured (1,000 held-out digits, logits up to ~19):
 * float accuracy 0.922; int8 accuracy within 0.5 point; top-1 agreement 0.99; cosine 0.9995; the largest
 * logit error 1.2 (dynamic) and 2.2 (static: held-out logits beyond the calibrated output range are clipped).
 * The bounds leave a margin over those and still reject the planted bugs below.
 */
function failures(f: Fidelity): string[] {
  const out: string[] = [];
  if (!(f.accuracy!.float >= 0.9)) out.push(`float accuracy ${f.accuracy!.float} < 0.9`);
  if (!(f.accuracy!.float - f.accuracy!.quantized <= 0.01))
    out.push(`accuracy drop ${f.accuracy!.float - f.accuracy!.quantized} > 1 point`);
  if (!(f.top1Agreement! >= 0.98)) out.push(`top-1 agreement ${f.top1Agreement} < 0.98`);
  if (!(f.cosine >= 0.999)) out.push(`cosine ${f.cosine} < 0.999`);
  if (!(f.maxAbsError <= 3)) out.push(`max abs error ${f.maxAbsError} > 3`);
  return out;
}

test('dynamic int8 of a trained MNIST MLP keeps accuracy, top-1 and logits on held-out digits', async () => {
  const model = await trainedMnistMlp();
  const f = await compareOutputs(model, quantizeDynamic(model).model, await held(model));
  assert.equal(f.samples, 1000);
  assert.equal(f.source, 'mnist (test)');
  assert.deepEqual(failures(f), [], JSON.stringify(f));
});

for (const format of ['qdq', 'qoperator'] as const) {
  test(`static int8 (${format}) of a trained MNIST MLP, calibrated on train digits, keeps accuracy, top-1 and logits on test digits`, async () => {
    const model = await trainedMnistMlp();
    const f = await compareOutputs(model, (await quantizeStatic(model, await calib(model), { format })).model, await held(model));
    assert.deepEqual(failures(f), [], JSON.stringify(f));
  });
}

test('the same bounds reject a static int8 model with a planted bug: per-channel scales on the wrong channels, a zero point off by 8, an activation range halved', async () => {
  const model = await trainedMnistMlp();
  const { model: q } = await quantizeStatic(model, await calib(model));
  const planted = (name: string, change: (values: ArrayLike<number>) => ArrayLike<number>) => {
    const bad = copyModel(q);
    const inits = bad.graph!.initializer;
    const k = inits.findIndex((t) => t.name === name);
    assert.ok(k >= 0, `${name} in ${inits.map((t) => t.name).join(' ')}`);
    const t = inits[k]!;
    inits[k] = makeTensor(name, t.dataType!, t.dims.map(Number), change(tensorArray(t) as ArrayLike<number>) as Float32Array);
    return bad;
  };
  const bugs: [string, ModelProto][] = [
    ['scales of the wrong channels', planted('fc1.weight_scale', (s) => Float32Array.from(s, (_, i) => s[(i + 1) % s.length]!))],
    ['zero point off by 8', planted('act1_out_zero_point', (z) => Uint8Array.from(z, (v) => v + 8))],
    ['activation range halved', planted('act1_out_scale', (s) => Float32Array.from(s, (v) => v / 2))],
  ];
  const data = await held(model);
  for (const [bug, bad] of bugs) {
    const f = await compareOutputs(model, bad, data);
    assert.notDeepEqual(failures(f), [], `${bug} passes: ${JSON.stringify(f)}`);
  }
});
