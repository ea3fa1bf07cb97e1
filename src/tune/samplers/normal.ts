/**
 * Standard normal math in log space, accurate far into the tails: what TPE's truncated-normal kernels
 * and the GP's log expected improvement need. (Optuna's _truncnorm.py computes the same quantities.)
 */

const LOG_SQRT_2PI = 0.5 * Math.log(2 * Math.PI);
const SQRT1_2 = Math.SQRT1_2;

/** erf(z) by its everywhere-convergent series of positive terms (used for |z| < 2.5). */
function erfSeries(z: number): number {
  const z2 = z * z;
  let term = z;
  let sum = z;
  for (let n = 1; n < 200; n++) {
    term *= (2 * z2) / (2 * n + 1);
    sum += term;
    if (Math.abs(term) < 1e-17 * Math.abs(sum)) break;
  }
  return (2 / Math.sqrt(Math.PI)) * Math.exp(-z2) * sum;
}

/** log of the continued fraction in erfc(z) = exp(-z²)/√π · 1/CF(z), z ≥ 2.5 (modified Lentz). */
function logErfcCf(z: number): number {
  const tiny = 1e-300;
  // erfc(z) = exp(-z²)/√π · 1/(z + (1/2)/(z + 1/(z + (3/2)/(z + …))))
  let f = z;
  let c = z;
  let d = 0;
  for (let n = 1; n < 300; n++) {
    const an = n / 2;
    d = z + an * d;
    d = Math.abs(d) < tiny ? tiny : d;
    c = z + an / c;
    c = Math.abs(c) < tiny ? tiny : c;
    d = 1 / d;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return -z * z - 0.5 * Math.log(Math.PI) - Math.log(f);
}

/** log erfc(z). */
export function logErfc(z: number): number {
  if (z < 2.5) {
    if (z > -2.5) return Math.log1p(-erfSeries(z));
    return Math.log(2 - Math.exp(logErfcCf(-z)));
  }
  return logErfcCf(z);
}

export function erfc(z: number): number {
  return Math.exp(logErfc(z));
}

/** Φ(x), the standard normal CDF. */
export function ndtr(x: number): number {
  return 0.5 * erfc(-x * SQRT1_2);
}

/** log Φ(x), finite for every finite x. */
export function logNdtr(x: number): number {
  if (x > 0) return Math.log1p(-0.5 * erfc(x * SQRT1_2));
  return Math.log(0.5) + logErfc(-x * SQRT1_2);
}

/** log φ(x). */
export function logPhi(x: number): number {
  return -0.5 * x * x - LOG_SQRT_2PI;
}

/** log(Φ(b) − Φ(a)) for a ≤ b, without cancellation in either tail. */
export function logGaussMass(a: number, b: number): number {
  if (b <= 0) return logDiff(logNdtr(b), logNdtr(a));
  if (a > 0) return logDiff(logNdtr(-a), logNdtr(-b));
  return Math.log1p(-ndtr(a) - ndtr(-b));
}

/** log(exp(p) − exp(q)) for p ≥ q. */
function logDiff(p: number, q: number): number {
  if (q === -Infinity) return p;
  return p + Math.log1p(-Math.exp(q - p));
}

export function logAddExp(a: number, b: number): number {
  if (a === -Infinity) return b;
  if (b === -Infinity) return a;
  const m = Math.max(a, b);
  return m + Math.log(Math.exp(a - m) + Math.exp(b - m));
}

/** Φ⁻¹(p) for p in (0, 1): Acklam's rational approximation refined by one Halley step. */
export function ndtri(p: number): number {
  if (p <= 0) return -Infinity;
  if (p >= 1) return Infinity;
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const plow = 0.02425;
  let x: number;
  if (p < plow) {
    const q = Math.sqrt(-2 * Math.log(p));
    x =
      (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) /
      ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
  } else if (p <= 1 - plow) {
    const q = p - 0.5;
    const r = q * q;
    x =
      ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) /
      (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1);
  } else {
    const q = Math.sqrt(-2 * Math.log1p(-p));
    x =
      -(((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) /
      ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
  }
  // Halley step on Φ(x) − p.
  const e = ndtr(x) - p;
  const u = e * Math.sqrt(2 * Math.PI) * Math.exp(0.5 * x * x);
  return x - u / (1 + (x * u) / 2);
}

/** The x with log Φ(x) = y (y < 0), also where exp(y) underflows. */
export function ndtriExp(y: number): number {
  if (y >= 0) return Infinity;
  let x: number;
  if (y > -Math.LN2) x = -ndtri(-Math.expm1(y));
  else if (y > -700) x = ndtri(Math.exp(y));
  else {
    // log Φ(x) ≈ −x²/2 − log(−x) − log √(2π) for x → −∞.
    const t = -2 * y;
    x = -Math.sqrt(t - Math.log(t) - Math.log(2 * Math.PI));
  }
  // Newton on log Φ(x) − y; d/dx log Φ = φ/Φ.
  for (let i = 0; i < 3; i++) {
    const lf = logNdtr(x);
    const step = (lf - y) / Math.exp(logPhi(x) - lf);
    if (!Number.isFinite(step)) break;
    x -= step;
    if (Math.abs(step) < 1e-14 * Math.max(1, Math.abs(x))) break;
  }
  return x;
}

/** Quantile q of the standard normal truncated to [a, b] (a < b), stable in both tails. */
export function truncnormPpf(q: number, a: number, b: number): number {
  if (q <= 0) return a;
  if (q >= 1) return b;
  const mass = logGaussMass(a, b);
  const x = a < 0 ? ndtriExp(logAddExp(logNdtr(a), Math.log(q) + mass)) : -ndtriExp(logAddExp(logNdtr(-b), Math.log1p(-q) + mass));
  return Math.min(b, Math.max(a, x));
}
