/**
 * Fixing dims must never turn a model that ORT loads into one it refuses.
 *
 * ORT runs ONNX shape inference over the whole graph when it loads a model, subgraphs included. With
 * concrete input dims it infers concrete shapes inside both branches of every If, and a branch whose
 * shapes only hold for other inputs makes the load fail although the model runs fine at those dims: Silero
 * VAD v5 at 512 samples (its 16 kHz size) is refused with "LSTM: First input tensor must have rank 3" from
 * its 8 kHz branch, where a Squeeze of the size-1 dims leaves the LSTM a rank-2 input; with the dims left
 * symbolic the rank is unknown there and the model loads. (Stale value_info is no such risk: ORT merges it
 * leniently; a value_info of [3,4] for a value inferred [2,4] loads.) So a model with fixed dims is handed
 * to ORT in two forms, the second only when ORT refuses the first:
 *   1. every input dim fixed (ORT plans memory and folds shape arithmetic for these sizes);
 *   2. the graph's own input dims, symbolic, fed the same concrete tensors.
 * Only when the graph's own form is refused too does an error reach the user: ORT's message for it.
 */
import type { ModelProto } from '../ir/proto.js';
import { createSession, isModelLoadError, type SessionOpts } from './session.js';

/** One form of a model to hand ORT, with what it is, for messages. */
export interface LoadForm {
  model: ModelProto;
  what: 'dims fixed' | "the graph's own dims";
}

/** The forms of a model whose dims were fixed (`fixed`) from its own form (`base`), in the order to try. */
export function loadForms(base: ModelProto, fixed: ModelProto): LoadForm[] {
  if (fixed === base) return [{ model: base, what: "the graph's own dims" }];
  return [
    { model: fixed, what: 'dims fixed' },
    { model: base, what: "the graph's own dims" },
  ];
}

/**
 * Calls `use` with each form in turn until one is not refused at load (see `isModelLoadError`); any other
 * error, or the last form's refusal, is thrown. `onRefused` hears each refusal and the form tried next.
 */
export async function firstLoadable<T>(
  forms: readonly LoadForm[],
  use: (model: ModelProto) => Promise<T>,
  onRefused?: (refused: LoadForm, message: string, next: LoadForm) => void,
): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await use(forms[i]!.model);
    } catch (e) {
      if (i === forms.length - 1 || !isModelLoadError(e)) throw e;
      onRefused?.(forms[i]!, e.message, forms[i + 1]!);
    }
  }
}

/**
 * The first form ORT loads, found by creating (and releasing) a session on each in turn: for callers that
 * build on the model (a training graph) before their own session exists.
 */
export async function loadableForm(forms: readonly LoadForm[], opts: SessionOpts = {}): Promise<LoadForm> {
  if (forms.length === 1) return forms[0]!;
  const model = await firstLoadable(forms, async (m) => {
    await (await createSession(m, opts)).release();
    return m;
  });
  return forms.find((f) => f.model === model)!;
}
