/**
 * Compression by training, measured (issue 14): a dense model trained by Hone on MNIST, then pruned —
 * unstructured at 80% (gradual and one-shot, fine-tuned) and structured at 50% of every channel group
 * (fine-tuned) — with test accuracy, parameters, file size and ORT latency of dense vs pruned side by side
 * (compareLatency: alternating blocks, each in a fresh worker, the quietest block's floor).
 *
 *   npx tsx bench/compress.ts [--models lenet5,resnet18] [--epochs 3] [--finetune-epochs 2] [--limit N]
 *                             [--unstructured 0.8] [--structured 0.5] [--batch 64] [--latency-batch 32]
 *
 * Models: zoo LeNet-5, and the zoo ResNet at ResNet-18's widths (64-128-256, 3 stages of 2 basic blocks)
 * on 1×28×28 inputs (a residual CNN: pruning it must drop coupled channels across residual Adds).
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { firstSamples, mnist } from '../src/data/index.js';
import { saveModel } from '../src/ir/model.js';
import type { ModelProto } from '../src/ir/proto.js';
import { withSparseInitializers } from '../src/ir/sparse.js';
import { pruneModel, type PruneOptions } from '../src/prune/index.js';
import { compareLatency } from '../src/quantize/evaluate.js';
import { train } from '../src/train/index.js';
import { lenet5, resnet } from '../src/zoo/index.js';

const { values } = parseArgs({
  options: {
    models: { type: 'string', default: 'lenet5,resnet18' },
    epochs: { type: 'string', default: '3' },
    'finetune-epochs': { type: 'string', default: '2' },
    limit: { type: 'string' },
    unstructured: { type: 'string', default: '0.8' },
    structured: { type: 'string', default: '0.5' },
    batch: { type: 'string', default: '64' },
    'latency-batch': { type: 'string', default: '32' },
  },
});
const epochs = Number(values.epochs);
const ftEpochs = Number(values['finetune-epochs']);
const batch = Number(values.batch);
const latencyBatch = Number(values['latency-batch']);
const data = mnist();
const trainSet = values.limit ? firstSamples(data.train, Number(values.limit)) : data.train;

const MODELS: Record<string, () => ModelProto> = {
  lenet5: () => lenet5(),
  resnet18: () => resnet({ widths: [64, 128, 256], inputChannels: 1, size: 28 }),
};

const dir = mkdtempSync(join(tmpdir(), 'hone-compress-'));
const fileBytes = (m: ModelProto, name: string) => {
  const path = join(dir, name);
  saveModel(m, path);
  return statSync(path).size;
};
const pct = (x: number | undefined) => (x === undefined ? 'n/a' : `${(100 * x).toFixed(2)}%`);
const rows: string[] = [];
const referenceAcc = new Map<string, number>();
const log = (s: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${s}`);

try {
  for (const name of values.models!.split(',')) {
    const build = MODELS[name];
    if (!build) throw new Error(`unknown model ${name}; use ${Object.keys(MODELS).join(', ')}`);
    log(`${name}: training dense, ${epochs} epoch(s) on ${trainSet.size} digits`);
    const t0 = performance.now();
    const dense = await train(build(), trainSet, { epochs, batchSize: batch, lr: 1e-3, seed: 0, test: data.test });
    const denseAcc = dense.testAccuracy!;
    const denseBytes = fileBytes(dense.model, `${name}.dense.onnx`);
    rows.push(
      `| ${name} | dense (${epochs} epochs, ${((performance.now() - t0) / 1000).toFixed(0)} s) | ${pct(denseAcc)} | — | ${denseBytes.toLocaleString('en-US')} | — |`,
    );
    const finetune = (gradual: boolean): PruneOptions['finetune'] => ({
      data: trainSet,
      epochs: ftEpochs,
      gradual,
      train: { batchSize: batch, lr: 1e-3, seed: 1 },
    });
    // The fair reference for a fine-tuned pruned model: the dense model trained for the same extra epochs.
    {
      log(`${name}: dense + ${ftEpochs} more epochs (the reference for fine-tuning)`);
      const more = await train(dense.model, trainSet, { epochs: ftEpochs, batchSize: batch, lr: 1e-3, seed: 1, test: data.test });
      rows.push(
        `| ${name} | dense + ${ftEpochs} ep, not pruned (the reference) | ${pct(more.testAccuracy)} | — | ${denseBytes.toLocaleString('en-US')} | — |`,
      );
      console.log(rows[rows.length - 1]);
      referenceAcc.set(name, more.testAccuracy!);
    }
    const variants: [string, PruneOptions][] = [
      [
        `unstructured ${values.unstructured}, one-shot + ${ftEpochs} ep`,
        { sparsity: Number(values.unstructured), finetune: finetune(false) },
      ],
      [
        `unstructured ${values.unstructured}, gradual over ${ftEpochs} ep`,
        { sparsity: Number(values.unstructured), finetune: finetune(true) },
      ],
      [
        `channels ${values.structured} (l1, layer) + ${ftEpochs} ep`,
        { sparsity: Number(values.structured), structured: 'channels', finetune: finetune(false) },
      ],
    ];
    for (const [label, opts] of variants) {
      log(`${name}: ${label}`);
      const t1 = performance.now();
      const { model, report } = await pruneModel(dense.model, { ...opts, evalData: data.test, evalSource: 'mnist (test)' });
      const secs = ((performance.now() - t1) / 1000).toFixed(0);
      const stored = opts.structured ? model : withSparseInitializers(model, report.weights ?? []).model;
      const bytes = fileBytes(stored, `${name}.pruned.onnx`);
      const acc = report.check.accuracy!.after;
      let speed = '—';
      if (opts.structured) {
        log(`${name}: timing dense vs pruned at batch ${latencyBatch}`);
        const lat = await compareLatency(dense.model, model, [{ name: 'input', elemType: 1, shape: inputShape(name, latencyBatch) }], {
          blocks: 5,
          threads: 2,
        });
        speed = `${(lat.floatMs / lat.quantizedMs).toFixed(2)}x (${lat.floatMs.toFixed(2)} → ${lat.quantizedMs.toFixed(2)} ms)`;
      }
      const ref = referenceAcc.get(name)!;
      rows.push(
        `| ${name} | ${label} (${secs} s) | ${pct(acc)} (${((acc - ref) * 100).toFixed(2)} pts vs the reference) | ${pct(report.achieved)}; params ${report.params.before.toLocaleString('en-US')} → ${report.params.nonZeroAfter.toLocaleString('en-US')} non-zero; MACs ${(report.macs.before / report.macs.after).toFixed(2)}x fewer | ${bytes.toLocaleString('en-US')} | ${speed} |`,
      );
      console.log(rows[rows.length - 1]);
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

function inputShape(name: string, b: number): number[] {
  return name === 'lenet5' ? [b, 1, 28, 28] : [b, 1, 28, 28];
}

console.log(`\nMNIST (built in: ${trainSet.size} train / ${data.test.size} test digits), Adam lr 1e-3, batch ${batch}\n`);
console.log('| model | variant | test accuracy | removed | file bytes | ORT latency, dense → pruned |');
console.log('|---|---|---:|---|---:|---|');
for (const r of rows) console.log(r);
