/**
 * The small dense linear algebra and optimizer the GP sampler needs: Cholesky with jitter, triangular
 * solves, and a projected L-BFGS for box-bounded smooth minimization. Matrices are row-major Float64Arrays.
 */

/** Lower Cholesky factor of the n×n SPD matrix `a`; adds growing jitter to the diagonal until it succeeds. */
export function cholesky(a: Float64Array, n: number): Float64Array {
  let jitter = 0;
  let scale = 0;
  for (let i = 0; i < n; i++) scale = Math.max(scale, Math.abs(a[i * n + i]!));
  scale = scale || 1;
  for (let attempt = 0; attempt < 12; attempt++) {
    const l = tryCholesky(a, n, jitter);
    if (l) return l;
    jitter = jitter === 0 ? 1e-10 * scale : jitter * 10;
  }
  throw new Error('Cholesky failed: matrix is not positive definite even with jitter');
}

function tryCholesky(a: Float64Array, n: number, jitter: number): Float64Array | undefined {
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    for (let j = 0; j <= i; j++) {
      const rj = j * n;
      let s = a[ri + j]!;
      for (let k = 0; k < j; k++) s -= l[ri + k]! * l[rj + k]!;
      if (i === j) {
        s += jitter;
        if (!(s > 0)) return undefined;
        l[ri + i] = Math.sqrt(s);
      } else l[ri + j] = s / l[rj + j]!;
    }
  }
  return l;
}

/** Solves L x = b (L lower triangular). */
export function solveLower(l: Float64Array, n: number, b: ArrayLike<number>): Float64Array {
  const x = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = b[i]!;
    const ri = i * n;
    for (let k = 0; k < i; k++) s -= l[ri + k]! * x[k]!;
    x[i] = s / l[ri + i]!;
  }
  return x;
}

/** Solves Lᵀ x = b. */
export function solveUpperT(l: Float64Array, n: number, b: ArrayLike<number>): Float64Array {
  const x = Float64Array.from(b);
  for (let i = n - 1; i >= 0; i--) {
    let s = x[i]!;
    for (let k = i + 1; k < n; k++) s -= l[k * n + i]! * x[k]!;
    x[i] = s / l[i * n + i]!;
  }
  return x;
}

/** A⁻¹ from A's Cholesky factor: (L⁻¹)ᵀ L⁻¹, with row-wise (contiguous) inner loops. */
export function choleskyInverse(l: Float64Array, n: number): Float64Array {
  // M = L⁻¹ row by row: M_i = (e_i − Σ_{k<i} L_ik M_k) / L_ii.
  const m = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    for (let k = 0; k < i; k++) {
      const c = l[ri + k]!;
      if (c === 0) continue;
      const rk = k * n;
      for (let j = 0; j <= k; j++) m[ri + j]! -= c * m[rk + j]!;
    }
    m[ri + i]! += 1;
    const d = 1 / l[ri + i]!;
    for (let j = 0; j <= i; j++) m[ri + j]! *= d;
  }
  // A⁻¹ = Mᵀ M = Σ_k (row k of M)ᵀ (row k of M); fill the lower triangle, then mirror.
  const inv = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    const rk = k * n;
    for (let i = 0; i <= k; i++) {
      const c = m[rk + i]!;
      if (c === 0) continue;
      const ri = i * n;
      for (let j = 0; j <= i; j++) inv[ri + j]! += c * m[rk + j]!;
    }
  }
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) inv[j * n + i] = inv[i * n + j]!;
  return inv;
}

export interface MinimizeOptions {
  lower?: number[];
  upper?: number[];
  /** Coordinates held fixed (e.g. categorical ones). */
  fixed?: boolean[];
  maxIter?: number;
  memory?: number;
}

/**
 * Minimizes a smooth f (value and gradient) from x0 by L-BFGS; with bounds, steps are projected onto
 * the box and coordinates pinned at a bound by their gradient are frozen (a simple L-BFGS-B).
 */
export function minimize(
  f: (x: Float64Array) => [number, Float64Array],
  x0: ArrayLike<number>,
  opts: MinimizeOptions = {},
): { x: Float64Array; value: number } {
  const n = x0.length;
  const maxIter = opts.maxIter ?? 100;
  const m = opts.memory ?? 8;
  const lo = opts.lower;
  const hi = opts.upper;
  const project = (x: Float64Array) => {
    if (lo) for (let i = 0; i < n; i++) if (x[i]! < lo[i]!) x[i] = lo[i]!;
    if (hi) for (let i = 0; i < n; i++) if (x[i]! > hi[i]!) x[i] = hi[i]!;
    return x;
  };
  let x = project(Float64Array.from(x0));
  let [fx, g] = f(x);
  if (!Number.isFinite(fx)) return { x, value: fx };
  const S: Float64Array[] = [];
  const Y: Float64Array[] = [];
  const free = new Uint8Array(n);
  for (let iter = 0; iter < maxIter; iter++) {
    let gmax = 0;
    for (let i = 0; i < n; i++) {
      const pinned = opts.fixed?.[i] || (lo && x[i]! <= lo[i]! && g[i]! > 0) || (hi && x[i]! >= hi[i]! && g[i]! < 0);
      free[i] = pinned ? 0 : 1;
      if (free[i]) gmax = Math.max(gmax, Math.abs(g[i]!));
    }
    if (gmax < 1e-7) break;
    // Two-loop recursion on the free coordinates.
    const q = Float64Array.from(g, (v, i) => (free[i] ? v : 0));
    const alpha: number[] = [];
    for (let k = S.length - 1; k >= 0; k--) {
      const a = dot(S[k]!, q, free) / dot(Y[k]!, S[k]!, free);
      alpha[k] = a;
      for (let i = 0; i < n; i++) if (free[i]) q[i]! -= a * Y[k]![i]!;
    }
    if (S.length) {
      const last = S.length - 1;
      const gamma = dot(S[last]!, Y[last]!, free) / dot(Y[last]!, Y[last]!, free);
      if (Number.isFinite(gamma) && gamma > 0) for (let i = 0; i < n; i++) q[i]! *= gamma;
    }
    for (let k = 0; k < S.length; k++) {
      const b = dot(Y[k]!, q, free) / dot(Y[k]!, S[k]!, free);
      for (let i = 0; i < n; i++) if (free[i]) q[i]! += S[k]![i]! * (alpha[k]! - b);
    }
    const d = q.map((v, i) => (free[i] ? -v : 0));
    let dg = dot(d, g, free);
    if (!(dg < 0)) {
      for (let i = 0; i < n; i++) d[i] = free[i] ? -g[i]! : 0;
      dg = dot(d, g, free);
      S.length = 0;
      Y.length = 0;
    }
    let t = S.length === 0 ? Math.min(1, 1 / Math.sqrt(-dg)) : 1;
    let accepted = false;
    let xn = x;
    let fn = fx;
    let gn = g;
    for (let ls = 0; ls < 30; ls++) {
      xn = project(Float64Array.from(x, (v, i) => v + t * d[i]!));
      [fn, gn] = f(xn);
      let decrease = 0;
      for (let i = 0; i < n; i++) decrease += g[i]! * (xn[i]! - x[i]!);
      if (Number.isFinite(fn) && fn <= fx + 1e-4 * decrease) {
        accepted = true;
        break;
      }
      t *= 0.5;
    }
    if (!accepted) break;
    const s = Float64Array.from(xn, (v, i) => v - x[i]!);
    const y = Float64Array.from(gn, (v, i) => v - g[i]!);
    if (dot(s, y) > 1e-12) {
      S.push(s);
      Y.push(y);
      if (S.length > m) {
        S.shift();
        Y.shift();
      }
    }
    const done = Math.abs(fx - fn) < 1e-10 * (1 + Math.abs(fx));
    x = xn;
    fx = fn;
    g = gn;
    if (done) break;
  }
  return { x, value: fx };
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>, mask?: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) if (!mask || mask[i]) s += a[i]! * b[i]!;
  return s;
}
