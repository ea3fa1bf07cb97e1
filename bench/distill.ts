/**
 * Distillation, measured (issue 14): a teacher trained by Hone on MNIST (the zoo ResNet, 16-32-64, on
 * 1×28×28), and a student with under a quarter of its parameters (LeNet-5) trained for the same epochs with
 * the teacher (hone distill's loss) and without it (cross-entropy), over several seeds; test accuracy of each.
 *
 *   npx tsx bench/distill.ts [--teacher-epochs 4] [--epochs 3] [--seeds 0,1,2] [--temperature 4] [--alpha 0.9]
 *                            [--limit N] [--batch 64] [--student-limit N] [--student-batch B] [--student-fc 120-84]
 *
 * --student-limit trains the students on the first N digits only (the transfer set) while the teacher saw all
 * of them: the setting where a teacher's soft targets carry what the small set lacks.
 */
import { parseArgs } from 'node:util';
import { firstSamples, mnist } from '../src/data/index.js';
import { distill } from '../src/distill/index.js';
import { train } from '../src/train/index.js';
import { lenet5, resnet } from '../src/zoo/index.js';

const { values } = parseArgs({
  options: {
    'teacher-epochs': { type: 'string', default: '4' },
    epochs: { type: 'string', default: '3' },
    seeds: { type: 'string', default: '0,1,2' },
    temperature: { type: 'string', default: '4' },
    alpha: { type: 'string', default: '0.9' },
    limit: { type: 'string' },
    batch: { type: 'string', default: '64' },
    'student-limit': { type: 'string' },
    'student-batch': { type: 'string' },
    /** LeNet-5's fully connected widths for the student (64-32 gives 0.17x of the teacher's parameters). */
    'student-fc': { type: 'string', default: '120-84' },
  },
});
const data = mnist();
const trainSet = values.limit ? firstSamples(data.train, Number(values.limit)) : data.train;
const batch = Number(values.batch);
const epochs = Number(values.epochs);
const seeds = values.seeds!.split(',').map(Number);
const studentSet = values['student-limit'] ? firstSamples(trainSet, Number(values['student-limit'])) : trainSet;
const studentBatch = Number(values['student-batch'] ?? batch);
const log = (s: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${s}`);

log(`teacher: zoo ResNet 16-32-64 on 1×28×28, ${values['teacher-epochs']} epochs`);
const teacher = await train(resnet({ inputChannels: 1, size: 28 }), trainSet, {
  epochs: Number(values['teacher-epochs']),
  batchSize: batch,
  lr: 1e-3,
  seed: 0,
  test: data.test,
});
const rows: string[] = [];
const withT: number[] = [];
const alone: number[] = [];
for (const seed of seeds) {
  log(`student LeNet-5, seed ${seed}: with the teacher and alone, ${epochs} epochs each`);
  const fc = values['student-fc']!.split('-').map(Number);
  const d = await distill(teacher.model, lenet5({ seed, fc }), studentSet, {
    temperature: Number(values.temperature),
    alpha: Number(values.alpha),
    train: { epochs, batchSize: studentBatch, lr: 1e-3, seed },
    test: data.test,
    baseline: true,
  });
  withT.push(d.report.student.accuracy!);
  alone.push(d.report.baseline!.accuracy!);
  rows.push(`| ${seed} | ${(100 * d.report.student.accuracy!).toFixed(2)}% | ${(100 * d.report.baseline!.accuracy!).toFixed(2)}% |`);
  if (rows.length === 1)
    console.log(
      `teacher ${d.report.teacher.params.toLocaleString('en-US')} params, test accuracy ${(100 * d.report.teacher.accuracy!).toFixed(2)}%; student ${d.report.student.params.toLocaleString('en-US')} params (${(d.report.student.params / d.report.teacher.params).toFixed(2)}x)`,
    );
}
const mean = (v: number[]) => (100 * v.reduce((a, b) => a + b, 0)) / v.length;
console.log(
  `\nMNIST (teacher on ${trainSet.size}, students on ${studentSet.size} training digits; ${data.test.size} test), Adam lr 1e-3, student batch ${studentBatch}, ${epochs} epochs, T=${values.temperature}, α=${values.alpha}\n`,
);
console.log('| seed | student with the teacher | student alone |');
console.log('|---:|---:|---:|');
for (const r of rows) console.log(r);
console.log(`| mean | ${mean(withT).toFixed(2)}% | ${mean(alone).toFixed(2)}% |`);
