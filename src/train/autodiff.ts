/**
 * Reverse-mode differentiation of ONNX graphs. `buildTrainingGraph` turns an inference model plus a loss
 * into one training-step model of standard ONNX ops: inputs are the data, the labels and every trainable
 * parameter; outputs are the loss, one gradient per parameter and the model's own outputs (for metrics).
 */
import { HoneError, badInput } from '../errors.js';
import { valueInfo } from '../ir/builder.js';
import { DataType, isFloat } from '../ir/dtype.js';
import type { GraphProto, ModelProto, NodeProto, TensorProto } from '../ir/proto.js';
import { usedValues } from '../ir/graph.js';
import { nodeGraphs } from '../ir/walk.js';
import { tensorArray } from '../ir/tensor.js';
import { type BatchStatistics, GradEmitter } from '../ops/grad/index.js';
import { attrReader } from '../ir/attrs.js';
import { gradRule, opProps } from '../ops/index.js';
import { appendLoss, labelsType, type LossSpec } from './losses.js';
import { staticTypes, type StaticTypes } from './shapes.js';
import { upgradeOpset } from '../passes/upgrade.js';
import { unrollRecurrent } from '../passes/unroll-rnn.js';
import { conditionInputs, inlineConstantIfs, type WeightOrigin } from '../passes/inline-if.js';
import { fixRemainingDims, type InputFixes } from './inputs.js';
import { foldedCopy } from '../passes/fold.js';
import { setTrainingMode, type DropoutMask } from './training-mode.js';

/** Older models are upgraded to this opset for training (16: ScatterElements/ScatterND with add reduction,
 * which overlapping max-pool and embedding gradients need); the exported, trained model keeps its own. */
const TRAINING_OPSET = 16;

export interface TrainingGraphOptions {
  loss: LossSpec;
  /** The model output the loss reads; default: the first output. */
  output?: string;
  /** Name of the labels input added to the graph; default 'label'. */
  labelsName?: string;
  /** Only these initializers are trained (default: every float initializer of rank ≥ 1 on a path to the loss). */
  trainable?: readonly string[];
  /** Initializers kept fixed. */
  frozen?: readonly string[];
  /**
   * Initializers trained besides the default set, though they are scalars or settings by convention
   * (quantization scales that QAT learns).
   */
  alsoTrain?: readonly string[];
  /**
   * Values of graph inputs that stay fixed while training (`--input sr=16000`): an If whose condition they
   * make constant is replaced by the branch it takes (passes/inline-if.ts).
   */
  inputValues?: ReadonlyMap<string, TensorProto>;
  /**
   * The input fixes the caller sized the model with. Dims it left symbolic (ORT refused them fixed because of
   * an If branch, runtime/loadable.ts) are fixed to evaluate If conditions, and stay fixed once Ifs are inlined.
   */
  inputFixes?: InputFixes;
  /** GradContext.blockedDepthwise for the gradient rules: the NCHWc block when the step will run on those kernels. */
  blockedDepthwise?: number;
  /**
   * Scalar values of the model added to the loss (regularizers, feature-matching terms). Each must be a
   * graph output, so that nothing prunes the nodes computing it before they reach the loss.
   */
  extraLoss?: readonly string[];
}

export interface TrainableParam {
  name: string;
  dims: number[];
  /** The initial values, copied from the model. */
  init: Float32Array;
  /** The training graph's output that carries this parameter's gradient. */
  grad: string;
}

/** State that is not trained but changes every step (BatchNorm running statistics). */
export interface StateBuffer {
  name: string;
  dims: number[];
  init: Float32Array;
  /** The training graph's output with the value after the step. */
  update: string;
}

export interface TrainingGraph {
  model: ModelProto;
  params: TrainableParam[];
  buffers: StateBuffer[];
  /** The model's own inputs (data), in order. */
  dataInputs: string[];
  labelsName: string;
  lossName: string;
  /** The inference model's outputs, also outputs of the training graph. */
  outputs: string[];
  /** The forward model the training graph was built from (upgraded to the training opset if it was older). */
  forward: ModelProto;
  /**
   * The input model at its own opset, with weights that were Constant nodes or constant chains (ConstantOfShape,
   * Cast, DequantizeLinear…) folded into initializers: the parameters are its initializers (see `exportTrained`).
   */
  source: ModelProto;
  /** Dropout masks the caller feeds every step (inputs of the training graph); see fillDropoutMasks. */
  dropoutMasks: DropoutMask[];
  /** Parameters (and state) that live in an If branch of `source`, by their name in the training graph. */
  origins: Map<string, WeightOrigin>;
}

export function buildTrainingGraph(original: ModelProto, opts: TrainingGraphOptions): TrainingGraph {
  if (!original.graph) throw badInput('the model has no graph; pass an ONNX model file');
  // Only initializers train: weights that exporters keep in Constant nodes (Paddle2ONNX, spox) or build from
  // constants (fp16 data cast up, int8 data dequantized) become initializers first, instead of staying frozen.
  const source = foldedCopy(original).model;
  // An If the fixed inputs decide trains as the branch it takes; its weights are written back into that branch.
  // Its condition is evaluated with every input dim fixed, though ORT may have refused those fixed dims for the
  // model as given (runtime/loadable.ts): a branch the fixed inputs never take can be what it refused.
  const inlined = inlineConstantIfs(opts.inputFixes ? fixRemainingDims(source, opts.inputFixes) : source, opts.inputValues);
  const base = inlined.inlined > 0 ? inlined.model : source;
  const model = upgradeOpset(base, TRAINING_OPSET).model;
  const src = model.graph!;
  const opset = defaultOpset(model);
  const graph = cloneGraph(src);
  const initNames = new Set(graph.initializer.map((t) => t.name!));
  const frozen = new Set(opts.frozen ?? []);
  for (const n of [...frozen, ...(opts.trainable ?? []), ...(opts.alsoTrain ?? [])]) {
    if (!initNames.has(n)) throw badInput(`'${n}' is not an initializer of the model; list parameter names from 'hone inspect'`);
  }
  const trainableSet = opts.trainable ? new Set(opts.trainable) : undefined;
  // Scalars (rank 0) are constants by convention (exporters and the zoo write 0.5, √2, 1/√d that way);
  // they train only when listed in `trainable`.
  const settings = settingsOnly(graph);
  const also = new Set(opts.alsoTrain ?? []);
  const paramTensors = graph.initializer.filter(
    (t) =>
      t.dataType === DataType.FLOAT &&
      !frozen.has(t.name!) &&
      (also.has(t.name!) || (trainableSet ? trainableSet.has(t.name!) : t.dims.length > 0 && !settings.has(t.name!))),
  );
  const paramNames = new Set(paramTensors.map((t) => t.name!));

  const output = opts.output ?? graph.output[0]?.name;
  if (!output || !graph.output.some((o) => o.name === output))
    throw badInput(`the model has no output '${output ?? ''}'; pick one of ${graph.output.map((o) => o.name).join(', ')}`);
  const labelsName = opts.labelsName ?? 'label';
  const taken = allNames(graph);
  if (taken.has(labelsName)) throw badInput(`the model already has a value named '${labelsName}'; choose another labels name`);
  taken.add(labelsName);
  // Recurrent ops train unrolled over their sequence; the parameters stay their W, R and B (see unroll-rnn.ts).
  unrollRecurrent(graph, opset, taken);
  const { updates: stateUpdates, masks: dropoutMasks, batchStatistics } = setTrainingMode(graph, opset, taken);

  const types = staticTypes(graph, opset, paramNames);
  const predShape = types.types.get(output)?.shape;
  const lt = labelsType(opts.loss, predShape);
  const lossEmit = new GradEmitter(taken, opset, 'loss');
  let lossValue = appendLoss(lossEmit, opts.loss, output, labelsName, predShape?.length);
  for (const term of opts.extraLoss ?? []) {
    if (!graph.output.some((o) => o.name === term))
      throw badInput(`extra loss term '${term}' is not an output of the model; add it to the graph's outputs`);
    const shape = types.types.get(term)?.shape;
    if (shape && shape.length > 0 && !shape.every((d) => d === 1))
      throw badInput(`extra loss term '${term}' must be a scalar, got shape [${shape.join(', ')}]; reduce it first`);
    lossValue = lossEmit.add(lossValue, shape && shape.length > 0 ? lossEmit.reduceMean(term, [], false) : term);
  }
  graph.node.push(...lossEmit.nodes);
  graph.initializer.push(...lossEmit.initializers);
  const lossName = 'loss';
  if (taken.has(lossName)) throw badInput(`the model already has a value named 'loss'; rename it before training`);
  graph.node.push({
    input: [lossValue],
    output: [lossName],
    opType: 'Identity',
    name: 'loss_identity',
    attribute: [],
    metadataProps: [],
    deviceConfigurations: [],
  });
  taken.add(lossName);

  // Types of the loss nodes too (the rules look up shapes of values they differentiate).
  graph.input.push(valueInfo(labelsName, lt.elemType, lt.shape));
  const allTypes = staticTypes(graph, opset, paramNames);

  const emit = new GradEmitter(taken, opset);
  const seeds = new Map([[lossName, emit.scalar(1)]]);
  const grads = differentiate(graph, opset, allTypes, emit, seeds, paramNames, batchStatistics, opts.blockedDepthwise);

  const params: TrainableParam[] = [];
  const gradOutputs: string[] = [];
  for (const t of paramTensors) {
    const g = grads.get(t.name!);
    if (!g) continue; // does not reach the loss: not a parameter of this training step
    const gradName = uniqueName(taken, `${t.name}_grad`);
    emit.nodes.push({
      input: [g],
      output: [gradName],
      opType: 'Identity',
      name: `${gradName}_identity`,
      attribute: [],
      metadataProps: [],
      deviceConfigurations: [],
    });
    params.push({ name: t.name!, dims: t.dims.map(Number), init: Float32Array.from(tensorArray(t) as Float32Array), grad: gradName });
    gradOutputs.push(gradName);
  }
  if (params.length === 0)
    throw nothingToTrain(
      graph,
      paramTensors.map((t) => t.name!),
    );
  graph.node.push(...emit.nodes);
  const buffers: StateBuffer[] = stateUpdates.map((u) => {
    const t = graph.initializer.find((i) => i.name === u.name);
    if (!t || t.dataType !== DataType.FLOAT) throw badInput(`running statistic '${u.name}' must be a float32 initializer to be trained`);
    return { name: u.name, dims: t.dims.map(Number), init: Float32Array.from(tensorArray(t) as Float32Array), update: u.update };
  });
  const trained = new Set([...params.map((p) => p.name), ...buffers.map((b) => b.name)]);
  graph.initializer = [...graph.initializer.filter((t) => !trained.has(t.name!)), ...emit.initializers];
  // Older exporters list initializers among the graph inputs too; each parameter is listed once.
  graph.input = [
    ...graph.input.filter((i) => !trained.has(i.name!)),
    ...params.map((p) => valueInfo(p.name, DataType.FLOAT, p.dims)),
    ...buffers.map((b) => valueInfo(b.name, DataType.FLOAT, b.dims)),
  ];
  const outputs = src.output.map((o) => o.name!);
  graph.output = [
    valueInfo(lossName, DataType.FLOAT, []),
    ...params.map((p) => valueInfo(p.grad, DataType.FLOAT, p.dims)),
    ...buffers.map((b) => valueInfo(b.update, DataType.FLOAT, b.dims)),
    ...src.output,
  ];
  graph.valueInfo = [];
  const dataInputs = src.input.map((i) => i.name!).filter((n) => !initNames.has(n));
  return {
    model: { ...model, graph, opsetImport: [...model.opsetImport], metadataProps: [], trainingInfo: [] },
    params,
    buffers,
    dataInputs,
    labelsName,
    lossName,
    outputs,
    forward: model,
    source,
    dropoutMasks,
    origins: inlined.origins,
  };
}

/**
 * Appends the backward pass of `graph` to `emit`: gradients of the `seeds` (value → gradient value) with
 * respect to every value in `wrt`. Returns the gradient value of each `wrt` entry that the seeds depend on.
 * `batchStatistics` names, by their output, the BatchNormalization nodes that normalize with their own
 * batch's statistics (`setTrainingMode`), for their gradient rule.
 */
export function differentiate(
  graph: GraphProto,
  opset: number,
  types: StaticTypes,
  emit: GradEmitter,
  seeds: Map<string, string>,
  wrt: ReadonlySet<string>,
  batchStatistics: ReadonlyMap<string, BatchStatistics> = new Map(),
  blockedDepthwise = 0,
): Map<string, string> {
  const requires = new Set(wrt);
  // A node reads its inputs and, through its subgraphs, outer-scope values (an If branch using a weight).
  const reads = new Map(graph.node.map((node) => [node, [...usedValues(node)]]));
  for (const node of graph.node) {
    if (opProps(node.domain, node.opType!).nonDifferentiable || !reads.get(node)!.some((i) => requires.has(i))) continue;
    for (const o of node.output) {
      const et = types.types.get(o)?.elemType;
      if (o && (et === undefined || isFloat(et))) requires.add(o);
    }
  }
  const producers = new Map<string, NodeProto>();
  for (const node of graph.node) for (const o of node.output) if (o) producers.set(o, node);
  const pending = new Map<string, string[]>();
  for (const [v, g] of seeds) pending.set(v, [g]);
  const total = (v: string): string | undefined => {
    const list = pending.get(v);
    if (!list || list.length === 0) return undefined;
    if (list.length === 1) return list[0];
    const s = emit.op('Sum', list, {}, 'accum');
    pending.set(v, [s]);
    return s;
  };
  for (let n = graph.node.length - 1; n >= 0; n--) {
    const node = graph.node[n]!;
    const gy = node.output.map((o) => (o ? total(o) : undefined));
    if (gy.every((g) => g === undefined)) continue;
    if (nodeGraphs(node).length > 0 && reads.get(node)!.some((v) => requires.has(v)))
      throw controlFlowRefusal(graph, node, 'the loss depends on the parameters through an ');
    const needs = (i: number) => Boolean(node.input[i]) && requires.has(node.input[i]!);
    if (!node.input.some((_, i) => needs(i))) continue;
    const rule = gradRule(node.domain, node.opType!);
    if (!rule) {
      throw new HoneError(
        `no gradient rule for op ${node.opType} (node '${node.name ?? node.output[0]}'); freeze the parameters before it (--freeze) or replace the op`,
        2,
      );
    }
    const elemType = node.input.map((i) => types.types.get(i)?.elemType).find((t) => t !== undefined && isFloat(t)) ?? DataType.FLOAT;
    const inGrads = rule.grad({
      node,
      attr: attrReader(node),
      opset,
      gy,
      needs,
      shape: (name) => types.types.get(name)?.shape,
      producer: (name) => producers.get(name),
      elemTypeOf: (name) => types.types.get(name)?.elemType,
      constant: (name) => types.constants.get(name),
      elemType,
      emit,
      batchStatistics: node.output[0] ? batchStatistics.get(node.output[0]) : undefined,
      blockedDepthwise,
    });
    inGrads.forEach((g, i) => {
      if (!g || !needs(i)) return;
      const v = node.input[i]!;
      const list = pending.get(v) ?? [];
      list.push(g);
      pending.set(v, list);
    });
  }
  const out = new Map<string, string>();
  for (const v of wrt) {
    const g = total(v);
    if (g) out.set(v, g);
  }
  return out;
}

/**
 * Why no parameter got a gradient: weights that live in, or are read only inside, If/Loop/Scan subgraphs
 * (which are not differentiated), or else every weight frozen or unused by the output.
 */
function nothingToTrain(g: GraphProto, candidates: string[]): HoneError {
  const wanted = new Set(candidates);
  for (const n of g.node) {
    const subs = n.attribute.flatMap((a) => [a.g, ...a.graphs]).filter((x): x is GraphProto => Boolean(x));
    if (subs.length === 0) continue;
    if (subs.some((sub) => holdsWeights(sub, wanted)))
      return controlFlowRefusal(g, n, 'nothing to train: the outputs depend on the weights only through an ');
  }
  const q = g.node.find((n) => n.opType === 'QuantizeLinear' || n.opType === 'DynamicQuantizeLinear');
  if (q && candidates.length > 0) {
    return badInput(
      `nothing to train: the graph quantizes values on the way to the output (${q.opType} '${q.name || q.output[0]}'), and integer values carry no gradient; train the float model before quantizing it`,
    );
  }
  return badInput(
    candidates.length === 0
      ? 'nothing to train: the model has no float initializer of rank 1 or more that is not frozen; unfreeze some parameters or list them with --trainable'
      : 'nothing to train: no unfrozen float initializer reaches the loss through differentiable ops; check --output and --freeze',
  );
}

/**
 * Why training stops at a control-flow node between the parameters and the loss. An If whose condition the
 * fixed inputs decide was inlined before; one left here depends on inputs without a value, which the
 * message names (or on the data itself).
 */
function controlFlowRefusal(g: GraphProto, n: NodeProto, lead = ''): HoneError {
  const where = `${n.opType} subgraph ('${n.name || n.output[0]}')`;
  if (n.opType !== 'If') {
    return badInput(
      `${lead}${where}: training does not differentiate through Loop/Scan bodies; export the model with the loop unrolled, or freeze the parameters before it (--freeze)`,
    );
  }
  const { values, shapes } = conditionInputs(g, n);
  const elem = new Map(g.input.map((v) => [v.name!, v.type?.tensorType]));
  // Inputs that set the model up (a sample rate, a flag) can be fixed; float tensors are the data itself.
  const settings = values.filter((i) => !isFloat(elem.get(i)?.elemType) || elem.get(i)?.shape?.dim.length === 0);
  const list = (xs: string[]) => xs.map((i) => `'${i}'`).join(', ');
  const fix =
    settings.length > 0
      ? `its condition depends on input ${list(settings)}: give ${settings.length > 1 ? 'them' : 'it'} a fixed value (${settings.map((i) => `--input ${i}=VALUE`).join(' ')}) so training takes one branch`
      : values.length > 0
        ? `its condition depends on the values of ${list(values)}, so the branch is chosen per sample; export the model without this control flow (trace the branch your data takes)`
        : shapes.length > 0
          ? `its condition depends on the shape of ${list(shapes)}: fix it (--shape, --dim) so training takes one branch`
          : 'its condition is not constant for the given inputs; export the model without control flow (trace the branch your inputs take)';
  return badInput(`${lead}${where}, which training does not differentiate: ${fix}`);
}

/** True when `g` (or a graph nested in it) reads one of `wanted` or holds float weights of its own. */
function holdsWeights(g: GraphProto, wanted: ReadonlySet<string>): boolean {
  if (g.initializer.some((t) => t.dataType === DataType.FLOAT && t.dims.length > 0)) return true;
  return g.node.some(
    (n) =>
      (n.opType === 'Constant' && n.attribute.some((a) => a.t?.dataType === DataType.FLOAT && (a.t.dims.length ?? 0) > 0)) ||
      n.input.some((i) => wanted.has(i)) ||
      n.attribute.some((a) => [a.g, ...a.graphs].some((sub) => sub && holdsWeights(sub, wanted))),
  );
}

/** Values the main graph uses only as op settings (Resize scales), never as data an op differentiates. */
function settingsOnly(g: GraphProto): Set<string> {
  const setting = new Set<string>();
  const data = new Set<string>();
  for (const n of g.node) {
    const fixed = opProps(n.domain, n.opType!).settingInputs ?? [];
    n.input.forEach((v, i) => {
      if (v) (fixed.includes(i) ? setting : data).add(v);
    });
    for (const a of n.attribute) for (const sub of [a.g, ...a.graphs]) if (sub) for (const v of allNames(sub)) data.add(v);
  }
  return new Set([...setting].filter((v) => !data.has(v)));
}

export function defaultOpset(model: ModelProto): number {
  return model.opsetImport.find((o) => !o.domain || o.domain === 'ai.onnx')?.version ?? 1;
}

function cloneGraph(g: GraphProto): GraphProto {
  const node = (n: NodeProto): NodeProto => ({ ...n, input: [...n.input], output: [...n.output] });
  return {
    ...g,
    node: g.node.map(node),
    initializer: [...g.initializer],
    input: [...g.input],
    output: [...g.output],
    valueInfo: [...g.valueInfo],
  };
}

function allNames(g: GraphProto): Set<string> {
  const s = new Set<string>();
  for (const v of [...g.input, ...g.output, ...g.valueInfo]) s.add(v.name!);
  for (const t of g.initializer) s.add(t.name!);
  for (const n of g.node) {
    for (const x of n.input) s.add(x);
    for (const x of n.output) s.add(x);
    if (n.name) s.add(n.name);
  }
  return s;
}

function uniqueName(taken: Set<string>, base: string): string {
  let name = base;
  for (let i = 1; taken.has(name); i++) name = `${base}_${i}`;
  taken.add(name);
  return name;
}
