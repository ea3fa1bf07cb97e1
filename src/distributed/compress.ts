/**
 * Gradient compression for data-parallel training: each worker encodes its gradients (one Float32Array per
 * parameter) into one message per round, every worker receives every worker's message (`Collective.allgather`)
 * and decodes them all, summing in rank order in float64 and dividing by the number of workers, so every worker
 * ends up with the same averaged gradient, bit for bit.
 *
 * Methods (`--grad-compression`):
 * - `none`: raw float32.
 * - `fp16`: IEEE binary16, round to nearest even (src/ir/half.ts's converter: subnormals, ±inf and NaN handled).
 * - `powersgd[:rank=R,warmup=W]` (Vogels et al. 2019): a parameter of ndim ≥ 2 is the matrix M [n, m] =
 *   [dim0, product of the other dims]. M = g + e (error feedback); P = M·Q; all-reduce-mean P; orthonormalise
 *   P's columns (Gram-Schmidt, twice); Q_local = Mᵀ·P; all-reduce-mean Q; the gradient becomes P·Qᵀ (the same on
 *   every worker) and e = M − P·Q_localᵀ (the local residual, as in the paper). Q starts from a seeded
 *   approximately normal matrix (depends on seed and layer only) and is reused as the warm start of the next step.
 *   A Q column that collapsed to zero (rank-deficient gradient) is re-drawn from the seeded RNG at the next step.
 *   The first W steps are sent uncompressed.
 * - `topk[:ratio=F]` (Deep Gradient Compression, Lin et al. 2018): acc += g; the k = max(1, ceil(F·d)) entries
 *   of largest |acc| are sent as (u32 index, f32 value) and zeroed in acc; the rest keeps accumulating. Exactly k
 *   entries: the k-th largest |acc| is found by quickselect on a copy (O(d) expected), ties go to the lower index.
 * - `qsgd[:levels=S]` (Alistarh et al. 2017): per layer, norm = ‖g‖₂ (stored as f32); each element becomes a
 *   sign and a level ℓ ∈ 0..S by unbiased stochastic rounding of |g_i|/norm·S (seeded RNG: seed, rank, step);
 *   decoded as sign·ℓ·norm/S. No error feedback.
 * - `signsgd` (EF-SignSGD, Karimireddy et al. 2019): p = g + e; δ = (‖p‖₁/d)·sign(p); e = p − δ; sent as the f32
 *   scale ‖p‖₁/d and one bit per element (1 = negative; p = 0 counts as positive).
 *
 * Per-layer skip: for topk, qsgd, signsgd and powersgd, a layer whose compressed form would take more than half
 * its raw float32 size (4·d bytes) is sent as raw float32 instead, with no error feedback (it is exact), as are
 * parameters of ndim < 2 under powersgd and every layer during PowerSGD's warm-up. fp16 never skips.
 *
 * Wire format. Every message starts with a 12-byte header:
 *   byte 0 magic 0x48 ('H'), byte 1 format version (1), byte 2 method (0 none, 1 fp16, 2 powersgd, 3 topk,
 *   4 qsgd, 5 signsgd), byte 3 round (0 the step's only round, 1 PowerSGD's P round, 2 its Q round),
 *   bytes 4–7 step (u32 LE), bytes 8–11 a 32-bit FNV-1a hash of the canonical spec and all parameter shapes.
 * A receiver checks every message's header and exact length (which follows from spec and shapes) and throws an
 * Error naming the worker on any mismatch. All numbers are little-endian; after the header, layers follow in
 * parameter order:
 * - none, and PowerSGD warm-up steps: every layer's d f32 values.
 * - fp16: every layer's d u16 halves.
 * - topk: per layer, compressed: k u32 indices (ascending) then their k f32 values; raw: d f32.
 * - qsgd, signsgd: an f32 region, per layer in order (compressed: its one f32 norm or scale; raw: its d f32),
 *   then a bit region, per compressed layer in order, ceil(b·d/8) bytes of b-bit codes packed LSB first
 *   (qsgd: b = 1 + ceil(log2(S+1)), code = level | sign << (b−1); signsgd: b = 1, the sign). Keeping the f32
 *   values together keeps them 4-byte aligned, so they are read through typed-array views without copying.
 * - powersgd after warm-up, round P: per layer, compressed: P_local [n, r] f32 row-major; raw: d f32.
 *   Round Q (skipped when no layer is compressed): per compressed layer, Q_local [m, r] f32 row-major.
 *
 * Analytic bytes sent per worker per step (H = 12, d = a layer's element count, "raw" = skipped layers). These
 * are exact: `ExchangeReport.bytesSent` equals them (PowerSGD: after warm-up).
 *   none      H + 4·Σd
 *   fp16      H + 2·Σd
 *   topk      H + Σ_compressed 8·k + Σ_raw 4·d,                   k = max(1, ceil(ratio·d)), compressed iff 8k ≤ 2d
 *   qsgd      H + Σ_compressed (4 + ceil(b·d/8)) + Σ_raw 4·d,     b = 1 + ceil(log2(S+1)), compressed iff that ≤ 2d
 *   signsgd   H + Σ_compressed (4 + ceil(d/8)) + Σ_raw 4·d,       compressed iff 4 + ceil(d/8) ≤ 2d
 *   powersgd  2H + Σ_compressed 4·r·(n+m) + Σ_raw 4·d,            compressed iff ndim ≥ 2 and 4r(n+m) ≤ 2nm
 *             (H + 4·Σd during the warm-up steps, and when no layer is compressed)
 */
import { badInput, type HoneError } from '../errors.js';
import { halfBits, halfValue } from '../ir/half.js';

export type CompressionSpec =
  | { kind: 'none' }
  | { kind: 'fp16' }
  | { kind: 'powersgd'; rank: number; warmup: number } // defaults rank 2, warmup 10 (steps sent uncompressed)
  | { kind: 'topk'; ratio: number } // default 0.01
  | { kind: 'qsgd'; levels: number } // default 16
  | { kind: 'signsgd' };

export const COMPRESSION_DEFAULTS = { rank: 2, warmup: 10, ratio: 0.01, levels: 16 } as const;

// ---------------------------------------------------------------------------------------------------------------
// Parsing and formatting
// ---------------------------------------------------------------------------------------------------------------

const FLAG = '--grad-compression';
const FORMS = 'use none, fp16, powersgd[:rank=R,warmup=W], topk[:ratio=F], qsgd[:levels=S] or signsgd';
const OPTIONS: Record<CompressionSpec['kind'], readonly string[]> = {
  none: [],
  fp16: [],
  powersgd: ['rank', 'warmup'],
  topk: ['ratio'],
  qsgd: ['levels'],
  signsgd: [],
};
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;
const INTEGER = /^\+?\d+$/;

/** User text in single quotes, control characters escaped, so the message stays on one line. */
function quote(text: string): string {
  return `'${JSON.stringify(text).slice(1, -1)}'`;
}

function bad(what: string): HoneError {
  return badInput(`${FLAG}: ${what}; ${FORMS}`);
}

/** Range checks shared by the parser and by specs built in code. Returns a problem, or undefined. */
function rangeProblem(key: string, value: number): string | undefined {
  switch (key) {
    case 'rank':
      return Number.isSafeInteger(value) && value >= 1 ? undefined : 'rank must be an integer >= 1';
    case 'warmup':
      return Number.isSafeInteger(value) && value >= 0 ? undefined : 'warmup must be an integer >= 0';
    case 'ratio':
      return Number.isFinite(value) && value > 0 && value <= 1 ? undefined : 'ratio must be a number with 0 < ratio <= 1';
    case 'levels':
      return Number.isInteger(value) && value >= 1 && value <= 255 ? undefined : 'levels must be an integer from 1 to 255';
    default:
      return `unknown option '${key}'`;
  }
}

/**
 * Parses 'none', 'fp16', 'powersgd', 'powersgd:rank=4,warmup=0', 'topk:ratio=0.001', 'qsgd:levels=8', 'signsgd'.
 * Bad text throws a HoneError (exit code 2) naming the bad part and the accepted forms.
 */
export function parseCompression(text: string): CompressionSpec {
  const trimmed = text.trim();
  if (trimmed === '') throw bad('no method given');
  const colon = trimmed.indexOf(':');
  const method = (colon < 0 ? trimmed : trimmed.slice(0, colon)).trim().toLowerCase();
  if (!Object.hasOwn(OPTIONS, method)) throw bad(`unknown method ${quote(method)}`);
  const kind = method as CompressionSpec['kind'];
  const allowed = OPTIONS[kind];
  const values = new Map<string, number>();
  if (colon >= 0) {
    const rest = trimmed.slice(colon + 1);
    if (allowed.length === 0) throw bad(`${kind} takes no options, got ${quote(rest)}`);
    if (rest.trim() === '') throw bad(`nothing after '${kind}:'`);
    for (const part of rest.split(',')) {
      const eq = part.indexOf('=');
      const key = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
      const raw = eq < 0 ? '' : part.slice(eq + 1).trim();
      if (key === '' || raw === '') throw bad(`${kind} option ${quote(part.trim())} is not key=value`);
      if (!allowed.includes(key)) throw bad(`unknown ${kind} option ${quote(key)} (it takes ${allowed.join(', ')})`);
      if (values.has(key)) throw bad(`${kind} option '${key}' given twice`);
      const integral = key !== 'ratio';
      const value = (integral ? INTEGER : DECIMAL).test(raw) ? Number(raw) : Number.NaN;
      const problem = rangeProblem(key, value);
      if (problem) throw bad(`${problem}, got ${quote(raw)}`);
      values.set(key, value);
    }
  }
  const get = (key: keyof typeof COMPRESSION_DEFAULTS) => values.get(key) ?? COMPRESSION_DEFAULTS[key];
  switch (kind) {
    case 'powersgd':
      return { kind, rank: get('rank'), warmup: get('warmup') };
    case 'topk':
      return { kind, ratio: get('ratio') };
    case 'qsgd':
      return { kind, levels: get('levels') };
    default:
      return { kind };
  }
}

/** Throws a HoneError when a spec built in code is out of range (parseCompression's specs always pass). */
export function validateCompression(spec: CompressionSpec): CompressionSpec {
  if (!Object.hasOwn(OPTIONS, spec.kind)) throw bad(`unknown method ${quote(String(spec.kind))}`);
  const fields: [string, number][] =
    spec.kind === 'powersgd'
      ? [
          ['rank', spec.rank],
          ['warmup', spec.warmup],
        ]
      : spec.kind === 'topk'
        ? [['ratio', spec.ratio]]
        : spec.kind === 'qsgd'
          ? [['levels', spec.levels]]
          : [];
  for (const [key, value] of fields) {
    const problem = rangeProblem(key, value);
    if (problem) throw bad(`${problem}, got ${String(value)}`);
  }
  return spec;
}

/** The canonical text of a spec, every option spelled out; parseCompression reads it back to an equal spec. */
export function formatCompression(spec: CompressionSpec): string {
  validateCompression(spec);
  switch (spec.kind) {
    case 'powersgd':
      return `powersgd:rank=${spec.rank},warmup=${spec.warmup}`;
    case 'topk':
      return `topk:ratio=${spec.ratio}`;
    case 'qsgd':
      return `qsgd:levels=${spec.levels}`;
    default:
      return spec.kind;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// IEEE binary16
// ---------------------------------------------------------------------------------------------------------------

// The conversions are the project's one converter (src/ir/half.ts); here only the array forms.
let halfTable: Float32Array | undefined;
/** All 65536 halves decoded, for table-lookup decoding. */
function halves(): Float32Array {
  if (!halfTable) {
    halfTable = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) halfTable[h] = halfValue(h);
  }
  return halfTable;
}

/** Encodes `src` into `dst` (same length) as binary16 bits. */
export function encodeFloat16(src: Float32Array, dst: Uint16Array): void {
  if (dst.length !== src.length) throw new Error(`encodeFloat16: ${src.length} values into ${dst.length} halves`);
  for (let j = 0; j < src.length; j++) dst[j] = halfBits(src[j]!);
}

/** Decodes binary16 bits `src` into `dst` (same length). */
export function decodeFloat16(src: Uint16Array, dst: Float32Array): void {
  if (dst.length !== src.length) throw new Error(`decodeFloat16: ${src.length} halves into ${dst.length} values`);
  const table = halves();
  for (let j = 0; j < src.length; j++) dst[j] = table[src[j]!]!;
}

// ---------------------------------------------------------------------------------------------------------------
// The exchange
// ---------------------------------------------------------------------------------------------------------------

/** What a worker uses to talk to the others. Implemented over NATS by the transport; in tests by an in-memory fake. */
export interface Collective {
  readonly world: number; // number of workers
  readonly rank: number; // this worker, 0..world-1
  /**
   * Every worker's message for this round, in rank order (this worker's own included, as given). Every worker
   * calls it the same number of times per step, in the same order. The transport counts the bytes of `message`
   * as sent. The exchange never modifies a message after handing it over, nor the messages it gets back.
   */
  allgather(message: Uint8Array): Promise<Uint8Array[]>;
}

export interface ExchangeReport {
  /** Bytes this worker handed to allgather this step (sum of message lengths). */
  bytesSent: number;
  /** Layers sent uncompressed because compressing would save less than 2x (or ndim<2 for powersgd, or warm-up). */
  uncompressedLayers: number;
}

export interface GradientExchange {
  readonly spec: CompressionSpec;
  /**
   * Replaces each grads[i] in place with the mean over workers of what they sent for it. Identical result on every
   * worker: decode every worker's message and sum in rank order, then divide by world. `step` counts from 0.
   */
  exchange(grads: Float32Array[], step: number, c: Collective): Promise<ExchangeReport>;
  /** The bytes this worker sends per step by the formula (no encoding). For powersgd, after warm-up. */
  analyticBytes(): number;
  /** Error-feedback / PowerSGD Q state for checkpoints (Float32Array copies), and its restore; empty for stateless methods. */
  state(): Float32Array[];
  loadState(saved: Float32Array[]): void;
}

/** Bytes of the header every message starts with. */
export const HEADER_BYTES = 12;
const MAGIC = 0x48;
const WIRE_VERSION = 1;
const METHODS: readonly CompressionSpec['kind'][] = ['none', 'fp16', 'powersgd', 'topk', 'qsgd', 'signsgd'];
const ROUND_ONLY = 0;
const ROUND_P = 1;
const ROUND_Q = 2;
const ROUND_NAMES = ['only', 'P', 'Q'];

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * shapes: every parameter's dims, in grads order. seed: for QSGD's rounding and PowerSGD's Q init (Q init depends
 * on seed and layer index only, so it is the same on every worker; QSGD's RNG on seed, rank and step).
 */
export function createExchange(
  spec: CompressionSpec,
  shapes: readonly (readonly number[])[],
  opts: { seed: number; rank: number },
): GradientExchange {
  validateCompression(spec);
  if (!LITTLE_ENDIAN) throw new Error('gradient exchange: big-endian hosts are not supported');
  if (!Number.isInteger(opts.rank) || opts.rank < 0) throw new Error(`gradient exchange: rank ${opts.rank} is not an integer >= 0`);
  for (const shape of shapes) {
    if (!shape.every((n) => Number.isSafeInteger(n) && n >= 0))
      throw new Error(`gradient exchange: bad parameter shape [${shape.join(', ')}]`);
  }
  switch (spec.kind) {
    case 'none':
      return new RawExchange(spec, shapes, opts);
    case 'fp16':
      return new Fp16Exchange(spec, shapes, opts);
    case 'topk':
      return new TopkExchange(spec, shapes, opts);
    case 'qsgd':
      return new QsgdExchange(spec, shapes, opts);
    case 'signsgd':
      return new SignExchange(spec, shapes, opts);
    case 'powersgd':
      return new PowerSgdExchange(spec, shapes, opts);
  }
}

/** 32-bit FNV-1a of a string. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Mixes integers into a 32-bit seed (murmur3's finaliser after each word); any JS number seed is accepted. */
function mixSeed(...words: number[]): number {
  let h = 0x9e3779b9;
  for (const w of words) {
    const lo = w >>> 0;
    const hi = Math.floor(w / 2 ** 32) >>> 0; // keeps the high bits of large (or the sign of negative) seeds
    for (const part of [lo, hi]) {
      h = Math.imul(h ^ part, 0x85ebca6b);
      h ^= h >>> 13;
      h = Math.imul(h, 0xc2b2ae35);
      h ^= h >>> 16;
    }
  }
  return h >>> 0;
}

/** mulberry32: uniform floats in [0, 1); 32-bit integer arithmetic only, so identical on every machine. */
class Uniform {
  private a: number;
  constructor(seed: number) {
    this.a = seed >>> 0;
  }
  next(): number {
    this.a = (this.a + 0x6d2b79f5) | 0;
    let t = Math.imul(this.a ^ (this.a >>> 15), this.a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}

/**
 * Fills `out` with approximately standard normal draws: the sum of 12 uniforms minus 6 (Irwin–Hall). Only
 * additions, so bit-identical on every machine, unlike log/cos, and a generic enough start for power iteration.
 */
function fillNormal(out: Float32Array, seed: number, start = 0, stride = 1): void {
  const u = new Uniform(seed);
  for (let i = start; i < out.length; i += stride) {
    let s = -6;
    for (let t = 0; t < 12; t++) s += u.next();
    out[i] = s;
  }
}

function product(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

/** A float32 view of `count` values at byte `at` of a message (which must be 4-byte aligned there). */
function f32At(m: Uint8Array, at: number, count: number): Float32Array {
  return new Float32Array(m.buffer, m.byteOffset + at, count);
}

/** acc[0..d) = Σ over messages of the d float32 values at byte `at`, in rank order. */
function sumF32(acc: Float64Array, msgs: readonly Uint8Array[], at: number, d: number): void {
  acc.fill(0, 0, d);
  for (const m of msgs) {
    const v = f32At(m, at, d);
    for (let j = 0; j < d; j++) acc[j]! += v[j]!;
  }
}

/** out = acc / world, rounded to float32. */
function writeMean(out: Float32Array, acc: Float64Array, world: number): void {
  for (let j = 0; j < out.length; j++) out[j] = acc[j]! / world;
}

/** What every method shares: checks, the header, the gather with validation, and the summing scratch. */
abstract class BaseExchange implements GradientExchange {
  protected readonly sizes: number[];
  protected readonly seed: number;
  protected readonly rank: number;
  private readonly methodId: number;
  private readonly configHash: number;
  private readonly label: string;
  private scratch: Float64Array | undefined;

  constructor(
    readonly spec: CompressionSpec,
    protected readonly shapes: readonly (readonly number[])[],
    opts: { seed: number; rank: number },
  ) {
    this.sizes = shapes.map(product);
    this.seed = opts.seed;
    this.rank = opts.rank;
    this.methodId = METHODS.indexOf(spec.kind);
    this.label = formatCompression(spec);
    this.configHash = fnv1a(`${this.label}|${shapes.map((s) => s.join('x')).join(',')}`);
  }

  abstract exchange(grads: Float32Array[], step: number, c: Collective): Promise<ExchangeReport>;
  abstract analyticBytes(): number;

  /** The persistent arrays (residuals, Q), in a fixed order; state() copies them and loadState() fills them. */
  protected stateArrays(): Float32Array[] {
    return [];
  }

  state(): Float32Array[] {
    return this.stateArrays().map((a) => a.slice());
  }

  loadState(saved: Float32Array[]): void {
    const own = this.stateArrays();
    const mismatch =
      saved.length !== own.length
        ? `${saved.length} arrays, expected ${own.length}`
        : own
            .map((a, i) => (saved[i]!.length === a.length ? '' : `array ${i} has ${saved[i]!.length} values, expected ${a.length}`))
            .find((s) => s !== '');
    if (mismatch) {
      throw badInput(
        `gradient compression state does not fit ${this.label} for this model (${mismatch}); resume with the --grad-compression and model the checkpoint was saved with`,
      );
    }
    own.forEach((a, i) => a.set(saved[i]!));
  }

  /** A float64 scratch of at least `d` values, for summing one layer over workers. */
  protected acc(d: number): Float64Array {
    if (!this.scratch || this.scratch.length < d) this.scratch = new Float64Array(Math.max(d, ...this.sizes));
    return this.scratch;
  }

  protected begin(grads: readonly Float32Array[], step: number, c: Collective): ExchangeReport {
    if (grads.length !== this.sizes.length) throw new Error(`gradient exchange: ${grads.length} gradients, expected ${this.sizes.length}`);
    grads.forEach((g, i) => {
      if (g.length !== this.sizes[i]) throw new Error(`gradient exchange: gradient ${i} has ${g.length} values, expected ${this.sizes[i]}`);
    });
    if (!Number.isInteger(step) || step < 0 || step > 0xffffffff) throw new Error(`gradient exchange: bad step ${step}`);
    if (c.rank !== this.rank) throw new Error(`gradient exchange: created for rank ${this.rank}, used by rank ${c.rank}`);
    return { bytesSent: 0, uncompressedLayers: 0 };
  }

  /** A zeroed message of `bytes` bytes with its header written. */
  protected message(bytes: number, round: number, step: number): Uint8Array {
    const m = new Uint8Array(bytes);
    const view = new DataView(m.buffer);
    m[0] = MAGIC;
    m[1] = WIRE_VERSION;
    m[2] = this.methodId;
    m[3] = round;
    view.setUint32(4, step, true);
    view.setUint32(8, this.configHash, true);
    return m;
  }

  /**
   * Sends `mine`, returns every worker's message after checking its header and length (every worker's message for
   * a round has the same layout, so the same length as this worker's). Messages that are not 4-byte aligned in
   * their buffer are copied, so their float32 parts can be read through typed-array views.
   */
  protected async gather(c: Collective, mine: Uint8Array, round: number, step: number, report: ExchangeReport): Promise<Uint8Array[]> {
    report.bytesSent += mine.length;
    const all = await c.allgather(mine);
    if (all.length !== c.world) throw new Error(`gradient exchange (${this.label}): got ${all.length} messages from ${c.world} workers`);
    return all.map((m, w) => {
      this.check(m, w, mine.length, round, step);
      return m.byteOffset % 4 === 0 ? m : m.slice();
    });
  }

  private check(m: Uint8Array, w: number, length: number, round: number, step: number): void {
    const from = `gradient exchange (${this.label}, step ${step}): worker ${w}`;
    const hint = 'do all workers run the same model with the same --grad-compression?';
    if (m.length < HEADER_BYTES || m[0] !== MAGIC || m[1] !== WIRE_VERSION) {
      throw new Error(`${from} sent something that is not a version-${WIRE_VERSION} gradient message (${m.length} bytes)`);
    }
    if (m[2] !== this.methodId)
      throw new Error(`${from} compresses with ${METHODS[m[2]!] ?? `method ${m[2]}`}, this worker with ${this.spec.kind}; ${hint}`);
    if (m[3] !== round)
      throw new Error(`${from} is in round ${ROUND_NAMES[m[3]!] ?? m[3]}, this worker in round ${ROUND_NAMES[round]}; ${hint}`);
    const view = new DataView(m.buffer, m.byteOffset, m.length);
    const theirStep = view.getUint32(4, true);
    if (theirStep !== step) throw new Error(`${from} is at step ${theirStep}; all workers must exchange the same step`);
    if (view.getUint32(8, true) !== this.configHash)
      throw new Error(`${from} uses different compression settings or parameter shapes; ${hint}`);
    if (m.length !== length) throw new Error(`${from} sent ${m.length} bytes, expected ${length}; ${hint}`);
  }

  /** Writes every layer as raw float32 after the header (none, and PowerSGD's warm-up). */
  protected rawMessage(grads: readonly Float32Array[], round: number, step: number): Uint8Array {
    const total = this.sizes.reduce((a, b) => a + b, 0);
    const m = this.message(HEADER_BYTES + 4 * total, round, step);
    const body = f32At(m, HEADER_BYTES, total);
    let at = 0;
    for (const g of grads) {
      body.set(g, at);
      at += g.length;
    }
    return m;
  }

  /** Decodes messages written by rawMessage into grads: the exact mean. */
  protected rawMean(msgs: readonly Uint8Array[], grads: Float32Array[]): void {
    let at = HEADER_BYTES;
    for (const g of grads) {
      const acc = this.acc(g.length);
      sumF32(acc, msgs, at, g.length);
      writeMean(g, acc, msgs.length);
      at += 4 * g.length;
    }
  }
}

/** none: raw float32. */
class RawExchange extends BaseExchange {
  analyticBytes(): number {
    return HEADER_BYTES + 4 * this.sizes.reduce((a, b) => a + b, 0);
  }

  async exchange(grads: Float32Array[], step: number, c: Collective): Promise<ExchangeReport> {
    const report = this.begin(grads, step, c);
    const msgs = await this.gather(c, this.rawMessage(grads, ROUND_ONLY, step), ROUND_ONLY, step, report);
    this.rawMean(msgs, grads);
    return report;
  }
}

/** fp16: every value as a binary16, round to nearest even. */
class Fp16Exchange extends BaseExchange {
  private readonly total = this.sizes.reduce((a, b) => a + b, 0);

  analyticBytes(): number {
    return HEADER_BYTES + 2 * this.total;
  }

  async exchange(grads: Float32Array[], step: number, c: Collective): Promise<ExchangeReport> {
    const report = this.begin(grads, step, c);
    const mine = this.message(this.analyticBytes(), ROUND_ONLY, step);
    const body = new Uint16Array(mine.buffer, HEADER_BYTES, this.total);
    let at = 0;
    for (const g of grads) {
      encodeFloat16(g, body.subarray(at, at + g.length));
      at += g.length;
    }
    const msgs = await this.gather(c, mine, ROUND_ONLY, step, report);
    const table = halves();
    const bodies = msgs.map((m) => new Uint16Array(m.buffer, m.byteOffset + HEADER_BYTES, this.total));
    at = 0;
    for (const g of grads) {
      const d = g.length;
      const acc = this.acc(d);
      acc.fill(0, 0, d);
      for (const h of bodies) for (let j = 0; j < d; j++) acc[j]! += table[h[at + j]!]!;
      writeMean(g, acc, msgs.length);
      at += d;
    }
    return report;
  }
}

// ---- top-k ----------------------------------------------------------------------------------------------------

/** Entries sent per layer: max(1, ceil(ratio·d)); the small slack keeps e.g. 0.07·100 = 7.000000000000001 at 7. */
function topkCount(ratio: number, d: number): number {
  return Math.min(d, Math.max(1, Math.ceil(ratio * d - 1e-9)));
}

/** |x| with NaN ranked above everything, so the selection stays exact (and a NaN gradient propagates). */
function magnitude(x: number): number {
  const a = Math.abs(x);
  return Number.isNaN(a) ? Number.POSITIVE_INFINITY : a;
}

/** The value of rank `kth` (0-based, ascending) among a[0..n), rearranging a: quickselect, 3-way partitions. */
export function selectKth(a: Float32Array, n: number, kth: number): number {
  let lo = 0;
  let hi = n - 1;
  while (hi > lo) {
    // Median of three as the pivot.
    const x = a[lo]!;
    const y = a[(lo + hi) >>> 1]!;
    const z = a[hi]!;
    const pivot = Math.max(Math.min(x, y), Math.min(Math.max(x, y), z));
    // Dutch national flag: [lo, lt) < pivot, [lt, i) = pivot, (gt, hi] > pivot.
    let lt = lo;
    let i = lo;
    let gt = hi;
    while (i <= gt) {
      const v = a[i]!;
      if (v < pivot) {
        a[i] = a[lt]!;
        a[lt] = v;
        lt++;
        i++;
      } else if (v > pivot) {
        a[i] = a[gt]!;
        a[gt] = v;
        gt--;
      } else i++;
    }
    if (kth < lt) hi = lt - 1;
    else if (kth > gt) lo = gt + 1;
    else return pivot;
  }
  return a[kth]!;
}

class TopkExchange extends BaseExchange {
  private readonly k: number[]; // entries sent per layer; 0 for raw layers
  private readonly residual: (Float32Array | undefined)[]; // error-feedback accumulator per compressed layer
  private readonly copy: Float32Array; // |acc| of the largest compressed layer, for quickselect

  constructor(spec: CompressionSpec & { kind: 'topk' }, shapes: readonly (readonly number[])[], opts: { seed: number; rank: number }) {
    super(spec, shapes, opts);
    this.k = this.sizes.map((d) => {
      const k = topkCount(spec.ratio, d);
      return d > 0 && 8 * k <= 2 * d ? k : 0;
    });
    this.residual = this.sizes.map((d, l) => (this.k[l]! > 0 ? new Float32Array(d) : undefined));
    this.copy = new Float32Array(Math.max(0, ...this.sizes.filter((_, l) => this.k[l]! > 0)));
  }

  analyticBytes(): number {
    return HEADER_BYTES + this.sizes.reduce((sum, d, l) => sum + (this.k[l]! > 0 ? 8 * this.k[l]! : 4 * d), 0);
  }

  protected override stateArrays(): Float32Array[] {
    return this.residual.filter((r) => r !== undefined);
  }

  async exchange(grads: Float32Array[], step: number, c: Collective): Promise<ExchangeReport> {
    const report = this.begin(grads, step, c);
    const mine = this.message(this.analyticBytes(), ROUND_ONLY, step);
    let at = HEADER_BYTES;
    grads.forEach((g, l) => {
      const k = this.k[l]!;
      const res = this.residual[l];
      if (!res) {
        f32At(mine, at, g.length).set(g);
        at += 4 * g.length;
        report.uncompressedLayers++;
        return;
      }
      for (let j = 0; j < g.length; j++) res[j]! += g[j]!;
      this.take(res, k, new Uint32Array(mine.buffer, at, k), f32At(mine, at + 4 * k, k));
      at += 8 * k;
    });
    const msgs = await this.gather(c, mine, ROUND_ONLY, step, report);
    at = HEADER_BYTES;
    grads.forEach((g, l) => {
      const d = g.length;
      const k = this.k[l]!;
      const acc = this.acc(d);
      if (k === 0) {
        sumF32(acc, msgs, at, d);
        at += 4 * d;
      } else {
        acc.fill(0, 0, d);
        msgs.forEach((m, w) => {
          const index = new Uint32Array(m.buffer, m.byteOffset + at, k);
          const value = f32At(m, at + 4 * k, k);
          for (let i = 0; i < k; i++) {
            const j = index[i]!;
            if (j >= d) throw new Error(`gradient exchange (topk, step ${step}): worker ${w} sent index ${j} for a layer of ${d} values`);
            acc[j]! += value[i]!;
          }
        });
        at += 8 * k;
      }
      writeMean(g, acc, msgs.length);
    });
    return report;
  }

  /** Moves the k entries of largest |res| (ties: lowest index first) into index/value, ascending, zeroing them in res. */
  private take(res: Float32Array, k: number, index: Uint32Array, value: Float32Array): void {
    const d = res.length;
    const copy = this.copy;
    for (let j = 0; j < d; j++) copy[j] = magnitude(res[j]!);
    const threshold = selectKth(copy, d, d - k); // the k-th largest magnitude
    let above = 0;
    for (let j = 0; j < d; j++) if (magnitude(res[j]!) > threshold) above++;
    let ties = k - above; // how many entries equal to the threshold to take
    let n = 0;
    for (let j = 0; j < d && n < k; j++) {
      const a = magnitude(res[j]!);
      if (a > threshold || (a === threshold && ties-- > 0)) {
        index[n] = j;
        value[n] = res[j]!;
        res[j] = 0;
        n++;
      }
    }
    if (n !== k) throw new Error(`gradient exchange (topk): selected ${n} entries, expected ${k}`); // cannot happen
  }
}

// ---- qsgd and signsgd: an f32 region then a bit region --------------------------------------------------------

/** Where each layer goes in a message of an f32 region (one scalar per compressed layer, d per raw) and a bit region. */
class PackedLayout {
  readonly compressed: boolean[];
  readonly f32Offset: number[]; // byte offset of the layer's scalar (compressed) or values (raw)
  readonly bitOffset: number[]; // byte offset of a compressed layer's codes
  readonly bytes: number;

  constructor(sizes: readonly number[], bits: number) {
    this.compressed = sizes.map((d) => d > 0 && 4 + Math.ceil((bits * d) / 8) <= 2 * d);
    this.f32Offset = [];
    this.bitOffset = [];
    let at = HEADER_BYTES;
    sizes.forEach((d, l) => {
      this.f32Offset.push(at);
      at += this.compressed[l] ? 4 : 4 * d;
    });
    sizes.forEach((d, l) => {
      this.bitOffset.push(at);
      if (this.compressed[l]) at += Math.ceil((bits * d) / 8);
    });
    this.bytes = at;
  }
}

class QsgdExchange extends BaseExchange {
  private readonly levels: number;
  private readonly bits: number; // per element: 1 sign bit + ceil(log2(levels + 1)) level bits
  private readonly layout: PackedLayout;

  constructor(spec: CompressionSpec & { kind: 'qsgd' }, shapes: readonly (readonly number[])[], opts: { seed: number; rank: number }) {
    super(spec, shapes, opts);
    this.levels = spec.levels;
    this.bits = 1 + (32 - Math.clz32(spec.levels));
    this.layout = new PackedLayout(this.sizes, this.bits);
  }

  analyticBytes(): number {
    return this.layout.bytes;
  }

  async exchange(grads: Float32Array[], step: number, c: Collective): Promise<ExchangeReport> {
    const report = this.begin(grads, step, c);
    const { compressed, f32Offset, bitOffset } = this.layout;
    const s = this.levels;
    const b = this.bits;
    const signBit = 1 << (b - 1);
    const codeMask = (1 << b) - 1;
    const mine = this.message(this.layout.bytes, ROUND_ONLY, step);
    const rng = new Uniform(mixSeed(this.seed, this.rank, step, 0x9594d));
    grads.forEach((g, l) => {
      if (!compressed[l]) {
        f32At(mine, f32Offset[l]!, g.length).set(g);
        report.uncompressedLayers++;
        return;
      }
      let squares = 0;
      for (let j = 0; j < g.length; j++) squares += g[j]! * g[j]!;
      const norm = Math.fround(Math.sqrt(squares)); // what receivers see, so encode with it too
      f32At(mine, f32Offset[l]!, 1)[0] = norm;
      const scale = norm > 0 ? s / norm : 0;
      let p = bitOffset[l]!;
      let buffer = 0;
      let filled = 0;
      for (let j = 0; j < g.length; j++) {
        const x = g[j]!;
        const v = Math.abs(x) * scale; // in [0, s] up to rounding
        let level = Math.floor(v);
        if (rng.next() < v - level) level++; // stochastic rounding: E[level] = v
        if (level > s) level = s;
        const code = level > 0 && x < 0 ? level | signBit : level | 0;
        buffer |= code << filled;
        filled += b;
        while (filled >= 8) {
          mine[p++] = buffer & 0xff;
          buffer >>>= 8;
          filled -= 8;
        }
      }
      if (filled > 0) mine[p] = buffer & 0xff;
    });
    const msgs = await this.gather(c, mine, ROUND_ONLY, step, report);
    grads.forEach((g, l) => {
      const d = g.length;
      const acc = this.acc(d);
      if (!compressed[l]) {
        sumF32(acc, msgs, f32Offset[l]!, d);
      } else {
        acc.fill(0, 0, d);
        for (const m of msgs) {
          const unit = f32At(m, f32Offset[l]!, 1)[0]! / s;
          let p = bitOffset[l]!;
          let buffer = 0;
          let filled = 0;
          for (let j = 0; j < d; j++) {
            while (filled < b) {
              buffer |= m[p++]! << filled;
              filled += 8;
            }
            const code = buffer & codeMask;
            buffer >>>= b;
            filled -= b;
            const value = (code & (signBit - 1)) * unit;
            acc[j]! += code & signBit ? -value : value;
          }
        }
      }
      writeMean(g, acc, msgs.length);
    });
    return report;
  }
}

class SignExchange extends BaseExchange {
  private readonly layout: PackedLayout;
  private readonly residual: (Float32Array | undefined)[];

  constructor(spec: CompressionSpec & { kind: 'signsgd' }, shapes: readonly (readonly number[])[], opts: { seed: number; rank: number }) {
    super(spec, shapes, opts);
    this.layout = new PackedLayout(this.sizes, 1);
    this.residual = this.sizes.map((d, l) => (this.layout.compressed[l] ? new Float32Array(d) : undefined));
  }

  analyticBytes(): number {
    return this.layout.bytes;
  }

  protected override stateArrays(): Float32Array[] {
    return this.residual.filter((r) => r !== undefined);
  }

  async exchange(grads: Float32Array[], step: number, c: Collective): Promise<ExchangeReport> {
    const report = this.begin(grads, step, c);
    const { f32Offset, bitOffset } = this.layout;
    const mine = this.message(this.layout.bytes, ROUND_ONLY, step);
    grads.forEach((g, l) => {
      const e = this.residual[l];
      if (!e) {
        f32At(mine, f32Offset[l]!, g.length).set(g);
        report.uncompressedLayers++;
        return;
      }
      const d = g.length;
      let l1 = 0;
      for (let j = 0; j < d; j++) {
        e[j]! += g[j]!; // p = g + e, kept in e
        l1 += Math.abs(e[j]!);
      }
      const scale = Math.fround(l1 / d);
      f32At(mine, f32Offset[l]!, 1)[0] = scale;
      const base = bitOffset[l]!;
      for (let j0 = 0; j0 < d; j0 += 8) {
        let byte = 0;
        const end = Math.min(d, j0 + 8);
        for (let j = j0; j < end; j++) {
          const p = e[j]!;
          if (p < 0) {
            byte |= 1 << (j - j0);
            e[j] = p + scale; // e = p − δ with δ = −scale
          } else e[j] = p - scale;
        }
        mine[base + (j0 >>> 3)] = byte;
      }
    });
    const msgs = await this.gather(c, mine, ROUND_ONLY, step, report);
    grads.forEach((g, l) => {
      const d = g.length;
      const acc = this.acc(d);
      if (!this.residual[l]) {
        sumF32(acc, msgs, f32Offset[l]!, d);
      } else {
        acc.fill(0, 0, d);
        const base = bitOffset[l]!;
        for (const m of msgs) {
          const scale = f32At(m, f32Offset[l]!, 1)[0]!;
          for (let j = 0; j < d; j++) acc[j]! += (m[base + (j >>> 3)]! >>> (j & 7)) & 1 ? -scale : scale;
        }
      }
      writeMean(g, acc, msgs.length);
    });
    return report;
  }
}

// ---- PowerSGD -------------------------------------------------------------------------------------------------

/**
 * Orthonormalises the r columns of the row-major [n, r] matrix p in place: Gram-Schmidt, projecting twice
 * ("twice is enough") so the columns stay orthogonal to working precision. A column (numerically) inside the span
 * of the previous ones becomes zero; a NaN column stays NaN, so a diverged gradient is not silently hidden.
 */
function orthonormalizeColumns(p: Float64Array, n: number, r: number): void {
  const norm = (c: number) => {
    let s = 0;
    for (let i = 0; i < n; i++) s += p[i * r + c]! * p[i * r + c]!;
    return Math.sqrt(s);
  };
  for (let c = 0; c < r; c++) {
    const before = norm(c);
    for (let pass = 0; pass < 2 && c > 0; pass++) {
      for (let c2 = 0; c2 < c; c2++) {
        let dot = 0;
        for (let i = 0; i < n; i++) dot += p[i * r + c]! * p[i * r + c2]!;
        for (let i = 0; i < n; i++) p[i * r + c]! -= dot * p[i * r + c2]!;
      }
    }
    const after = norm(c);
    if (Number.isNaN(after) || after > 1e-8 * before) {
      for (let i = 0; i < n; i++) p[i * r + c]! /= after;
    } else {
      for (let i = 0; i < n; i++) p[i * r + c] = 0;
    }
  }
}

class PowerSgdExchange extends BaseExchange {
  private readonly r: number;
  private readonly warmup: number;
  private readonly rows: number[]; // n = dim0 of a compressed layer
  private readonly cols: number[]; // m = product of the other dims
  private readonly compressed: boolean[];
  private readonly error: (Float32Array | undefined)[]; // e, [n, m]
  private readonly q: (Float32Array | undefined)[]; // Q, [m, r]: the all-reduced mean of the last step, the same on every worker
  private readonly pHat: (Float64Array | undefined)[]; // P after the mean and orthonormalisation, [n, r]
  private readonly pOffset: number[]; // byte offset of a layer in the P round's message
  private readonly qOffset: number[]; // byte offset of a compressed layer in the Q round's message
  private readonly pBytes: number;
  private readonly qBytes: number;
  private readonly qSum: Float64Array; // [m, r] scratch for Mᵀ·P̂ and the mean of Q

  constructor(spec: CompressionSpec & { kind: 'powersgd' }, shapes: readonly (readonly number[])[], opts: { seed: number; rank: number }) {
    super(spec, shapes, opts);
    const r = spec.rank;
    this.r = r;
    this.warmup = spec.warmup;
    this.rows = shapes.map((s) => (s.length >= 2 ? s[0]! : 0));
    this.cols = this.sizes.map((d, l) => (this.rows[l]! > 0 ? d / this.rows[l]! : 0));
    this.compressed = this.sizes.map((d, l) => {
      const n = this.rows[l]!;
      const m = this.cols[l]!;
      return n > 0 && m > 0 && 4 * r * (n + m) <= 2 * d;
    });
    this.error = this.sizes.map((d, l) => (this.compressed[l] ? new Float32Array(d) : undefined));
    this.q = this.cols.map((m, l) => {
      if (!this.compressed[l]) return undefined;
      const q = new Float32Array(m * r);
      fillNormal(q, mixSeed(this.seed, l, 0x51));
      return q;
    });
    this.pHat = this.rows.map((n, l) => (this.compressed[l] ? new Float64Array(n * r) : undefined));
    this.pOffset = [];
    this.qOffset = [];
    let p = HEADER_BYTES;
    let q = HEADER_BYTES;
    this.sizes.forEach((d, l) => {
      this.pOffset.push(p);
      this.qOffset.push(q);
      if (this.compressed[l]) {
        p += 4 * this.rows[l]! * r;
        q += 4 * this.cols[l]! * r;
      } else p += 4 * d;
    });
    this.pBytes = p;
    this.qBytes = q > HEADER_BYTES ? q : 0; // no Q round when nothing is compressed
    this.qSum = new Float64Array(r * Math.max(0, ...this.cols.filter((_, l) => this.compressed[l])));
  }

  analyticBytes(): number {
    return this.pBytes + this.qBytes;
  }

  protected override stateArrays(): Float32Array[] {
    return [...this.error, ...this.q].filter((a) => a !== undefined);
  }

  async exchange(grads: Float32Array[], step: number, c: Collective): Promise<ExchangeReport> {
    const report = this.begin(grads, step, c);
    if (step < this.warmup) {
      const msgs = await this.gather(c, this.rawMessage(grads, ROUND_ONLY, step), ROUND_ONLY, step, report);
      this.rawMean(msgs, grads);
      report.uncompressedLayers = grads.length;
      return report;
    }
    const r = this.r;
    const world = c.world;

    // Round P: M = g + e; P_local = M·Q. Raw layers ride along.
    const mineP = this.message(this.pBytes, ROUND_P, step);
    grads.forEach((g, l) => {
      const M = this.error[l];
      if (!M) {
        f32At(mineP, this.pOffset[l]!, g.length).set(g);
        report.uncompressedLayers++;
        return;
      }
      const n = this.rows[l]!;
      const m = this.cols[l]!;
      const Q = this.q[l]!;
      this.redrawDeadColumns(Q, m, l, step);
      for (let j = 0; j < M.length; j++) M[j]! += g[j]!;
      const out = f32At(mineP, this.pOffset[l]!, n * r);
      const row = new Float64Array(r);
      for (let i = 0; i < n; i++) {
        row.fill(0);
        const base = i * m;
        for (let j = 0; j < m; j++) {
          const v = M[base + j]!;
          for (let k = 0; k < r; k++) row[k]! += v * Q[j * r + k]!;
        }
        for (let k = 0; k < r; k++) out[i * r + k] = row[k]!;
      }
    });
    const msgsP = await this.gather(c, mineP, ROUND_P, step, report);
    grads.forEach((g, l) => {
      const P = this.pHat[l];
      if (!P) {
        const acc = this.acc(g.length);
        sumF32(acc, msgsP, this.pOffset[l]!, g.length);
        writeMean(g, acc, world);
        return;
      }
      const n = this.rows[l]!;
      sumF32(P, msgsP, this.pOffset[l]!, n * r);
      for (let i = 0; i < P.length; i++) P[i]! /= world;
      orthonormalizeColumns(P, n, r);
    });
    if (this.qBytes === 0) return report;

    // Round Q: Q_local = Mᵀ·P̂ (M read row by row, Q accumulated in float64).
    const mineQ = this.message(this.qBytes, ROUND_Q, step);
    const qSum = this.qSum;
    grads.forEach((_, l) => {
      const M = this.error[l];
      if (!M) return;
      const n = this.rows[l]!;
      const m = this.cols[l]!;
      const P = this.pHat[l]!;
      qSum.fill(0, 0, m * r);
      for (let i = 0; i < n; i++) {
        const base = i * m;
        for (let j = 0; j < m; j++) {
          const v = M[base + j]!;
          for (let k = 0; k < r; k++) qSum[j * r + k]! += v * P[i * r + k]!;
        }
      }
      f32At(mineQ, this.qOffset[l]!, m * r).set(qSum.subarray(0, m * r));
    });
    const msgsQ = await this.gather(c, mineQ, ROUND_Q, step, report);

    // Q = mean of Q_local (the next step's warm start); gradient = P̂·Qᵀ; e = M − P̂·Q_localᵀ.
    grads.forEach((g, l) => {
      const M = this.error[l];
      if (!M) return;
      const n = this.rows[l]!;
      const m = this.cols[l]!;
      const P = this.pHat[l]!;
      const Q = this.q[l]!;
      sumF32(qSum, msgsQ, this.qOffset[l]!, m * r);
      for (let x = 0; x < m * r; x++) Q[x] = qSum[x]! / world;
      const local = f32At(mineQ, this.qOffset[l]!, m * r);
      for (let i = 0; i < n; i++) {
        const base = i * m;
        for (let j = 0; j < m; j++) {
          let mean = 0;
          let own = 0;
          for (let k = 0; k < r; k++) {
            const pik = P[i * r + k]!;
            mean += pik * Q[j * r + k]!;
            own += pik * local[j * r + k]!;
          }
          g[base + j] = mean;
          M[base + j]! -= own;
        }
      }
    });
    return report;
  }

  /** A Q column of zeros (its P column collapsed last step) is re-drawn, identically on every worker. */
  private redrawDeadColumns(Q: Float32Array, m: number, layer: number, step: number): void {
    for (let k = 0; k < this.r; k++) {
      let dead = true;
      for (let j = 0; j < m && dead; j++) dead = Q[j * this.r + k] === 0;
      if (dead) fillNormal(Q, mixSeed(this.seed, layer, step, k, 0x52), k, this.r);
    }
  }
}
