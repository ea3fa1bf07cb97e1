/**
 * Quantization-aware training, measured (issue 14): models trained by Hone on MNIST, quantized to static
 * int8 (Hone's defaults: auto ranges, equalization, bias correction) and then fine-tuned through fake
 * quantization; test accuracy of float, post-training int8 and QAT int8 — and, as the fair reference for QAT's
 * extra epochs, of the float model trained for the same extra epochs.
 *
 *   npx tsx bench/qat.ts [--models lenet5,resnet] [--epochs 3] [--qat-epochs 1] [--qat-lr 1e-4] [--calib 256] [--ranges fixed,learned]
 */
import { parseArgs } from 'node:util';
import { mnist } from '../src/data/index.js';
import type { ModelProto } from '../src/ir/proto.js';
import { quantizeAwareTraining } from '../src/qat/index.js';
import { loadSampleData } from '../src/quantize/data.js';
import { train } from '../src/train/index.js';
import { lenet5, resnet } from '../src/zoo/index.js';

const { values } = parseArgs({
  options: {
    models: { type: 'string', default: 'lenet5,resnet' },
    epochs: { type: 'string', default: '3' },
    'qat-epochs': { type: 'string', default: '1' },
    'qat-lr': { type: 'string', default: '1e-4' },
    calib: { type: 'string', default: '256' },
    ranges: { type: 'string', default: 'fixed,learned' },
  },
});
const MODELS: Record<string, () => ModelProto> = {
  lenet5: () => lenet5(),
  resnet: () => resnet({ inputChannels: 1, size: 28 }),
};
const data = mnist();
const qatEpochs = Number(values['qat-epochs']);
const pct = (x: number | undefined) => (x === undefined ? 'n/a' : `${(100 * x).toFixed(2)}%`);
const rows: string[] = [];
for (const name of values.models!.split(',')) {
  const dense = await train(MODELS[name]!(), data.train, {
    epochs: Number(values.epochs),
    batchSize: 64,
    lr: 1e-3,
    seed: 0,
    test: data.test,
  });
  const more = await train(dense.model, data.train, {
    epochs: qatEpochs,
    batchSize: 64,
    lr: Number(values['qat-lr']),
    seed: 1,
    test: data.test,
  });
  const calib = await loadSampleData('mnist', dense.model, { samples: Number(values.calib) });
  for (const ranges of values.ranges!.split(',') as ('fixed' | 'learned')[]) {
    const t1 = performance.now();
    const r = await quantizeAwareTraining(dense.model, data.train, {
      calib,
      ranges,
      train: { epochs: qatEpochs, batchSize: 64, lr: Number(values['qat-lr']), seed: 1 },
      test: data.test,
      testSource: 'mnist (test)',
    });
    const rep = r.report;
    rows.push(
      `| ${name} | ${ranges} | ${pct(rep.floatAccuracy)} | ${pct(more.testAccuracy)} | ${pct(rep.ptq?.accuracy)} (cos ${rep.ptq?.cosine.toFixed(4)}) | ${pct(rep.qat?.accuracy)} (cos ${rep.qat?.cosine.toFixed(4)}) | ${((performance.now() - t1) / 1000).toFixed(0)} s |`,
    );
    console.log(rows[rows.length - 1]);
  }
}
console.log(
  `\nMNIST (${data.train.size} train / ${data.test.size} test); float trained ${values.epochs} epochs (Adam 1e-3, batch 64); QAT ${qatEpochs} epoch(s) at lr ${values['qat-lr']}\n`,
);
console.log(`| model | ranges | float | float + ${qatEpochs} ep (reference) | static int8 (PTQ) | QAT int8 | QAT's time |`);
console.log('|---|---|---:|---:|---:|---:|---:|');
for (const r of rows) console.log(r);
