/**
 * Cross-layer equalization (Nagel et al., "Data-Free Quantization Through Weight Equalization and Bias
 * Correction", ICCV 2019). For Conv → f → Conv where f is positively homogeneous (f(x/s) = f(x)/s for
 * s > 0), output channel i of the first conv can be divided by s_i and the second conv's input channel i
 * multiplied by s_i without changing the float function. Choosing s_i = sqrt(r1_i · r2_i) / r2_i (r: the
 * channel's weight range) gives both channels the same range sqrt(r1_i · r2_i), so per-tensor and
 * per-channel weight grids, and the activation grid between them, waste less of their levels on a few
 * wide channels. Chains (dw → pw → dw …) share convs between pairs, so the pairs are swept until the
 * scales settle.
 *
 * f may be nothing, Relu, LeakyRelu, PRelu (any slope: PRelu(x/s) = PRelu(x)/s) or a Clip that is a
 * ReLU (min 0 or none, no max). Clip with a finite max (ReLU6) is skipped: rescaling a channel moves its
 * clip threshold to max/s_i, which one Clip cannot express; the paper's practice of replacing ReLU6 by
 * ReLU first changes the float model, and Hone keeps the float model's function.
 */
import { attrReader } from '../ir/attrs.js';
import type { ModelProto, NodeProto } from '../ir/proto.js';
import { Graph } from '../ir/graph.js';
import { floatTensor } from '../ir/tensor.js';
import { floatInitializer } from './common.js';

export interface EqualizeResult {
  /** Conv pairs equalized. */
  pairs: number;
  /** Sweeps over the pairs until the scales settled (or the cap). */
  sweeps: number;
}

export interface EqualizeOptions {
  /** Sweeps at most (default 20). */
  maxSweeps?: number;
  /** Stop when every scale of a sweep is within this of 1 (default 1e-3). */
  tolerance?: number;
}

/** Equalizes every eligible Conv → f → Conv pair of `m` in place. */
export function equalizeLayers(m: ModelProto, opts: EqualizeOptions = {}): EqualizeResult {
  const g = new Graph(m.graph!);
  const pairs = findPairs(g, new Set(m.graph!.output.map((o) => o.name ?? '')));
  if (pairs.length === 0) return { pairs: 0, sweeps: 0 };
  // Work on copies; write each changed conv's tensors once at the end.
  const params = new Map<NodeProto, { w: Float32Array; dims: readonly number[]; b?: Float32Array }>();
  for (const p of pairs) {
    for (const c of [p.first, p.second]) {
      if (params.has(c)) continue;
      const w = floatInitializer(g, c.input[1]!)!;
      const b = c.input[2] ? floatInitializer(g, c.input[2])!.data.slice() : undefined;
      params.set(c, { w: w.data.slice(), dims: w.t.dims, b });
    }
  }
  const maxSweeps = opts.maxSweeps ?? 20;
  const tol = opts.tolerance ?? 1e-3;
  let sweeps = 0;
  while (sweeps < maxSweeps) {
    sweeps++;
    let worst = 0;
    for (const p of pairs) {
      const a = params.get(p.first)!;
      const z = params.get(p.second)!;
      const r1 = outputRanges(a.w, a.dims);
      const r2 = inputRanges(z.w, z.dims, p.groups);
      const s = Array.from(r1, (r, i) => (r > 0 && r2[i]! > 0 ? Math.sqrt(r * r2[i]!) / r2[i]! : 1));
      scaleOutputs(a.w, a.dims, a.b, s);
      scaleInputs(z.w, z.dims, p.groups, s);
      for (const v of s) worst = Math.max(worst, Math.abs(Math.log(v)));
    }
    if (worst < tol) break;
  }
  for (const [c, p] of params) {
    g.setInput(c, 1, g.addInitializer(floatTensor(g.freshName(`${c.input[1]}_equalized`), p.dims, p.w)));
    if (p.b) g.setInput(c, 2, g.addInitializer(floatTensor(g.freshName(`${c.input[2]}_equalized`), [p.b.length], p.b)));
  }
  g.removeDeadCode();
  return { pairs: pairs.length, sweeps };
}

/** Per output channel of a conv weight [C_out, C_in/g, k…]: max |w|. */
export function outputRanges(w: Float32Array, dims: readonly number[]): Float64Array {
  const cout = dims[0]!;
  const per = w.length / cout;
  const r = new Float64Array(cout);
  for (let i = 0; i < w.length; i++) {
    const c = Math.floor(i / per);
    const a = Math.abs(w[i]!);
    if (a > r[c]!) r[c] = a;
  }
  return r;
}

/** Per input channel of a conv weight with `groups` groups: max |w| over the filters that read it. */
export function inputRanges(w: Float32Array, dims: readonly number[], groups: number): Float64Array {
  const { cout, cinPer, k } = shape(dims);
  const r = new Float64Array(cinPer * groups);
  const outPer = cout / groups;
  for (let o = 0; o < cout; o++) {
    const base = Math.floor(o / outPer) * cinPer;
    for (let j = 0; j < cinPer; j++) {
      for (let t = 0; t < k; t++) {
        const a = Math.abs(w[(o * cinPer + j) * k + t]!);
        if (a > r[base + j]!) r[base + j] = a;
      }
    }
  }
  return r;
}

interface Pair {
  first: NodeProto;
  second: NodeProto;
  /** The second conv's group count. */
  groups: number;
}

function shape(dims: readonly number[]): { cout: number; cinPer: number; k: number } {
  return { cout: dims[0]!, cinPer: dims[1]!, k: dims.slice(2).reduce((a, b) => a * b, 1) };
}

function scaleOutputs(w: Float32Array, dims: readonly number[], b: Float32Array | undefined, s: readonly number[]): void {
  const per = w.length / dims[0]!;
  for (let i = 0; i < w.length; i++) w[i] = w[i]! / s[Math.floor(i / per)]!;
  if (b) for (let c = 0; c < b.length; c++) b[c] = b[c]! / s[c]!;
}

function scaleInputs(w: Float32Array, dims: readonly number[], groups: number, s: readonly number[]): void {
  const { cout, cinPer, k } = shape(dims);
  const outPer = cout / groups;
  for (let o = 0; o < cout; o++) {
    const base = Math.floor(o / outPer) * cinPer;
    for (let j = 0; j < cinPer; j++) for (let t = 0; t < k; t++) w[(o * cinPer + j) * k + t]! *= s[base + j]!;
  }
}

/** Conv → (homogeneous f) → Conv links where every tensor between has one reader and is not a graph output. */
function findPairs(g: Graph, outputs: Set<string>): Pair[] {
  const pairs: Pair[] = [];
  const soleReader = (v: string) => {
    const users = g.consumers(v);
    return users.length === 1 && !outputs.has(v) ? users[0] : undefined;
  };
  for (const first of g.nodes) {
    if (!isPlainConv(g, first)) continue;
    let next = soleReader(first.output[0]!);
    if (next && isHomogeneous(g, next)) next = soleReader(next.output[0]!);
    if (!next || !isPlainConv(g, next)) continue;
    const link = g.producer(next.input[0]!);
    if (link !== first && g.producer(link?.input[0] ?? '') !== first) continue;
    const cout = floatInitializer(g, first.input[1]!)!.t.dims[0]!;
    const wd = floatInitializer(g, next.input[1]!)!.t.dims;
    const groups = attrReader(next).int('group', 1);
    if (wd[1]! * groups !== cout || wd[0]! % groups !== 0) continue;
    pairs.push({ first, second: next, groups });
  }
  return pairs;
}

/** A Conv of the default domain with a float initializer weight (and bias, if any). */
function isPlainConv(g: Graph, n: NodeProto): boolean {
  if (n.opType !== 'Conv' || (n.domain ?? '') !== '') return false;
  const w = floatInitializer(g, n.input[1] ?? '');
  if (!w || w.t.dims.length < 3) return false;
  return !n.input[2] || !!floatInitializer(g, n.input[2]);
}

/** True when f(x / s) = f(x) / s for every s > 0. */
function isHomogeneous(g: Graph, n: NodeProto): boolean {
  if ((n.domain ?? '') !== '' || n.output.length !== 1) return false;
  switch (n.opType) {
    case 'Relu':
    case 'LeakyRelu':
      return true;
    case 'PRelu':
      return !!floatInitializer(g, n.input[1] ?? '');
    case 'Clip': {
      // Opset ≥ 11: bounds as inputs; before: attributes (min defaults to the lowest float).
      const bound = (slot: number, attr: string): number | undefined => {
        const name = n.input[slot];
        if (name) return floatInitializer(g, name)?.data[0] ?? NaN;
        const a = n.attribute.find((x) => x.name === attr);
        return a ? attrReader(n).float(attr, NaN) : undefined;
      };
      const lo = bound(1, 'min');
      const hi = bound(2, 'max');
      return (lo === undefined || lo === 0 || lo === -Infinity) && (hi === undefined || hi === Infinity);
    }
    default:
      return false;
  }
}
