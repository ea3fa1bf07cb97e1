/**
 * Adam's update as a WebAssembly SIMD kernel (f32x4), assembled here from its bytes — no binary file,
 * no toolchain. Parameters, gradients and both moments live in one WebAssembly.Memory; ORT reads the
 * parameters from and writes the gradients into views of that memory, so a step copies nothing.
 * The JS loop (optimizers.ts) stays the fallback where WebAssembly SIMD is missing or the state would
 * not fit a 32-bit memory.
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

/**
 * adam(p, g, m, v, n, b1, b2, c1, c2, step, eps, l2, shrink) over n floats (a multiple of 4) at byte
 * offsets p, g, m, v (16-byte aligned), the same arithmetic as optimizers.ts's adamKernel in float32:
 *   p' = p·shrink; g' = g + l2·p'; m = b1·m + c1·g'; v = b2·v + c2·g'²; p = p' − step·m/(√v + eps)
 */
function adamModule(): Uint8Array {
  // Locals: params 0-12, then i (13), end (14), eight splats (15-22), pi, gi, mi, vi (23-26).
  const [P, G, M, V, N] = [0, 1, 2, 3, 4];
  const [I, END] = [13, 14];
  const splat = (param: number) => 15 + (param - 5); // b1..shrink (params 5-12) → 15-22
  const [VB1, VB2, VC1, VC2, VSTEP, VEPS, VL2, VSHRINK] = [5, 6, 7, 8, 9, 10, 11, 12].map(splat);
  const [PI, GI, MI, VI] = [23, 24, 25, 26];
  const get = (l: number) => [LOCAL_GET, l];
  const set = (l: number) => [LOCAL_SET, l];
  const at = (base: number) => [...get(base), ...get(I), 0x6a /* i32.add */];
  const code = [
    ...get(N), 0x41, 2, 0x74 /* i32.shl */, ...set(END),
    ...[5, 6, 7, 8, 9, 10, 11, 12].flatMap((p) => [...get(p), ...f32x4Splat, ...set(splat(p))]),
    0x41, 0, ...set(I),
    0x02, 0x40, // block
    0x03, 0x40, // loop
    ...get(I), ...get(END), 0x4f /* i32.ge_u */, 0x0d, 1, // br_if out of the block
    ...at(P), ...v128Load, ...get(VSHRINK), ...f32x4Mul, ...set(PI),
    ...at(G), ...v128Load, ...get(VL2), ...get(PI), ...f32x4Mul, ...f32x4Add, ...set(GI),
    ...get(VB1), ...at(M), ...v128Load, ...f32x4Mul, ...get(VC1), ...get(GI), ...f32x4Mul, ...f32x4Add, ...set(MI),
    ...get(VB2), ...at(V), ...v128Load, ...f32x4Mul, ...get(VC2), ...get(GI), ...f32x4Mul, ...get(GI), ...f32x4Mul, ...f32x4Add, ...set(VI),
    ...at(M), ...get(MI), ...v128Store,
    ...at(V), ...get(VI), ...v128Store,
    ...at(P), ...get(PI), ...get(VSTEP), ...get(MI), ...f32x4Mul, ...get(VI), ...f32x4Sqrt, ...get(VEPS), ...f32x4Add, ...f32x4Div, ...f32x4Sub, ...v128Store,
    ...get(I), 0x41, 16, 0x6a, ...set(I),
    0x0c, 0, // br to the loop
    0x0b, 0x0b, // end loop, end block
    0x0b, // end function
  ];
  const locals = vec([[2, I32], [12, V128]]);
  const body = [...locals, ...code];
  const params = [I32, I32, I32, I32, I32, F32, F32, F32, F32, F32, F32, F32, F32];
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([[0x60, ...vec(params.map((t) => [t])), 0]])),
    ...section(2, vec([[...name('env'), ...name('mem'), 0x02, 0x00, 0x00]])), // memory, min 0 pages, no max
    ...section(3, vec([[0]])),
    ...section(7, vec([[...name('adam'), 0x00, 0]])),
    ...section(10, vec([[...uleb(body.length), ...body]])),
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
function adamWasm(): WasmModule | null {
  if (compiled === undefined) {
    try {
      const bytes = adamModule();
      compiled = wasmApi?.validate(bytes) ? new wasmApi.Module(bytes) : null;
    } catch {
      compiled = null;
    }
  }
  return compiled;
}

type AdamFn = (p: number, g: number, m: number, v: number, n: number,
  b1: number, b2: number, c1: number, c2: number, step: number, eps: number, l2: number, shrink: number) => void;

/** Largest memory used (bytes): well inside wasm32's 4 GiB and what engines allow by default. */
const MAX_BYTES = 2 ** 31;

/** Parameters, gradients and moments of every tensor, as views of one WebAssembly memory. */
export class WasmAdamState {
  readonly params: Float32Array[] = [];
  readonly grads: Float32Array[] = [];
  readonly m: Float32Array[] = [];
  readonly v: Float32Array[] = [];
  private readonly offsets: { p: number; g: number; m: number; v: number; n4: number }[] = [];
  private readonly fn: AdamFn;

  private constructor(sizes: readonly number[], module: WasmModule, api: WasmApi) {
    const padded = sizes.map((n) => Math.ceil(n / 4) * 4);
    const bytes = padded.reduce((a, n) => a + 16 * n, 0);
    const memory = new api.Memory({ initial: Math.max(1, Math.ceil(bytes / 65536)) });
    this.fn = new api.Instance(module, { env: { mem: memory } }).exports.adam as AdamFn;
    let at = 0;
    const take = (n: number, n4: number) => {
      const view = new Float32Array(memory.buffer, at, n);
      at += 4 * n4;
      return view;
    };
    sizes.forEach((n, k) => {
      const n4 = padded[k]!;
      const o = { p: at, g: 0, m: 0, v: 0, n4 };
      this.params.push(take(n, n4));
      o.g = at;
      this.grads.push(take(n, n4));
      o.m = at;
      this.m.push(take(n, n4));
      o.v = at;
      this.v.push(take(n, n4));
      this.offsets.push(o);
    });
  }

  /** State for these parameter sizes, or undefined where the kernel cannot run (no SIMD, too large). */
  static create(sizes: readonly number[]): WasmAdamState | undefined {
    const module = adamWasm();
    const bytes = sizes.reduce((a, n) => a + 16 * Math.ceil(n / 4) * 4, 0);
    if (!module || !wasmApi || bytes > MAX_BYTES) return undefined;
    return new WasmAdamState(sizes, module, wasmApi);
  }

  /** True when `params`/`grads` are this state's own views (then step() can run the kernel). */
  owns(params: readonly Float32Array[], grads: readonly Float32Array[]): boolean {
    return params.length === this.params.length && params.every((p, k) => p === this.params[k] && grads[k] === this.grads[k]);
  }

  step(k: number, b1: number, b2: number, c1: number, c2: number, step: number, eps: number, l2: number, shrink: number): void {
    const o = this.offsets[k]!;
    this.fn(o.p, o.g, o.m, o.v, o.n4, b1, b2, c1, c2, step, eps, l2, shrink);
  }
}
