/**
 * The model-input flags on the training side: `--dim`/`--shape` size the training graph's dims (the batch
 * stays the trainer's), and `--input` values feed inputs that are not data in every step and evaluation.
 */
import { HONE_DOMAIN } from '../ops/quant.js';
import type * as ort from 'onnxruntime-node';
import type { ModelProto, TensorProto } from '../ir/proto.js';
import { makeTensor, type TypedArray } from '../ir/tensor.js';
import { badInput } from '../errors.js';
import { fixDims, graphInputs, valueShape, type InputInfo, type InputValue } from '../runtime/inputs.js';
import { valueTensor } from '../runtime/values.js';
import { loadForms, loadableForm } from '../runtime/loadable.js';
import type { SessionOpts } from '../runtime/session.js';
import type { Dataset } from '../data/dataset.js';

export interface InputFixes {
  dims?: Record<string, number>;
  shapes?: Record<string, number[]>;
  values?: Record<string, InputValue>;
}

/**
 * `model` with its non-batch dims fixed by `fixes`, in the first form ORT loads (loadable.ts: fixing dims
 * never turns a model ORT loads into one it refuses). Dims nothing sizes stay symbolic.
 */
export async function modelForTraining(model: ModelProto, fixes: InputFixes, session: SessionOpts): Promise<ModelProto> {
  const none = (o: object | undefined) => !o || Object.keys(o).length === 0;
  if (none(fixes.dims) && none(fixes.shapes) && none(fixes.values)) return model;
  const fixed = fixDims(model, fixes, { partial: true, keepLeading: true });
  // Training-only ops (QAT's FakeQuantize) are ORT's only once lowered, in the training session: no load check here.
  if (model.graph!.node.some((n) => n.domain === HONE_DOMAIN)) return fixed;
  return (await loadableForm(loadForms(model, fixed), session)).model;
}

/**
 * `model` with the input fixes applied to the dims it still leaves symbolic (the rest were fixed before): for a
 * model whose fixed dims ORT refused because of an If branch the fixed inputs never take, once that If is gone.
 */
export function fixRemainingDims(model: ModelProto, fixes: InputFixes): ModelProto {
  const symbols = new Set(graphInputs(model).flatMap((i) => (i.shape ?? []).filter((d) => typeof d === 'string')));
  const dims = Object.fromEntries(Object.entries(fixes.dims ?? {}).filter(([d]) => symbols.has(d)));
  return fixDims(model, { ...fixes, dims }, { partial: true, keepLeading: true });
}

/** `trained` with the graph inputs of `original`, so fixing dims for training leaves the model's interface as it was. */
export function withInputsOf(trained: ModelProto, original: ModelProto): ModelProto {
  const own = new Map(original.graph!.input.map((vi) => [vi.name, vi]));
  return { ...trained, graph: { ...trained.graph!, input: trained.graph!.input.map((vi) => own.get(vi.name) ?? vi) } };
}

/** Feeds for the inputs given a value, at any batch size: the value repeated over the batch. */
export class GivenFeeds {
  private readonly inputs: InputInfo[];
  private readonly batchSymbols: string[];
  private readonly cache = new Map<number, Record<string, ort.Tensor>>();

  constructor(
    model: ModelProto,
    private readonly values: Record<string, InputValue> = {},
    private readonly dims: Record<string, number> = {},
  ) {
    this.inputs = graphInputs(model).filter((i) => i.name in values);
    // The data inputs' leading symbols are the batch.
    this.batchSymbols = graphInputs(model)
      .filter((i) => !(i.name in values))
      .flatMap((i) => (typeof i.shape?.[0] === 'string' ? [i.shape[0]] : []));
  }

  has(name: string): boolean {
    return name in this.values;
  }

  /** Fails when `ds` also has an array for an input given a value. */
  checkData(ds: Dataset, what: string): void {
    for (const i of this.inputs) {
      if (i.name in ds.features) throw badInput(`both ${what} and --input ${this.values[i.name]!.text} give input '${i.name}'; drop one`);
    }
  }

  /** The given inputs' values for a batch of `n` samples as tensors of the model (for constant folding). */
  protos(n: number): Map<string, TensorProto> {
    const feeds = this.at(n);
    return new Map(
      this.inputs.map((i) => [i.name, makeTensor(i.name, i.elemType, feeds[i.name]!.dims, feeds[i.name]!.data as TypedArray)]),
    );
  }

  /** The given inputs' tensors for a batch of `n` samples. */
  at(n: number): Record<string, ort.Tensor> {
    let feeds = this.cache.get(n);
    if (!feeds) {
      const dims = new Map([...Object.entries(this.dims), ...this.batchSymbols.map((s) => [s, n] as const)]);
      feeds = Object.fromEntries(
        this.inputs.map((i) => [i.name, valueTensor(i, valueShape(i, this.values[i.name]!, dims), this.values[i.name]!)]),
      );
      this.cache.set(n, feeds);
    }
    return feeds;
  }
}
