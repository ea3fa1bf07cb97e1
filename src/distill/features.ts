/**
 * Intermediate-feature matching (FitNets: Romero et al. ICLR 2015): besides the teacher's outputs, the student
 * learns to reproduce chosen teacher activations through a learned projection — a 1×1 convolution for
 * feature maps [N, C, H, W], a matrix for vectors [N, C] — from its own activation of the same spatial size.
 * The term β·Σ mean((proj(student) − teacher)²) is a scalar output of the student's training model, added to
 * the distillation loss through the trainer's `extraLoss`; the teacher's activations are extra inputs fed
 * like data. After training the projection, the term and those inputs are removed: the student written
 * is the student's own graph.
 */
import { badInput } from '../errors.js';
import { makeNode, valueInfo } from '../ir/builder.js';
import { DataType } from '../ir/dtype.js';
import { Graph } from '../ir/graph.js';
import type { ModelProto } from '../ir/proto.js';
import { floatTensor } from '../ir/tensor.js';
import { inferShapes } from '../ops/infer.js';
import { mulberry32 } from '../util/random.js';

export interface FeaturePair {
  /** A value of the teacher's graph (an activation), and the student's value that learns to match it. */
  teacher: string;
  student: string;
}

/** The scalar output that holds the feature term, and the prefix of everything added for it. */
export const FEATURE_LOSS = 'hone_feature_loss';
const PREFIX = 'hone_feature';

/** Parses `--features T:S[,T2:S2]`. */
export function parseFeaturePairs(spec: string): FeaturePair[] {
  const pairs = spec
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)
    .map((p) => {
      const [teacher, student, ...rest] = p.split(':');
      if (!teacher || !student || rest.length) throw badInput(`--features takes TEACHER_VALUE:STUDENT_VALUE pairs, got '${p}'`);
      return { teacher, student };
    });
  if (pairs.length === 0) throw badInput('--features takes TEACHER_VALUE:STUDENT_VALUE pairs, e.g. --features stage2.out:pool1');
  return pairs;
}

/** Per-sample dims of each value (batch dropped), or an error naming the value and the model. */
export function featureDims(model: ModelProto, names: readonly string[], what: string): number[][] {
  const types = inferShapes(model).types;
  return names.map((name) => {
    const shape = types.get(name)?.shape;
    if (!shape)
      throw badInput(
        `the ${what} has no value '${name}'; name an activation of its graph (see 'hone profile ${what === 'teacher' ? 'TEACHER' : 'STUDENT'}')`,
      );
    const per = shape.slice(1);
    if (shape.length !== 2 && shape.length !== 4)
      throw badInput(`the ${what}'s '${name}' is [${shape.join(', ')}]; feature matching takes [N, C] or [N, C, H, W] values`);
    if (!per.every((d): d is number => typeof d === 'number'))
      throw badInput(`the ${what}'s '${name}' has symbolic dims [${shape.join(', ')}]; fix the input size (--dim)`);
    return per;
  });
}

/**
 * The student with the feature term: for each pair an input `hone_feature_tK` (the teacher's activation, per
 * sample `teacherDims[K]`), a projection of the student's value to the teacher's channels, and their mean squared
 * difference; their sum times `weight` is the output FEATURE_LOSS.
 */
export function withFeatureLoss(
  student: ModelProto,
  pairs: readonly FeaturePair[],
  teacherDims: readonly number[][],
  weight: number,
  seed = 0,
): { model: ModelProto; inputs: string[] } {
  if (!(weight > 0)) throw badInput(`--feature-weight must be > 0, got ${weight}`);
  const studentDims = featureDims(
    student,
    pairs.map((p) => p.student),
    'student',
  );
  const g = student.graph!;
  const node = [...g.node];
  const initializer = [...g.initializer];
  const input = [...g.input];
  const inputs: string[] = [];
  const terms: string[] = [];
  const rand = mulberry32(seed + 101);
  pairs.forEach((p, k) => {
    const [t, s] = [teacherDims[k]!, studentDims[k]!];
    if (t.length !== s.length || t.slice(1).join() !== s.slice(1).join())
      throw badInput(
        `the teacher's '${p.teacher}' is [N, ${t.join(', ')}] and the student's '${p.student}' [N, ${s.join(', ')}]: feature matching needs the same rank and spatial size (only the channels may differ)`,
      );
    const [ct, cs] = [t[0]!, s[0]!];
    const name = (what: string) => `${PREFIX}_${what}${k}`;
    const fed = name('t');
    input.push(valueInfo(fed, DataType.FLOAT, ['N', ...t]));
    inputs.push(fed);
    // He-initialized projection: [Ct, Cs, 1, 1] for a 1×1 Conv, [Cs, Ct] for a MatMul.
    const std = Math.sqrt(2 / cs);
    const w = Float32Array.from({ length: ct * cs }, () => (rand() * 2 - 1) * std * Math.sqrt(3));
    const conv = s.length === 3;
    initializer.push(floatTensor(name('w'), conv ? [ct, cs, 1, 1] : [cs, ct], w));
    node.push(makeNode(conv ? 'Conv' : 'MatMul', [p.student, name('w')], [name('proj')], {}, { name: name('proj') }));
    node.push(makeNode('Sub', [name('proj'), fed], [name('diff')], {}, { name: name('diff') }));
    node.push(makeNode('Mul', [name('diff'), name('diff')], [name('sq')], {}, { name: name('sq') }));
    node.push(makeNode('ReduceMean', [name('sq')], [name('mse')], { keepdims: 0 }, { name: name('mse') }));
    terms.push(name('mse'));
  });
  initializer.push(floatTensor(`${PREFIX}_weight`, [], [weight]));
  const sum = terms.length === 1 ? terms[0]! : `${PREFIX}_sum`;
  if (terms.length > 1) node.push(makeNode('Sum', terms, [sum], {}, { name: `${PREFIX}_sum` }));
  node.push(makeNode('Mul', [sum, `${PREFIX}_weight`], [FEATURE_LOSS], {}, { name: FEATURE_LOSS }));
  return {
    model: { ...student, graph: { ...g, node, initializer, input, output: [...g.output, valueInfo(FEATURE_LOSS, DataType.FLOAT, [])] } },
    inputs,
  };
}

/** The trained student without the feature term: its output, the teacher inputs and what only they used. */
export function withoutFeatureLoss(model: ModelProto, inputs: readonly string[]): ModelProto {
  const drop = new Set(inputs);
  const graph = {
    ...model.graph!,
    node: [...model.graph!.node],
    initializer: [...model.graph!.initializer],
    output: model.graph!.output.filter((o) => o.name !== FEATURE_LOSS),
    input: model.graph!.input.filter((i) => !drop.has(i.name!)),
  };
  new Graph(graph).removeDeadCode();
  return { ...model, graph };
}
