/**
 * Which float inputs and outputs of an op carry its compute type — the type parameter T that a
 * precision change (float16) rewrites — and which do not. Every slot is T unless listed here; the
 * exceptions are data from the ONNX operator schemas, by opset (a rule holds from `since` until the
 * next rule of the same op):
 *  - 'float32': the schema fixes tensor(float) whatever T is (Resize/Upsample scales, the scales of
 *    Q/DQ before opset 19, LayerNormalization's statistics under the default stash_type).
 *  - 'any': the op reads any type, so the value never needs a conversion (Cast, Shape, Size).
 * Slots typed by an independent type variable (Resize roi T2, BatchNormalization's scale/mean/var since
 * opsets 14–15, Dropout's ratio, Pow's exponent) are not listed: following T is always valid for them.
 * Outputs whose type an attribute sets (Cast `to`, Constant/ConstantOfShape `value`, EyeLike `dtype`)
 * are the converting pass's business: it rewrites the attribute.
 */
export type FloatSlot = 'T' | 'float32' | 'any';

interface SlotRule {
  since: number;
  inputs?: Readonly<Record<number, FloatSlot>>;
  outputs?: Readonly<Record<number, FloatSlot>>;
}

const FLOAT_SLOTS: Readonly<Record<string, readonly SlotRule[]>> = {
  Cast: [{ since: 1, inputs: { 0: 'any' } }],
  CastLike: [{ since: 15, inputs: { 0: 'any' } }],
  Shape: [{ since: 1, inputs: { 0: 'any' } }],
  Size: [{ since: 1, inputs: { 0: 'any' } }],
  Upsample: [{ since: 9, inputs: { 1: 'float32' } }],
  Resize: [
    { since: 10, inputs: { 1: 'float32' } },
    { since: 11, inputs: { 2: 'float32' } },
  ],
  QuantizeLinear: [{ since: 10, inputs: { 0: 'float32', 1: 'float32' } }, { since: 19 }],
  DequantizeLinear: [{ since: 10, inputs: { 1: 'float32' }, outputs: { 0: 'float32' } }, { since: 19 }],
  DynamicQuantizeLinear: [{ since: 11, inputs: { 0: 'float32' }, outputs: { 1: 'float32' } }],
  NonMaxSuppression: [{ since: 10, inputs: { 0: 'float32', 1: 'float32', 3: 'float32', 4: 'float32' } }],
  LayerNormalization: [{ since: 17, outputs: { 1: 'float32', 2: 'float32' } }],
};

/** The kind of input `slot` of an ai.onnx op at `opset` ('T' for ops of other domains: nothing is known). */
export function floatInputSlot(opType: string, opset: number, slot: number, domain = ''): FloatSlot {
  return ruleAt(opType, opset, domain)?.inputs?.[slot] ?? 'T';
}

/** The kind of output `slot` of an ai.onnx op at `opset`. */
export function floatOutputSlot(opType: string, opset: number, slot: number, domain = ''): FloatSlot {
  return ruleAt(opType, opset, domain)?.outputs?.[slot] ?? 'T';
}

function ruleAt(opType: string, opset: number, domain: string): SlotRule | undefined {
  if (domain !== '' && domain !== 'ai.onnx') return undefined;
  let found: SlotRule | undefined;
  for (const r of FLOAT_SLOTS[opType] ?? []) if (r.since <= opset) found = r;
  return found;
}
