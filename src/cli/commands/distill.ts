import { badInput } from '../../errors.js';
import { distill, type DistillReport, parseFeaturePairs } from '../../distill/index.js';
import { saveModel } from '../../ir/model.js';
import type { Command } from '../command.js';
import { checkWritable, numberFlag, parseFlags, progressLines, quietFlag, quietHelp, sameFile } from '../command.js';
import { MODEL_INPUT_HELP } from '../model-flags.js';
import { commonFlags, parseSchedule, parseTrainCommon, parseTrainInputs, resolveData, resolveModel, parseReadFlags } from './train-args.js';

const HELP = `hone distill — train a small student on a large teacher's softened outputs and the true labels

Usage: hone distill --teacher T.onnx --student S.onnx|zoo:NAME --data DATA -o OUT.onnx [options]

The loss is α·T²·KL(softmax(teacher/T) ‖ softmax(student/T)) + (1−α)·cross-entropy(student, label)
(Hinton et al. 2015). Teacher and student read the same data inputs (by name) and output class scores
[batch, K] over the same K classes. The teacher runs in ONNX Runtime: once over the training data with its
outputs cached (while they fit in 512 MiB), or before every step on the batch the student trains on. DATA is
'mnist' (built in) or an .npz with arrays named after the inputs and 'label' (class indices), as for hone train.

Options:
  --temperature T          softening temperature (default 4)
  --alpha A                weight of the teacher's term in [0, 1]; 1 − A weighs the labels (default 0.9)
  --teacher-outputs M      cache | fly | auto (default auto: cache when it fits)
  --baseline               also train the student without the teacher (same settings and seed) and report
                           both accuracies: what the teacher adds
  --features T:S[,T2:S2]   also match teacher activations: the student's value S learns to reproduce the
                           teacher's value T through a learned 1×1 convolution (or matrix for [N, C] values)
                           with the same spatial size (FitNets); the projection is dropped from the written
                           student. Value names as the models' graphs spell them (cached teacher outputs only)
  --feature-weight B       weight of the feature term, mean squared error summed over the pairs (default 0.1)
  --test-data DATA         labelled test data for the accuracies (mnist uses its test split by default)
  --epochs N, --batch-size B, --lr LR, --optimizer NAME, --momentum M, --weight-decay W, --schedule S,
  --warmup STEPS, --seed S, --limit N
                           the student's training, as for hone train (default 1 epoch, Adam, lr 1e-3, batch 64)
  --json                   one JSON object on stdout: the report
${quietHelp(27)}

${MODEL_INPUT_HELP}
Examples:
  hone distill --teacher lenet5.onnx --student zoo:mlp:hidden=32 --data mnist -o student.onnx --epochs 3
  hone distill --teacher lenet5.onnx --student zoo:mlp:hidden=16 --data mnist -o student.onnx --baseline --alpha 0.7
  hone distill --teacher lenet5.onnx --student zoo:lenet5:channels=4-8,fc=32 --data mnist -o s.onnx --features pool1_out:pool1_out
`;

export const distillCommand: Command = {
  name: 'distill',
  summary: "knowledge distillation: a student trained on a teacher's softened outputs (ORT, cached or on the fly)",
  help: HELP,
  async run(argv, io) {
    const { values: v } = parseFlags(
      'distill',
      argv,
      {
        ...commonFlags,
        teacher: { type: 'string' },
        student: { type: 'string' },
        output: { type: 'string', short: 'o' },
        alpha: { type: 'string' },
        'teacher-outputs': { type: 'string' },
        baseline: { type: 'boolean' },
        'test-data': { type: 'string' },
        features: { type: 'string' },
        'feature-weight': { type: 'string' },
        epochs: { type: 'string' },
        lr: { type: 'string' },
        schedule: { type: 'string' },
        warmup: { type: 'string' },
        ...quietFlag,
      },
      false,
    );
    if (v.model !== undefined) throw badInput('distill takes --teacher and --student instead of --model');
    if (v.loss !== undefined || v['label-smoothing'] !== undefined)
      throw badInput('distill sets its own loss (the teacher term and the labels); drop --loss and --label-smoothing');
    if (!v.teacher)
      throw badInput(
        "distill needs --teacher T.onnx (the large, trained model); e.g. 'hone distill --teacher t.onnx --student zoo:mlp --data mnist -o s.onnx'",
      );
    if (!v.student) throw badInput('distill needs --student S.onnx or --student zoo:NAME (the small model to train)');
    if (!v.output) throw badInput('distill needs -o OUT.onnx for the trained student');
    checkWritable(v.output);
    for (const m of [v.teacher, v.student])
      if (!m.startsWith('zoo:') && sameFile(v.output, m))
        throw badInput(`-o ${v.output} is one of the input models; write the student to another file`);
    const features = v.features === undefined ? undefined : parseFeaturePairs(v.features);
    const featureWeight = numberFlag(v['feature-weight'], '--feature-weight', { min: 0 });
    if (featureWeight !== undefined && !features) throw badInput('--feature-weight weighs feature matching; add --features T:S');
    const mode = v['teacher-outputs'] ?? 'auto';
    if (!['cache', 'fly', 'auto'].includes(mode)) throw badInput(`--teacher-outputs must be cache, fly or auto, got '${mode}'`);
    const teacher = resolveModel(v.teacher, 'distill');
    const student = resolveModel(v.student, 'distill');
    const inputs = parseTrainInputs(v, student);
    const limit = numberFlag(v.limit, '--limit', { int: true, min: 1 });
    const data = await resolveData(v.data, student, limit, 'distill', inputs.values, parseReadFlags(v));
    if (data.limitNote && !v.quiet) io.stderr(`hone: ${data.limitNote}\n`);
    const test = v['test-data']
      ? await resolveData(v['test-data'], student, undefined, 'distill', inputs.values, parseReadFlags(v))
      : undefined;
    const testSet = test ? (test.test ?? test.train) : data.test;
    const testSource = test ? `${v['test-data']}${test.test ? ' (test)' : ''}` : data.test ? `${v.data} (test)` : undefined;
    const epochs = numberFlag(v.epochs, '--epochs', { int: true, min: 1 }) ?? 1;
    const stepsPerEpoch = Math.max(1, Math.floor(data.train.size / inputs.batchSize));
    const onProgress = progressLines(io, v.quiet);
    const common = parseTrainCommon(v, inputs);
    const { model, report } = await distill(teacher, student, data.train, {
      temperature: numberFlag(v.temperature, '--temperature', { min: 0 }),
      alpha: numberFlag(v.alpha, '--alpha', { min: 0 }),
      teacherOutputs: mode as 'cache' | 'fly' | 'auto',
      baseline: v.baseline,
      features,
      featureWeight,
      test: testSet,
      testSource,
      onProgress,
      train: {
        ...common,
        epochs,
        batchSize: inputs.batchSize,
        lr: numberFlag(v.lr, '--lr', { min: 0 }) ?? 1e-3,
        schedule: parseSchedule(v.schedule, stepsPerEpoch, epochs),
        warmupSteps: numberFlag(v.warmup, '--warmup', { int: true, min: 0 }),
        onEpoch: onProgress ? (r) => onProgress(`epoch ${r.epoch}/${epochs}: loss ${r.trainLoss.toFixed(4)}`) : undefined,
      },
    });
    saveModel(model, v.output);
    io.stdout(v.json ? `${JSON.stringify({ output: v.output, ...report })}\n` : distillText(report, v.output));
    return 0;
  },
};

function distillText(r: DistillReport, output: string): string {
  const pct = (x: number | undefined) => (x === undefined ? 'n/a' : `${(100 * x).toFixed(2)}%`);
  const num = (x: number) => x.toLocaleString('en-US');
  const lines = [
    `distilled (T=${r.temperature}, α=${r.alpha}, teacher outputs ${r.teacherOutputs === 'cache' ? 'cached' : 'on the fly'}): ${r.student.history.length} epoch(s), ${Math.round(r.student.samplesPerSec)} samples/s`,
    `  teacher  ${num(r.teacher.params).padStart(11)} params  accuracy ${pct(r.teacher.accuracy)}`,
    `  student  ${num(r.student.params).padStart(11)} params  accuracy ${pct(r.student.accuracy)}  (${(r.teacher.params / Math.max(1, r.student.params)).toFixed(1)}x smaller)`,
  ];
  if (r.features)
    lines.push(
      `  features matched (weight ${r.features.weight}): ${r.features.pairs.map((p) => `teacher ${p.teacher} ← student ${p.student}`).join(', ')}`,
    );
  if (r.baseline)
    lines.push(`  alone    ${''.padStart(11)}         accuracy ${pct(r.baseline.accuracy)}  (the student trained without the teacher)`);
  if (r.agreement)
    lines.push(
      `  agreement with the teacher on ${r.agreement.samples} samples of ${r.agreement.source}: top-1 ${pct(r.agreement.top1)}, output cosine ${r.agreement.cosine.toFixed(4)}`,
    );
  lines.push(`→ ${output}`);
  return `${lines.join('\n')}\n`;
}
