/**
 * On-the-fly data augmentation of image batches (float32 NCHW), applied in place and vectorized over the
 * batch: `hone train --augment "crop:pad=4,flip,cutout:size=8"` → parseAugment, then applyAugment per batch.
 *
 * Design:
 * - Every random number comes from one mulberry32(seed) stream, drawn in a fixed order (step by step, sample
 *   by sample) that depends only on the spec and the batch shape, never on pixel values, so a (batch, seed)
 *   pair gives bit-identical output whichever worker runs it. Math.sin/cos/log/exp are V8's fdlibm ports,
 *   the same on every platform.
 * - Plain typed-array loops, no allocation per sample or pixel. crop, flips, cutout, jitter, noise and
 *   normalize work in place; rotate/affine warp from, and mixup/cutmix walk the permutation's cycles with,
 *   one sample-sized scratch buffer per call (cycle walking avoids copying the whole batch).
 * - mixup and cutmix draw λ, the pairing permutation (and cutmix's box) once per batch, as the papers'
 *   reference code does; every other op draws per sample.
 * - parseAugment fills in defaults, so a step's params name every param of its op and formatAugment's text
 *   is the full recipe; numbers print as shortest round-trip decimals, so the text parses back exactly.
 */
import { badInput } from '../errors.js';
import { mulberry32 } from '../util/random.js';
import { shuffled } from './dataset.js';

export interface AugmentStep {
  op: string;
  params: Record<string, number>;
}

export interface AugmentSpec {
  steps: AugmentStep[];
  /** true when mixup or cutmix is in it: labels become probabilities */
  mixesLabels: boolean;
}

export interface ImageBatch {
  /** float32 NCHW, length n*c*h*w; augmented IN PLACE */
  data: Float32Array;
  n: number;
  c: number;
  h: number;
  w: number;
}

export interface LabelBatch {
  /** class indices (int64 as BigInt64Array, length n) or probabilities (Float32Array, n*classes) */
  data: BigInt64Array | Float32Array;
  classes?: number;
}

// ---- spec: ops, params, parsing ----

interface Range {
  min: number;
  max: number;
  minOpen?: boolean;
  maxOpen?: boolean;
  int?: boolean;
}

const INT0: Range = { min: 0, max: 2 ** 31 - 1, int: true };
const PROB: Range = { min: 0, max: 1 };
const POS: Range = { min: 0, max: Number.POSITIVE_INFINITY, minOpen: true };
const NONNEG: Range = { min: 0, max: Number.POSITIVE_INFINITY };
const ANY: Range = { min: Number.NEGATIVE_INFINITY, max: Number.POSITIVE_INFINITY };
const FLAG: Range = { min: 0, max: 1, int: true };

interface OpDef {
  /** Params in canonical order: [default, allowed range]. */
  params: Record<string, [number, Range]>;
  example: string;
}

const OPS: Record<string, OpDef> = {
  crop: { params: { pad: [4, INT0] }, example: 'crop:pad=4' },
  flip: { params: { p: [0.5, PROB] }, example: 'flip:p=0.5' },
  vflip: { params: { p: [0.5, PROB] }, example: 'vflip:p=0.5' },
  rotate: { params: { deg: [15, { min: 0, max: 180 }] }, example: 'rotate:deg=15' },
  affine: {
    params: {
      deg: [0, { min: 0, max: 180 }],
      translate: [0.1, PROB],
      scale: [0.1, { min: 0, max: 1, maxOpen: true }],
      shear: [0, { min: 0, max: 90, maxOpen: true }],
    },
    example: 'affine:deg=10:translate=0.1:scale=0.1:shear=5',
  },
  jitter: {
    params: { brightness: [0.2, NONNEG], contrast: [0.2, NONNEG], saturation: [0, NONNEG], clamp: [0, FLAG] },
    example: 'jitter:brightness=0.2:contrast=0.2:saturation=0.2:clamp=1',
  },
  cutout: { params: { size: [8, INT0], p: [1, PROB] }, example: 'cutout:size=8' },
  noise: { params: { std: [0.05, POS] }, example: 'noise:std=0.05' },
  normalize: { params: { mean: [0, ANY], std: [1, POS] }, example: 'normalize:mean=0.5:std=0.25 or normalize:mean0=0.49:std0=0.25:...' },
  mixup: { params: { alpha: [0.2, POS] }, example: 'mixup:alpha=0.2' },
  cutmix: { params: { alpha: [1, POS], p: [1, PROB] }, example: 'cutmix:alpha=1' },
};

const OP_NAMES = Object.keys(OPS).join(', ');
const EXAMPLE = 'e.g. --augment "crop:pad=4,flip,cutout:size=8"';
/** normalize's per-channel params: mean0, std2, ... */
const CHANNEL_PARAM = /^(mean|std)(0|[1-9]\d{0,3})$/;
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

function isMixing(op: string): boolean {
  return op === 'mixup' || op === 'cutmix';
}

function describe(r: Range): string {
  if (r.int) return r.max === 1 ? '0 or 1' : 'an integer >= 0';
  if (r.min === Number.NEGATIVE_INFINITY) return 'a finite number';
  if (r.max === Number.POSITIVE_INFINITY) return r.minOpen ? '> 0' : '>= 0';
  return `in ${r.minOpen ? '(' : '['}${r.min}, ${r.max}${r.maxOpen ? ')' : ']'}`;
}

function inRange(v: number, r: Range): boolean {
  if (!Number.isFinite(v) || (r.int && !Number.isInteger(v))) return false;
  if (r.minOpen ? v <= r.min : v < r.min) return false;
  return r.maxOpen ? v < r.max : v <= r.max;
}

/** The op's definition; own keys only, so 'toString' or '__proto__' is no op. */
function opDef(op: string): OpDef | undefined {
  return Object.hasOwn(OPS, op) ? OPS[op] : undefined;
}

function paramRange(op: string, name: string): Range | undefined {
  const params = OPS[op]!.params;
  if (Object.hasOwn(params, name)) return params[name]![1];
  const m = op === 'normalize' ? CHANNEL_PARAM.exec(name) : null;
  return m ? (m[1] === 'std' ? POS : ANY) : undefined;
}

function allowedParams(op: string): string {
  const names = Object.keys(OPS[op]!.params);
  if (op === 'normalize') names.push('mean<k>', 'std<k> (channel k)');
  return names.length ? names.join(', ') : 'none';
}

/** Checks a step (parsed or hand-built) and returns its params with defaults filled in. */
function resolveStep(step: AugmentStep, text: string): Record<string, number> {
  const def = opDef(step.op);
  if (!def) throw badInput(`augment step '${text}': unknown op '${step.op}'; ops: ${OP_NAMES}; ${EXAMPLE}`);
  const out: Record<string, number> = {};
  for (const [name, [dflt]] of Object.entries(def.params)) out[name] = dflt;
  for (const [name, v] of Object.entries(step.params)) {
    const range = paramRange(step.op, name);
    if (!range)
      throw badInput(
        `augment step '${text}': ${step.op} has no param '${name}'; its params: ${allowedParams(step.op)}; e.g. ${def.example}`,
      );
    if (!inRange(v, range))
      throw badInput(`augment step '${text}': ${step.op} ${name} must be ${describe(range)}, got ${v}; e.g. ${def.example}`);
    out[name] = v;
  }
  if (step.op === 'normalize' && !Object.keys(step.params).some((k) => k.startsWith('mean') || k.startsWith('std')))
    throw badInput(`augment step '${text}': normalize needs mean=/std= (or per channel mean0=, std0=, ...); e.g. ${def.example}`);
  return out;
}

/** Parses "crop:pad=2,flip,cutout:size=8" (steps separated by ',', params by ':' as key=value); empty → no steps. */
export function parseAugment(spec: string): AugmentSpec {
  const steps: AugmentStep[] = [];
  if (spec.trim() === '') return { steps, mixesLabels: false };
  const parts = spec.split(',');
  for (let s = 0; s < parts.length; s++) {
    const text = parts[s]!.trim();
    if (text === '')
      throw badInput(
        `augment spec '${spec}': step ${s + 1} is empty; separate steps with ',' and params with ':' as key=value, ${EXAMPLE}`,
      );
    const [opText, ...paramTexts] = text.split(':');
    const op = opText!.trim();
    if (!opDef(op)) throw badInput(`augment step '${text}': unknown op '${op}'; ops: ${OP_NAMES}; ${EXAMPLE}`);
    const params: Record<string, number> = {};
    for (const pt of paramTexts) {
      const eq = pt.indexOf('=');
      const key = (eq < 0 ? pt : pt.slice(0, eq)).trim();
      const value = eq < 0 ? '' : pt.slice(eq + 1).trim();
      if (eq < 0 || key === '' || value === '')
        throw badInput(`augment step '${text}': expected key=value after ':', got '${pt.trim()}'; e.g. ${OPS[op]!.example}`);
      if (!paramRange(op, key))
        throw badInput(`augment step '${text}': ${op} has no param '${key}'; its params: ${allowedParams(op)}; e.g. ${OPS[op]!.example}`);
      if (Object.hasOwn(params, key)) throw badInput(`augment step '${text}': param '${key}' is given twice; e.g. ${OPS[op]!.example}`);
      if (!NUMBER.test(value))
        throw badInput(`augment step '${text}': ${op} ${key} must be a number, got '${value}'; e.g. ${OPS[op]!.example}`);
      params[key] = Number(value);
    }
    steps.push({ op, params: resolveStep({ op, params }, text) });
  }
  return { steps, mixesLabels: steps.some((st) => isMixing(st.op)) };
}

/** Order of params in canonical text: the op's own params, then per-channel ones (means, then stds, by channel). */
function paramOrder(op: string, names: string[]): string[] {
  const known = Object.keys(opDef(op)?.params ?? {});
  const rank = (k: string): [number, number] => {
    const i = known.indexOf(k);
    if (i >= 0) return [i, 0];
    const m = CHANNEL_PARAM.exec(k);
    return m ? [known.length + (m[1] === 'std' ? 1 : 0), Number(m[2])] : [known.length + 2, 0];
  };
  return [...names].sort((a, b) => {
    const [ra, rb] = [rank(a), rank(b)];
    return ra[0] - rb[0] || ra[1] - rb[1] || (a < b ? -1 : a > b ? 1 : 0);
  });
}

/** Canonical text of a spec (for reports/checkpoints): round-trips through parseAugment. */
export function formatAugment(spec: AugmentSpec): string {
  return spec.steps
    .map((st) => [st.op, ...paramOrder(st.op, Object.keys(st.params)).map((k) => `${k}=${String(st.params[k])}`)].join(':'))
    .join(',');
}

// ---- random draws ----

type Rng = () => number;

/** Standard normal, Box–Muller (one of the pair; 1-u keeps log's argument in (0, 1]). */
function normal(rng: Rng): number {
  const r = Math.sqrt(-2 * Math.log(1 - rng()));
  return r * Math.cos(2 * Math.PI * rng());
}

/** Gamma(alpha, 1), Marsaglia & Tsang 2000; alpha < 1 via Gamma(alpha+1)·U^(1/alpha). */
function gamma(alpha: number, rng: Rng): number {
  if (alpha < 1) return gamma(alpha + 1, rng) * rng() ** (1 / alpha);
  const d = alpha - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    const x = normal(rng);
    let v = 1 + c * x;
    if (v <= 0) continue;
    v = v * v * v;
    const u = rng();
    if (u < 1 - 0.0331 * x * x * x * x) return d * v;
    if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}

/** Beta(alpha, alpha) as X/(X+Y) of two Gamma draws; both underflowing (tiny alpha) → a fair pick of 0 or 1, Beta's limit. */
function betaSym(alpha: number, rng: Rng): number {
  const x = gamma(alpha, rng);
  const y = gamma(alpha, rng);
  const s = x + y;
  return s > 0 ? x / s : rng() < 0.5 ? 0 : 1;
}

// ---- ops (each on the whole batch, in place) ----

/** Row width from which native copies and reversals beat a JS loop (measured: 224-wide rows 3x faster native, 28-wide 3x slower). */
const NATIVE_ROW = 96;

/** out[y][x] = in[y+oy][x+ox] on one plane, zeros outside; rows and columns run in the direction that reads before it writes. */
function shiftPlane(d: Float32Array, base: number, h: number, w: number, oy: number, ox: number): void {
  const x0 = Math.max(0, -ox);
  const x1 = Math.min(w, w - ox);
  for (let k = 0; k < h; k++) {
    const y = oy >= 0 ? k : h - 1 - k;
    const dst = base + y * w;
    const sy = y + oy;
    if (sy < 0 || sy >= h || x0 >= x1) {
      d.fill(0, dst, dst + w);
      continue;
    }
    // Wide rows: copyWithin, a native memmove (right for overlapping ranges either way, several times a JS
    // loop); narrow rows (MNIST's 28): the loop, cheaper than the call.
    const src = base + sy * w + ox;
    if (w >= NATIVE_ROW) {
      d.copyWithin(dst + x0, src + x0, src + x1);
      if (x0 > 0) d.fill(0, dst, dst + x0);
      if (x1 < w) d.fill(0, dst + x1, dst + w);
    } else {
      if (ox >= 0) for (let x = x0; x < x1; x++) d[dst + x] = d[src + x]!;
      else for (let x = x1 - 1; x >= x0; x--) d[dst + x] = d[src + x]!;
      for (let x = 0; x < x0; x++) d[dst + x] = 0;
      for (let x = x1; x < w; x++) d[dst + x] = 0;
    }
  }
}

/** torchvision RandomCrop(size, padding=pad): top-left offset uniform in [0, 2·pad] of the zero-padded image (row first). */
function crop(b: ImageBatch, pad: number, rng: Rng): void {
  const { data, n, c, h, w } = b;
  const hw = h * w;
  for (let i = 0; i < n; i++) {
    const oy = Math.floor(rng() * (2 * pad + 1)) - pad;
    const ox = Math.floor(rng() * (2 * pad + 1)) - pad;
    if (oy === 0 && ox === 0) continue;
    for (let ch = 0; ch < c; ch++) shiftPlane(data, (i * c + ch) * hw, h, w, oy, ox);
  }
}

function flip(b: ImageBatch, p: number, rng: Rng): void {
  const { data, n, c, h, w } = b;
  for (let i = 0; i < n; i++) {
    if (!(rng() < p)) continue;
    // Wide rows reversed natively (TypedArray.prototype.reverse, several times a JS swap loop); narrow ones
    // by the loop, cheaper than making a subarray per row.
    for (let r = i * c * h, end = (i + 1) * c * h; r < end; r++) {
      if (w >= NATIVE_ROW) data.subarray(r * w, r * w + w).reverse();
      else
        for (let a = r * w, z = a + w - 1; a < z; a++, z--) {
          const t = data[a]!;
          data[a] = data[z]!;
          data[z] = t;
        }
    }
  }
}

function vflip(b: ImageBatch, p: number, rng: Rng): void {
  const { data, n, c, h, w } = b;
  for (let i = 0; i < n; i++) {
    if (!(rng() < p)) continue;
    for (let ch = 0; ch < c; ch++) {
      const base = (i * c + ch) * h * w;
      for (let top = 0, bot = h - 1; top < bot; top++, bot--) {
        for (let x = 0, a = base + top * w, z = base + bot * w; x < w; x++) {
          const t = data[a + x]!;
          data[a + x] = data[z + x]!;
          data[z + x] = t;
        }
      }
    }
  }
}

/**
 * Warps one sample (at `base`) by p_out = C + t + A·(p_in − C) with A = [[a, b], [c, d]] and C the centre
 * ((w−1)/2, (h−1)/2): each output pixel samples the input bilinearly at C + A⁻¹·(p_out − C − t), zeros outside.
 */
function warp(
  data: Float32Array,
  base: number,
  ch: number,
  h: number,
  w: number,
  scratch: Float32Array,
  a: number,
  b: number,
  c: number,
  d: number,
  tx: number,
  ty: number,
): void {
  const hw = h * w;
  scratch.set(data.subarray(base, base + ch * hw));
  const det = a * d - b * c;
  const ia = d / det;
  const ib = -b / det;
  const ic = -c / det;
  const id = a / det;
  const cx = (w - 1) / 2;
  const cy = (h - 1) / 2;
  for (let y = 0; y < h; y++) {
    const dy = y - cy - ty;
    for (let x = 0; x < w; x++) {
      const dx = x - cx - tx;
      const sx = cx + ia * dx + ib * dy;
      const sy = cy + ic * dx + id * dy;
      const out = base + y * w + x;
      const fx = Math.floor(sx);
      const fy = Math.floor(sy);
      if (!(fx >= -1 && fx < w && fy >= -1 && fy < h)) {
        for (let k = 0; k < ch; k++) data[out + k * hw] = 0;
        continue;
      }
      const ax = sx - fx;
      const ay = sy - fy;
      // Weights of the 4 neighbours; one outside the image gets weight 0 and a clamped (valid) index.
      const wx0 = fx >= 0 ? 1 - ax : 0;
      const wx1 = fx + 1 < w ? ax : 0;
      const wy0 = fy >= 0 ? 1 - ay : 0;
      const wy1 = fy + 1 < h ? ay : 0;
      const x0 = Math.max(fx, 0);
      const x1 = fx + 1 < w ? fx + 1 : w - 1;
      const r0 = Math.max(fy, 0) * w;
      const r1 = (fy + 1 < h ? fy + 1 : h - 1) * w;
      const w00 = wx0 * wy0;
      const w01 = wx1 * wy0;
      const w10 = wx0 * wy1;
      const w11 = wx1 * wy1;
      for (let k = 0, o = 0; k < ch; k++, o += hw) {
        data[out + o] =
          w00 * scratch[o + r0 + x0]! + w01 * scratch[o + r0 + x1]! + w10 * scratch[o + r1 + x0]! + w11 * scratch[o + r1 + x1]!;
      }
    }
  }
}

/** Random affine per sample (torchvision RandomAffine without rounding the shift): angle, shift, scale, x-shear. */
function affine(b: ImageBatch, deg: number, translate: number, scale: number, shear: number, rng: Rng, scratch: Float32Array): void {
  const { data, n, c, h, w } = b;
  const per = c * h * w;
  for (let i = 0; i < n; i++) {
    const angle = (2 * rng() - 1) * deg;
    const tx = (2 * rng() - 1) * translate * w;
    const ty = (2 * rng() - 1) * translate * h;
    const s = 1 + (2 * rng() - 1) * scale;
    const sh = (2 * rng() - 1) * shear;
    warpSample(data, i * per, c, h, w, scratch, angle, tx, ty, s, sh);
  }
}

function rotate(b: ImageBatch, deg: number, rng: Rng, scratch: Float32Array): void {
  const { data, n, c, h, w } = b;
  const per = c * h * w;
  for (let i = 0; i < n; i++) warpSample(data, i * per, c, h, w, scratch, (2 * rng() - 1) * deg, 0, 0, 1, 0);
}

/** A = scale·R(angle)·Shear(shear); positive angles turn the image counter-clockwise as displayed (y down). */
function warpSample(
  data: Float32Array,
  base: number,
  c: number,
  h: number,
  w: number,
  scratch: Float32Array,
  deg: number,
  tx: number,
  ty: number,
  scale: number,
  shear: number,
): void {
  if (deg === 0 && tx === 0 && ty === 0 && scale === 1 && shear === 0) return;
  const th = (deg * Math.PI) / 180;
  const cos = Math.cos(th);
  const sin = Math.sin(th);
  const t = Math.tan((shear * Math.PI) / 180);
  warp(data, base, c, h, w, scratch, scale * cos, scale * (cos * t + sin), -scale * sin, scale * (cos - sin * t), tx, ty);
}

/**
 * Warps sample `index` of `batch` in place by a fixed affine map about the image centre: `deg` (counter-clockwise
 * as displayed), shift `tx`, `ty` in pixels, `scale`, x-shear `shear` in degrees; bilinear, zeros outside.
 * The deterministic core of rotate/affine, exported for tests.
 */
export function warpAffine(
  batch: ImageBatch,
  index: number,
  t: { deg?: number; tx?: number; ty?: number; scale?: number; shear?: number },
  scratch: Float32Array = new Float32Array(batch.c * batch.h * batch.w),
): void {
  const { c, h, w } = batch;
  warpSample(batch.data, index * c * h * w, c, h, w, scratch, t.deg ?? 0, t.tx ?? 0, t.ty ?? 0, t.scale ?? 1, t.shear ?? 0);
}

/** Factor uniform in [max(0, 1−r), 1+r], as ColorJitter draws it. */
function jitterFactor(r: number, rng: Rng): number {
  const lo = Math.max(0, 1 - r);
  return lo + rng() * (1 + r - lo);
}

/**
 * ColorJitter in a fixed order (brightness, contrast, saturation; torchvision shuffles it, we don't). Contrast
 * blends with the sample's mean grey (ITU-R 601 luma for c = 3, plain mean otherwise); saturation blends with
 * the per-pixel grey and applies only when c = 3. Clamps to [0, 1] after each part only when `clamp`.
 */
function jitter(b: ImageBatch, br: number, co: number, sa: number, clamp: boolean, rng: Rng): void {
  const { data, n, c, h, w } = b;
  const hw = h * w;
  const per = c * hw;
  for (let i = 0; i < n; i++) {
    const bf = jitterFactor(br, rng);
    const cf = jitterFactor(co, rng);
    const sf = jitterFactor(sa, rng);
    const s0 = i * per;
    const s1 = s0 + per;
    if (bf !== 1) {
      for (let j = s0; j < s1; j++) {
        const v = data[j]! * bf;
        data[j] = clamp ? Math.min(1, Math.max(0, v)) : v;
      }
    }
    if (cf !== 1 && per > 0) {
      let sum = 0;
      if (c === 3) for (let j = s0; j < s0 + hw; j++) sum += 0.2989 * data[j]! + 0.587 * data[j + hw]! + 0.114 * data[j + 2 * hw]!;
      else for (let j = s0; j < s1; j++) sum += data[j]!;
      const off = (1 - cf) * (sum / (c === 3 ? hw : per));
      for (let j = s0; j < s1; j++) {
        const v = cf * data[j]! + off;
        data[j] = clamp ? Math.min(1, Math.max(0, v)) : v;
      }
    }
    if (sf !== 1 && c === 3) {
      for (let j = s0; j < s0 + hw; j++) {
        const g = (1 - sf) * (0.2989 * data[j]! + 0.587 * data[j + hw]! + 0.114 * data[j + 2 * hw]!);
        for (let k = j; k < s1; k += hw) {
          const v = sf * data[k]! + g;
          data[k] = clamp ? Math.min(1, Math.max(0, v)) : v;
        }
      }
    }
  }
}

/** Zero a size×size square (rows/cols [centre − ⌊size/2⌋, +size)) at a uniform centre, clipped to the image; DeVries & Taylor 2017. */
function cutout(b: ImageBatch, size: number, p: number, rng: Rng): void {
  const { data, n, c, h, w } = b;
  const hw = h * w;
  const half = Math.floor(size / 2);
  for (let i = 0; i < n; i++) {
    const u = rng();
    const cy = Math.floor(rng() * h) - half;
    const cx = Math.floor(rng() * w) - half;
    if (!(u < p)) continue;
    const y0 = Math.max(0, cy);
    const y1 = Math.min(h, cy + size);
    const x0 = Math.max(0, cx);
    const x1 = Math.min(w, cx + size);
    if (x0 >= x1) continue;
    for (let ch = 0; ch < c; ch++) {
      const base = (i * c + ch) * hw;
      for (let y = y0; y < y1; y++) data.fill(0, base + y * w + x0, base + y * w + x1);
    }
  }
}

/** Additive N(0, std²), two values per Box–Muller pair (1−u keeps log's argument in (0, 1]). */
function noise(b: ImageBatch, std: number, rng: Rng): void {
  const { data } = b;
  const len = data.length;
  for (let k = 0; k < len; k += 2) {
    const r = std * Math.sqrt(-2 * Math.log(1 - rng()));
    const t = 2 * Math.PI * rng();
    data[k] = data[k]! + r * Math.cos(t);
    if (k + 1 < len) data[k + 1] = data[k + 1]! + r * Math.sin(t);
  }
}

function normalize(b: ImageBatch, params: Record<string, number>, text: string): void {
  const { data, n, c, h, w } = b;
  for (const k of Object.keys(params)) {
    const m = CHANNEL_PARAM.exec(k);
    if (m && Number(m[2]) >= c) throw badInput(`augment step '${text}': ${k} names channel ${m[2]}, but the images have ${c} channel(s)`);
  }
  const hw = h * w;
  for (let ch = 0; ch < c; ch++) {
    const mean = params[`mean${ch}`] ?? params.mean!;
    const std = params[`std${ch}`] ?? params.std!;
    for (let i = 0; i < n; i++) {
      for (let j = (i * c + ch) * hw, end = j + hw; j < end; j++) data[j] = (data[j]! - mean) / std;
    }
  }
}

/** x_i ← λ·x_i + (1−λ)·x_perm(i), walking perm's cycles so only each cycle's first sample needs saving. */
function mixImages(b: ImageBatch, perm: Uint32Array, lam: number, scratch: Float32Array, visited: Uint8Array): void {
  const { data, n } = b;
  const per = b.c * b.h * b.w;
  const mu = 1 - lam;
  for (let s = 0; s < n; s++) {
    if (visited[s] || perm[s] === s) continue;
    scratch.set(data.subarray(s * per, (s + 1) * per));
    let i = s;
    for (;;) {
      visited[i] = 1;
      const j = perm[i]!;
      const dst = i * per;
      if (j === s) {
        for (let k = 0; k < per; k++) data[dst + k] = lam * data[dst + k]! + mu * scratch[k]!;
        break;
      }
      const src = j * per;
      for (let k = 0; k < per; k++) data[dst + k] = lam * data[dst + k]! + mu * data[src + k]!;
      i = j;
    }
  }
}

/** Box [y0, y1) × [x0, x1) of every sample i ← the same box of sample perm(i) (cycle walking, as mixImages). */
function pasteBoxes(
  b: ImageBatch,
  perm: Uint32Array,
  y0: number,
  y1: number,
  x0: number,
  x1: number,
  scratch: Float32Array,
  visited: Uint8Array,
): void {
  const { data, n, c, h, w } = b;
  const hw = h * w;
  const per = c * hw;
  for (let s = 0; s < n; s++) {
    if (visited[s] || perm[s] === s) continue;
    scratch.set(data.subarray(s * per, (s + 1) * per));
    let i = s;
    for (;;) {
      visited[i] = 1;
      const j = perm[i]!;
      const from = j === s ? scratch : data;
      const src = j === s ? 0 : j * per;
      const dst = i * per;
      for (let o = 0; o < per; o += hw) {
        for (let y = y0; y < y1; y++) {
          const r = o + y * w;
          for (let x = x0; x < x1; x++) data[dst + r + x] = from[src + r + x]!;
        }
      }
      if (j === s) break;
      i = j;
    }
  }
}

/** Label rows y_i ← λ·y_i + (1−λ)·y_perm(i), into a new array. */
function mixLabels(y: Float32Array, classes: number, perm: Uint32Array, lam: number): Float32Array {
  const out = new Float32Array(y.length);
  for (let i = 0; i < perm.length; i++) {
    const a = i * classes;
    const b = perm[i]! * classes;
    for (let k = 0; k < classes; k++) out[a + k] = lam * y[a + k]! + (1 - lam) * y[b + k]!;
  }
  return out;
}

/** Labels as an [n, classes] probability array (one-hot from indices; a copy of probabilities), checked. */
function toProbabilities(labels: LabelBatch, n: number): { probs: Float32Array; classes: number } {
  const { data } = labels;
  if (data instanceof BigInt64Array) {
    const classes = labels.classes;
    if (classes === undefined || !Number.isInteger(classes) || classes < 1)
      throw badInput(
        `augment: mixup/cutmix turn class-index labels into probabilities and need the class count; pass labels.classes (got ${classes})`,
      );
    if (data.length !== n) throw badInput(`augment: ${data.length} class-index labels for a batch of ${n} images`);
    const probs = new Float32Array(n * classes);
    for (let i = 0; i < n; i++) {
      const k = data[i]!;
      if (k < 0n || k >= BigInt(classes)) throw badInput(`augment: label ${k} of sample ${i} is outside [0, ${classes}) classes`);
      probs[i * classes + Number(k)] = 1;
    }
    return { probs, classes };
  }
  const classes = labels.classes ?? (n > 0 ? data.length / n : 0);
  if (!Number.isInteger(classes) || data.length !== n * classes)
    throw badInput(`augment: ${data.length} label probabilities do not make ${n} rows of ${labels.classes ?? '?'} classes`);
  return { probs: Float32Array.from(data), classes };
}

/**
 * Applies the steps in order to the batch, in place, drawing every random number from mulberry32(seed).
 * Returns the labels to train on: the input labels unchanged unless the spec mixes labels (mixup/cutmix), in
 * which case a new Float32Array [n, classes] of probabilities (class indices are one-hot encoded first, and
 * then need `classes`). The same (batch, seed) gives bit-identical output on every run and machine.
 */
export function applyAugment(spec: AugmentSpec, batch: ImageBatch, labels: LabelBatch, seed: number): LabelBatch {
  const { data, n, c, h, w } = batch;
  for (const [k, v] of [
    ['n', n],
    ['c', c],
    ['h', h],
    ['w', w],
  ] as const) {
    if (!Number.isInteger(v) || v < 0) throw badInput(`augment: batch ${k} must be an integer >= 0, got ${v}`);
  }
  if (data.length !== n * c * h * w)
    throw badInput(`augment: batch data has ${data.length} values, but n·c·h·w = ${n}·${c}·${h}·${w} = ${n * c * h * w}`);
  // Everything that can throw is checked before the first pixel changes.
  const steps = spec.steps.map((st) => ({ op: st.op, p: resolveStep(st, formatAugment({ steps: [st], mixesLabels: false })) }));
  const mixes = spec.mixesLabels || steps.some((st) => isMixing(st.op));
  let probs: Float32Array | undefined;
  let classes = 0;
  if (mixes) ({ probs, classes } = toProbabilities(labels, n));

  const rng = mulberry32(seed);
  const per = c * h * w;
  let scratch: Float32Array | undefined;
  const buf = () => (scratch ??= new Float32Array(per));
  for (const { op, p } of steps) {
    switch (op) {
      case 'crop':
        if (p.pad! > 0) crop(batch, p.pad!, rng);
        break;
      case 'flip':
        flip(batch, p.p!, rng);
        break;
      case 'vflip':
        vflip(batch, p.p!, rng);
        break;
      case 'rotate':
        rotate(batch, p.deg!, rng, buf());
        break;
      case 'affine':
        affine(batch, p.deg!, p.translate!, p.scale!, p.shear!, rng, buf());
        break;
      case 'jitter':
        jitter(batch, p.brightness!, p.contrast!, p.saturation!, p.clamp === 1, rng);
        break;
      case 'cutout':
        cutout(batch, p.size!, p.p!, rng);
        break;
      case 'noise':
        noise(batch, p.std!, rng);
        break;
      case 'normalize':
        normalize(batch, p, formatAugment({ steps: [{ op, params: p }], mixesLabels: false }));
        break;
      case 'mixup': {
        const lam = betaSym(p.alpha!, rng);
        const perm = shuffled(n, rng);
        mixImages(batch, perm, lam, buf(), new Uint8Array(n));
        probs = mixLabels(probs!, classes, perm, lam);
        break;
      }
      case 'cutmix': {
        // One λ, permutation and box per batch (Yun et al.'s reference code); λ then becomes 1 − the box's actual area fraction.
        const u = rng();
        if (!(u < p.p!) || per === 0) break;
        const lam = betaSym(p.alpha!, rng);
        const perm = shuffled(n, rng);
        const cut = Math.sqrt(1 - lam);
        const bw = Math.floor(w * cut);
        const bh = Math.floor(h * cut);
        const cx = Math.floor(rng() * w) - Math.floor(bw / 2);
        const cy = Math.floor(rng() * h) - Math.floor(bh / 2);
        const x0 = Math.max(0, cx);
        const x1 = Math.min(w, cx + bw);
        const y0 = Math.max(0, cy);
        const y1 = Math.min(h, cy + bh);
        if (x0 >= x1 || y0 >= y1) break;
        pasteBoxes(batch, perm, y0, y1, x0, x1, buf(), new Uint8Array(n));
        probs = mixLabels(probs!, classes, perm, 1 - ((x1 - x0) * (y1 - y0)) / (h * w));
        break;
      }
    }
  }
  return mixes ? { data: probs!, classes } : labels;
}
