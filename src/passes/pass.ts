/**
 * The one contract every model transformation follows (docs/design.md, "Passes"): a `Pass` has an id,
 * says whether it applies to a model and why not, declares its tunable options in the tuner's distribution
 * types and what it needs (calibration data, labels, a training budget), and `run` returns a new model,
 * never touching its input. `hone optimize` searches over passes and their options; profile advice names
 * a pass and its options, and the CLI renders the command from them.
 */
import type { ModelProto } from '../ir/proto.js';
import type { Distribution, ParamValue } from '../util/space.js';

/** What a pass needs beyond the model. */
export type PassNeed = 'calibration-data' | 'labels' | 'training';

/** Facts about the model a pass may use to decide whether it applies (cheap to compute, shared by every pass). */
export interface ModelFacts {
  /** ai.onnx opset of the model. */
  opset: number;
  /** Op types of the main graph with their counts (subgraph nodes not included). */
  opTypes: ReadonlyMap<string, number>;
  /** The model already holds quantized ops (Q/DQ, QLinear*, integer MatMul/Conv) or float16 weights. */
  quantized: boolean;
}

/** What a pass may use while running. */
export interface PassContext {
  /** Calibration/evaluation samples by input name, when the pass needs data (opaque to this layer's callers). */
  data?: unknown;
  onProgress?: (message: string) => void;
  /** Set when the user interrupts: long passes stop between steps and throw. */
  signal?: AbortSignal;
}

export interface PassReport {
  /** One line: what the pass did ('folded 12 BatchNormalization into Conv', 'quantized 40 of 42 MatMuls'). */
  summary: string;
  /** Things the user should know (opset raised, nodes left float and why…). */
  notes: string[];
  /** Pass-specific detail (a quantization's node decisions, counts…), JSON-serialisable. */
  detail?: unknown;
}

export interface PassResult {
  /** A new model; the input is never mutated (when nothing changed it may be the input itself). */
  model: ModelProto;
  /** False when the pass found nothing to do. */
  changed: boolean;
  report: PassReport;
}

export type PassOptions = Record<string, ParamValue>;

export interface Pass<O extends PassOptions = PassOptions> {
  /** Dotted id, family first: 'fold.constants', 'fuse.conv-bn', 'quantize.static', 'ort.offline-optimize'. */
  id: string;
  /**
   * The version of what the pass computes (default 1), part of the pipeline's cache key: bump it when a
   * change makes `run` give a different model or report for the same input and options (a fix, a new
   * rewrite, another default inside the pass), so results cached by the older code are not reused. A change
   * that gives the same results (speed, refactoring) leaves it. Hone's version is in the key as well, which
   * covers a release; this covers a change within one (a development checkout) and passes from outside Hone.
   */
  version?: number;
  /** One line for reports and --help. */
  description: string;
  /** Why the pass does not apply to this model, or undefined when it does. */
  applies(model: ModelProto, facts: ModelFacts): string | undefined;
  /** The options a search may vary, in the tuner's types (empty when there is nothing to tune). */
  space: Readonly<Record<string, Distribution>>;
  /** Options used when none are given. */
  defaults: O;
  needs: readonly PassNeed[];
  /**
   * What the pass uses when the context has it but runs without (fp16 measures activation ranges on
   * calibration data when given): its result then depends on the data, so the pipeline's cache keys on it.
   */
  optionalNeeds?: readonly PassNeed[];
  /** Transforms a copy of `model`; options missing from `options` take `defaults`. */
  run(model: ModelProto, options: Partial<O>, ctx: PassContext): Promise<PassResult>;
}
