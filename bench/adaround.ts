/**
 * Learned rounding (AdaRound) against round-to-nearest, measured (issue 14): static int8 with Hone's defaults
 * (auto ranges, equalization, bias correction; no accuracy guard, so that every layer is quantized in both),
 * then the same model with each weight's rounding learned on the calibration data. MNIST models are trained
 * by Hone first and scored on the test digits (accuracy and output cosine against float); the corpus CNNs
 * (`node scripts/corpus.mjs` fetches them) are scored by output cosine on held-out real inputs (calibration
 * on the first half, evaluation on the second, as the corpus tests do).
 *
 *   npx tsx bench/adaround.ts [--models lenet5,resnet,mlsd-320-tiny,ppocr-v4-det] [--iters 1000] [--calib 256] [--per-tensor]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { mnist } from '../src/data/index.js';
import { loadModel } from '../src/ir/model.js';
import type { ModelProto } from '../src/ir/proto.js';
import { adaround, adaroundSummary, heldOutSamples } from '../src/qat/index.js';
import { loadSampleData, matchInputs, sampleSubset, type SampleData } from '../src/quantize/data.js';
import { compareOutputs } from '../src/quantize/evaluate.js';
import { quantizeStatic } from '../src/quantize/static.js';
import { graphInputs } from '../src/runtime/inputs.js';
import { train } from '../src/train/index.js';
import { lenet5, resnet } from '../src/zoo/index.js';
import { corpusModels } from '../test/helpers/corpus.js';
import { modelFeed, writeFeed } from '../test/helpers/corpus-run.js';

const { values } = parseArgs({
  options: {
    models: { type: 'string', default: 'lenet5,resnet,mlsd-320-tiny,ppocr-v4-det' },
    iters: { type: 'string', default: '1000' },
    calib: { type: 'string', default: '256' },
    epochs: { type: 'string', default: '3' },
    'per-tensor': { type: 'boolean', default: false },
  },
});
const iterations = Number(values.iters);
const perChannel = !values['per-tensor'];
const MNIST: Record<string, () => ModelProto> = {
  lenet5: () => lenet5(),
  resnet: () => resnet({ inputChannels: 1, size: 28 }),
};
const pct = (x: number | undefined) => (x === undefined ? 'n/a' : `${(100 * x).toFixed(2)}%`);

interface Case {
  model: ModelProto;
  calib: SampleData;
  evaluation: SampleData;
  what: string;
  cleanup?: () => void;
}

async function setup(name: string): Promise<Case> {
  if (MNIST[name]) {
    const data = mnist();
    const trained = await train(MNIST[name](), data.train, { epochs: Number(values.epochs), batchSize: 64, lr: 1e-3, seed: 0 });
    const t = data.test;
    return {
      model: trained.model,
      calib: await loadSampleData('mnist', trained.model, { samples: Number(values.calib) }),
      evaluation: matchInputs({ ...t.features, label: t.labels }, graphInputs(trained.model), 'mnist (test)'),
      what: `MNIST, trained ${values.epochs} epochs; ${values.calib} calibration digits, ${t.size} test digits`,
    };
  }
  const m = corpusModels().find((c) => c.id === name);
  if (!m?.present) throw new Error(`${name}: not a MNIST model or a fetched corpus model (node scripts/corpus.mjs)`);
  const model = loadModel(m.path);
  const feed = await modelFeed(m);
  const dir = mkdtempSync(join(tmpdir(), 'hone-adaround-'));
  const dirs = writeFeed(feed, dir);
  const calib = await loadSampleData(dirs.calib, model);
  const evaluation = await loadSampleData(dirs.eval, model);
  return {
    model,
    calib,
    evaluation,
    what: `${feed.what}; ${calib.size} calibration / ${evaluation.size} held-out samples`,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

const rows: string[] = [];
for (const name of values.models!.split(',')) {
  const c = await setup(name);
  try {
    const ptq = await quantizeStatic(c.model, c.calib, { perChannel });
    const t0 = performance.now();
    const r = await adaround(ptq, c.calib, { iterations });
    const seconds = (performance.now() - t0) / 1000;
    const [a, b] = [await compareOutputs(c.model, ptq.model, c.evaluation), await compareOutputs(c.model, r.model, c.evaluation)];
    // The guard `hone quantize --adaround` applies: AdaRound's model is kept only if it is at least as close to
    // float on the calibration samples it did not fit (every fourth), or on all of them when there are fewer than 4.
    const held = heldOutSamples(c.calib.size);
    const judge = held ? sampleSubset(c.calib, held, 'held-out calibration samples') : c.calib;
    const [ca, cb] = [await compareOutputs(c.model, ptq.model, judge), await compareOutputs(c.model, r.model, judge)];
    const kept = cb.cosine >= ca.cosine;
    const acc = (f: typeof a) => (f.accuracy ? `${pct(f.accuracy.quantized)}, ` : '');
    rows.push(
      `| ${name} | ${c.what} | ${a.accuracy ? pct(a.accuracy.float) : '–'} | ${acc(a)}cos ${a.cosine.toFixed(5)} | ${acc(b)}cos ${b.cosine.toFixed(5)} | ${ca.cosine.toFixed(5)} → ${cb.cosine.toFixed(5)} (${judge.size}${held ? ' held out' : ''}) | ${kept ? 'AdaRound' : 'nearest'} | ${seconds.toFixed(0)} s |`,
    );
    console.log(rows.at(-1));
    console.log(`  ${adaroundSummary(r.report)}`);
  } finally {
    c.cleanup?.();
  }
}
console.log(`\nstatic int8 (${perChannel ? 'per-channel' : 'per-tensor'} weights), AdaRound ${iterations} iterations per layer\n`);
console.log(
  '| model | data | float | round-to-nearest (held out) | AdaRound (held out) | calibration cosine, nearest → AdaRound | the guard keeps | AdaRound time |',
);
console.log('|---|---|---:|---:|---:|---:|---|---:|');
for (const r of rows) console.log(r);
