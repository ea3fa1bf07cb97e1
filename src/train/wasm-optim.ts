/**
 * The optimizers' updates (Adam/AdamW, SGD with momentum/Nesterov) as WebAssembly SIMD kernels (f32x4),
 * assembled here from their bytes — no binary file, no toolchain. Parameters, gradients and the
 * optimizer's state live in one WebAssembly.Memory; ORT reads the parameters from and writes the
 * gradients into views of that memory, so a step copies nothing. The JS loops (optimizers.ts) stay the
 * fallback where WebAssembly SIMD is missing or the state would not fit a 32-bit memory.
 */

// Opcodes used below (WebAssembly core and fixed-width SIMD).
const I32 = 0x7f;
const F32 = 0x7d;
const V128 = 0x7b;
const LOCAL_GET = 0x20;
const LOCAL_SET = 0x21;
const SIMD = 0xfd;
const v128Load = [SIMD, 0x00, 0x04, 0x00]; // memarg: align 2^4, offset 0
const v128Store = [SIMD, 0x0b, 0x04, 0x00];
const f32x4Splat = [SIMD, 0x13];
const f32x4Sqrt = [SIMD, 0xe3, 0x01];
const f32x4Add = [SIMD, 0xe4, 0x01];
const f32x4Sub = [SIMD, 0xe5, 0x01];
const f32x4Mul = [SIMD, 0xe6, 0x01];
const f32x4Div = [SIMD, 0xe7, 0x01];

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
}

const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];
const vec = (items: number[][]) => [...uleb(items.length), ...items.flat()];
const name = (s: string) => [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];

const get = (l: number) => [LOCAL_GET, l];
const set = (l: number) => [LOCAL_SET, l];
/** Byte offset `base` + i (the loop counter) on the stack. */
const at = (base: number, i: number) => [...get(base), ...get(i), 0x6a /* i32.add */];

/**
 * A function body looping i over [0, 4n) bytes in steps of 16 (n floats, a multiple of 4): `count` is
 * the local holding n, `splats` the f32 params splatted into v128 locals before the loop, `step` the loop
 * body for byte offset local `i`.
 */
function loopBody(count: number, i: number, end: number, splats: [number, number][], step: number[], locals: number[][]): number[] {
  return [
    ...vec(locals),
    ...get(count),
    0x41,
    2,
    0x74 /* i32.shl */,
    ...set(end),
    ...splats.flatMap(([param, local]) => [...get(param), ...f32x4Splat, ...set(local)]),
    0x41,
    0,
    ...set(i),
    0x02,
    0x40, // block
    0x03,
    0x40, // loop
    ...get(i),
    ...get(end),
    0x4f /* i32.ge_u */,
    0x0d,
    1, // br_if out of the block
    ...step,
    ...get(i),
    0x41,
    16,
    0x6a,
    ...set(i),
    0x0c,
    0, // br to the loop
    0x0b,
    0x0b, // end loop, end block
    0x0b, // end function
  ];
}

/**
 * adam(p, g, m, v, n, b1, b2, c1, c2, step, eps, l2, shrink) over n floats at byte offsets p, g, m, v
 * (16-byte aligned), the same arithmetic as optimizers.ts's adamKernel in float32:
 *   p' = p·shrink; g' = g + l2·p'; m = b1·m + c1·g'; v = b2·v + c2·g'²; p = p' − step·m/(√v + eps)
 */
function adamBody(): number[] {
  // Params 0-12, then i (13), end (14), eight splats (15-22), pi, gi, mi, vi (23-26).
  const [P, G, M, V, N, I, END] = [0, 1, 2, 3, 4, 13, 14];
  const splat = (param: number) => 15 + (param - 5); // b1..shrink (params 5-12) → 15-22
  const [VB1, VB2, VC1, VC2, VSTEP, VEPS, VL2, VSHRINK] = [5, 6, 7, 8, 9, 10, 11, 12].map(splat);
  const [PI, GI, MI, VI] = [23, 24, 25, 26];
  return loopBody(
    N,
    I,
    END,
    [5, 6, 7, 8, 9, 10, 11, 12].map((p) => [p, splat(p)]),
    [
      ...at(P, I),
      ...v128Load,
      ...get(VSHRINK),
      ...f32x4Mul,
      ...set(PI),
      ...at(G, I),
      ...v128Load,
      ...get(VL2),
      ...get(PI),
      ...f32x4Mul,
      ...f32x4Add,
      ...set(GI),
      ...get(VB1),
      ...at(M, I),
      ...v128Load,
      ...f32x4Mul,
      ...get(VC1),
      ...get(GI),
      ...f32x4Mul,
      ...f32x4Add,
      ...set(MI),
      ...get(VB2),
      ...at(V, I),
      ...v128Load,
      ...f32x4Mul,
      ...get(VC2),
      ...get(GI),
      ...f32x4Mul,
      ...get(GI),
      ...f32x4Mul,
      ...f32x4Add,
      ...set(VI),
      ...at(M, I),
      ...get(MI),
      ...v128Store,
      ...at(V, I),
      ...get(VI),
      ...v128Store,
      ...at(P, I),
      ...get(PI),
      ...get(VSTEP),
      ...get(MI),
      ...f32x4Mul,
      ...get(VI),
      ...f32x4Sqrt,
      ...get(VEPS),
      ...f32x4Add,
      ...f32x4Div,
      ...f32x4Sub,
      ...v128Store,
    ],
    [
      [2, I32],
      [12, V128],
    ],
  );
}

/**
 * sgd(p, g, b, n, wd, mom, damp, a, c, lr) over n floats at byte offsets p, g, b (momentum buffer), PyTorch's
 * SGD with the branches folded into coefficients by the caller:
 *   g' = g + wd·p; b = mom·b + damp·g'; p = p − lr·(a·g' + c·b)
 * (first step mom 0 and damp 1; plain SGD a 1, c 0; momentum a 0, c 1; Nesterov a 1, c = momentum).
 */
function sgdBody(): number[] {
  // Params 0-9, then i (10), end (11), six splats (12-17), gi, bi, pi (18-20).
  const [P, G, B, N, I, END] = [0, 1, 2, 3, 10, 11];
  const splat = (param: number) => 12 + (param - 4); // wd..lr (params 4-9) → 12-17
  const [VWD, VMOM, VDAMP, VA, VC, VLR] = [4, 5, 6, 7, 8, 9].map(splat);
  const [GI, BI, PI] = [18, 19, 20];
  return loopBody(
    N,
    I,
    END,
    [4, 5, 6, 7, 8, 9].map((p) => [p, splat(p)]),
    [
      ...at(P, I),
      ...v128Load,
      ...set(PI),
      ...at(G, I),
      ...v128Load,
      ...get(VWD),
      ...get(PI),
      ...f32x4Mul,
      ...f32x4Add,
      ...set(GI),
      ...get(VMOM),
      ...at(B, I),
      ...v128Load,
      ...f32x4Mul,
      ...get(VDAMP),
      ...get(GI),
      ...f32x4Mul,
      ...f32x4Add,
      ...set(BI),
      ...at(B, I),
      ...get(BI),
      ...v128Store,
      ...at(P, I),
      ...get(PI),
      ...get(VLR),
      ...get(VA),
      ...get(GI),
      ...f32x4Mul,
      ...get(VC),
      ...get(BI),
      ...f32x4Mul,
      ...f32x4Add,
      ...f32x4Mul,
      ...f32x4Sub,
      ...v128Store,
    ],
    [
      [2, I32],
      [9, V128],
    ],
  );
}

/** The module: memory imported as env.mem, functions `adam` and `sgd`. */
function optimizerModule(): Uint8Array {
  const functype = (params: number[]) => [0x60, ...vec(params.map((t) => [t])), 0];
  const adamBytes = adamBody();
  const sgdBytes = sgdBody();
  return Uint8Array.from([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(
      1,
      vec([
        functype([I32, I32, I32, I32, I32, F32, F32, F32, F32, F32, F32, F32, F32]),
        functype([I32, I32, I32, I32, F32, F32, F32, F32, F32, F32]),
      ]),
    ),
    ...section(2, vec([[...name('env'), ...name('mem'), 0x02, 0x00, 0x00]])), // memory, min 0 pages, no max
    ...section(3, vec([[0], [1]])),
    ...section(
      7,
      vec([
        [...name('adam'), 0x00, 0],
        [...name('sgd'), 0x00, 1],
      ]),
    ),
    ...section(
      10,
      vec([
        [...uleb(adamBytes.length), ...adamBytes],
        [...uleb(sgdBytes.length), ...sgdBytes],
      ]),
    ),
  ]);
}

/** The part of the WebAssembly JS API used here (its types live in TypeScript's DOM lib, not loaded). */
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule, imports: object) => { exports: Record<string, unknown> };
  Memory: new (desc: { initial: number }) => { buffer: ArrayBuffer };
}
type WasmModule = { readonly __wasmModule?: never };

const wasmApi = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;

let compiled: WasmModule | null | undefined;

/** The compiled module, or null where WebAssembly SIMD is unavailable. */
function optimizerWasm(): WasmModule | null {
  if (compiled === undefined) {
    try {
      const bytes = optimizerModule();
      compiled = wasmApi?.validate(bytes) ? new wasmApi.Module(bytes) : null;
    } catch {
      compiled = null;
    }
  }
  return compiled;
}

type AdamFn = (
  p: number,
  g: number,
  m: number,
  v: number,
  n: number,
  b1: number,
  b2: number,
  c1: number,
  c2: number,
  step: number,
  eps: number,
  l2: number,
  shrink: number,
) => void;
type SgdFn = (p: number, g: number, b: number, n: number, wd: number, mom: number, damp: number, a: number, c: number, lr: number) => void;

/** n rounded up to a multiple of 4 floats (one v128): the kernels run whole lanes. */
const padded4 = (n: number) => Math.ceil(n / 4) * 4;

/** Largest memory used (bytes): well inside wasm32's 4 GiB and what engines allow by default. */
const MAX_BYTES = 2 ** 31;

/**
 * Parameters, gradients and `slotCount` state arrays per tensor (Adam: m and v; SGD: the momentum
 * buffer), as views of one WebAssembly memory, with the kernels that update them.
 */
export class WasmOptimizerState {
  readonly params: Float32Array[] = [];
  readonly grads: Float32Array[] = [];
  /** slots[j][k]: state array j of tensor k. */
  readonly slots: Float32Array[][];
  private readonly offsets: { p: number; g: number; s: number[]; n4: number }[] = [];
  private readonly adamFn: AdamFn;
  private readonly sgdFn: SgdFn;

  private constructor(sizes: readonly number[], slotCount: number, bytes: number, module: WasmModule, api: WasmApi) {
    const memory = new api.Memory({ initial: Math.max(1, Math.ceil(bytes / 65536)) });
    const exports = new api.Instance(module, { env: { mem: memory } }).exports;
    this.adamFn = exports.adam as AdamFn;
    this.sgdFn = exports.sgd as SgdFn;
    this.slots = Array.from({ length: slotCount }, () => []);
    let at = 0;
    const take = (n: number, n4: number) => {
      const view = new Float32Array(memory.buffer, at, n);
      at += 4 * n4;
      return view;
    };
    sizes.forEach((n) => {
      const n4 = padded4(n);
      const o = { p: at, g: 0, s: [] as number[], n4 };
      this.params.push(take(n, n4));
      o.g = at;
      this.grads.push(take(n, n4));
      for (let j = 0; j < slotCount; j++) {
        o.s.push(at);
        this.slots[j]!.push(take(n, n4));
      }
      this.offsets.push(o);
    });
  }

  /** State for these parameter sizes, or undefined where the kernels cannot run (no SIMD, too large). */
  static create(sizes: readonly number[], slotCount: number): WasmOptimizerState | undefined {
    const module = optimizerWasm();
    // Each tensor: parameters, gradients and the slots, each padded to whole f32x4 lanes.
    const bytes = sizes.reduce((a, n) => a + 4 * (2 + slotCount) * padded4(n), 0);
    if (!module || !wasmApi || bytes > MAX_BYTES) return undefined;
    return new WasmOptimizerState(sizes, slotCount, bytes, module, wasmApi);
  }

  /** True when `params`/`grads` are this state's own views (then the kernels can run). */
  owns(params: readonly Float32Array[], grads: readonly Float32Array[]): boolean {
    return params.length === this.params.length && params.every((p, k) => p === this.params[k] && grads[k] === this.grads[k]);
  }

  adam(k: number, b1: number, b2: number, c1: number, c2: number, step: number, eps: number, l2: number, shrink: number): void {
    const o = this.offsets[k]!;
    this.adamFn(o.p, o.g, o.s[0]!, o.s[1]!, o.n4, b1, b2, c1, c2, step, eps, l2, shrink);
  }

  sgd(k: number, wd: number, mom: number, damp: number, a: number, c: number, lr: number): void {
    const o = this.offsets[k]!;
    this.sgdFn(o.p, o.g, o.s[0]!, o.n4, wd, mom, damp, a, c, lr);
  }
}
