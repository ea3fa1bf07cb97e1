/**
 * Which dim is "the batch", and a model fixed at a given batch size. The batch is the leading dim of the
 * first input: when it is symbolic ('batch', 'N'…) it is set like `--dim batch=B`; when the model fixes it
 * (say at 1) the inputs that share that leading size get B instead and the outputs' leading dim becomes
 * symbolic, which works whenever the graph does not bake the batch into constants (a Reshape to [1,-1]).
 */
import type { ModelProto } from '../ir/proto.js';
import { badInput } from '../errors.js';
import {
  batchDim,
  DEFAULT_BATCH_SIZES,
  fixDims,
  resolveInputs,
  type ConcreteInput,
  type DimFixes,
  type InputValue,
} from '../runtime/inputs.js';
import { valueTensor } from '../runtime/values.js';
import { loadForms, type LoadForm } from '../runtime/loadable.js';

export interface BatchPlan {
  /** The symbolic batch dim, when the leading dim is symbolic. */
  symbol?: string;
  /** The model's own batch size when the leading dim is a number (or set by --shape). */
  fixedAt?: number;
  /** The batch sizes to profile when the user names none. */
  defaults: number[];
}

export interface UserFixes {
  dims: Map<string, number>;
  shapes: Map<string, number[]>;
  /** `--input` values, fed instead of random data. */
  values: Map<string, InputValue>;
}

export function batchPlan(model: ModelProto, fixes: UserFixes): BatchPlan {
  const lead = batchDim(model, fixes);
  if (!lead) return { defaults: [1] };
  if (fixes.shapes.has(lead.input)) return { fixedAt: lead.given!.size, defaults: [lead.given!.size] };
  if (typeof lead.dim === 'string') return { symbol: lead.dim, defaults: lead.given ? [lead.given.size] : [...DEFAULT_BATCH_SIZES] };
  return { fixedAt: lead.dim, defaults: [lead.dim] };
}

/**
 * The model with every input dim fixed for batch size `batch` (for static analysis), the forms of it to
 * hand ORT in turn (loadable.ts), and its concrete inputs, each given value checked against its input.
 */
export function atBatch(
  model: ModelProto,
  plan: BatchPlan,
  batch: number,
  fixes: UserFixes,
): { model: ModelProto; forms: LoadForm[]; inputs: ConcreteInput[] } {
  let base = model;
  let dimFixes: DimFixes = fixes;
  if (plan.symbol !== undefined) {
    dimFixes = { ...fixes, dims: new Map([...fixes.dims, [plan.symbol, batch]]) };
  } else if (plan.fixedAt !== undefined && batch !== plan.fixedAt) {
    if ([...fixes.shapes.keys()].length > 0) {
      throw badInput(
        `--batch-sizes ${batch} conflicts with --shape, which fixes the batch at ${plan.fixedAt}; set the batch inside --shape or drop --batch-sizes`,
      );
    }
    base = rebatch(model, plan.fixedAt, batch);
  }
  const fixed = fixDims(base, dimFixes);
  const inputs = resolveInputs(fixed, { values: fixes.values });
  for (const input of inputs) {
    const value = fixes.values.get(input.name);
    if (value) valueTensor(input, input.shape, value);
  }
  return { model: fixed, forms: loadForms(base, fixed), inputs };
}

/** A copy whose inputs with leading dim `from` get `to`; outputs' leading `from` becomes symbolic. */
function rebatch(model: ModelProto, from: number, to: number): ModelProto {
  const g = model.graph!;
  const inits = new Set(g.initializer.map((t) => t.name));
  const lead = (vi: (typeof g.input)[number], isInput: boolean) => {
    const dims = vi.type?.tensorType?.shape?.dim;
    if (!dims || dims[0]?.dimValue !== from || (isInput && inits.has(vi.name))) return vi;
    const first = isInput ? { dimValue: to } : { dimParam: 'batch' };
    return { ...vi, type: { ...vi.type, tensorType: { ...vi.type!.tensorType, shape: { dim: [first, ...dims.slice(1)] } } } };
  };
  // value_info holds intermediate shapes at the old batch; they are hints only, so they go.
  return {
    ...model,
    graph: { ...g, input: g.input.map((vi) => lead(vi, true)), output: g.output.map((vi) => lead(vi, false)), valueInfo: [] },
  };
}
