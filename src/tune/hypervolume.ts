/**
 * Hypervolume of a set of points (losses: lower is better in every objective) up to a reference point:
 * the volume of the region the points dominate and the reference point bounds. Exact: a sweep for 2
 * objectives, 2-D sweeps over slices for 3, the WFG algorithm (While, Bradstreet & Barone 2012, "A fast
 * way of calculating exact hypervolumes") for 4 or more. Multi-objective TPE uses it to choose and weigh
 * its "good" trials.
 */

/** The hypervolume of `points` bounded by `reference`; points not strictly better than it in every objective add nothing. */
export function hypervolume(points: readonly (readonly number[])[], reference: readonly number[]): number {
  const m = reference.length;
  for (const p of points) if (p.length !== m) throw new Error(`hypervolume: a point has ${p.length} objectives, the reference ${m}`);
  return hv(
    points.filter((p) => p.every((v, k) => v < reference[k]!)),
    reference,
  );
}

/**
 * Each point's exclusive contribution: the hypervolume lost when it alone is removed. Dominated points get
 * 0, and so do points equal to another one (removing one of two equal points loses nothing).
 */
export function hypervolumeContributions(points: readonly (readonly number[])[], reference: readonly number[]): number[] {
  const m = reference.length;
  if (m === 2) return contributions2d(points, reference);
  return points.map((p, i) => {
    if (!p.every((v, k) => v < reference[k]!)) return 0;
    const others = points.filter((_, j) => j !== i);
    return exclusive(p, others, reference);
  });
}

/**
 * Greedy hypervolume subset selection: `k` indices of `points`, each step adding the point that adds the
 * most hypervolume to those already chosen (ties: the lower index). The greedy choice is within a factor
 * (1 − 1/e) of the best subset, hypervolume being submodular; Optuna's MOTPE uses the same greedy rule.
 * Submodularity also means a point's gain only shrinks as the subset grows, so gains computed in earlier
 * steps bound the current ones and only the candidate on top needs recomputing ("lazy greedy", Minoux
 * 1978): the same picks at a fraction of the cost.
 */
export function greedyHypervolumeSubset(points: readonly (readonly number[])[], k: number, reference: readonly number[]): number[] {
  const inside = points.map((p) => p.every((v, j) => v < reference[j]!));
  const bound = points.map((p, i) => (inside[i] ? p.reduce((a, v, j) => a * (reference[j]! - v), 1) : 0));
  const fresh = new Array<boolean>(points.length).fill(true);
  const taken = new Array<boolean>(points.length).fill(false);
  const chosen: number[] = [];
  const chosenPoints: (readonly number[])[] = [];
  while (chosen.length < Math.min(k, points.length)) {
    for (;;) {
      let top = -1;
      for (let i = 0; i < points.length; i++) if (!taken[i] && (top < 0 || bound[i]! > bound[top]!)) top = i;
      if (fresh[top]) {
        taken[top] = true;
        chosen.push(top);
        chosenPoints.push(points[top]!);
        fresh.fill(false);
        break;
      }
      bound[top] = inside[top] ? exclusive(points[top]!, chosenPoints, reference) : 0;
      fresh[top] = true;
    }
  }
  return chosen;
}

/**
 * A reference point for a set of losses: the worst value per objective plus a tenth of that objective's
 * range (1 where the range is 0), so the extreme points contribute volume. Unlike Optuna's
 * max(1.1·worst, 0.9·worst), it does not depend on where the objective's zero is.
 */
export function referencePoint(points: readonly (readonly number[])[]): number[] {
  const m = points[0]?.length ?? 0;
  return Array.from({ length: m }, (_, k) => {
    let lo = Infinity;
    let hi = -Infinity;
    for (const p of points) {
      lo = Math.min(lo, p[k]!);
      hi = Math.max(hi, p[k]!);
    }
    const range = hi - lo;
    return hi + (range > 0 && Number.isFinite(range) ? 0.1 * range : 1);
  });
}

/** hv of `p`'s box minus what `others` already cover of it. */
function exclusive(p: readonly number[], others: readonly (readonly number[])[], reference: readonly number[]): number {
  let box = 1;
  for (let k = 0; k < p.length; k++) box *= reference[k]! - p[k]!;
  // The part of `others` inside p's box: each clipped to its component-wise max with p.
  const limited = others.filter((q) => q.every((v, k) => v < reference[k]!)).map((q) => q.map((v, k) => Math.max(v, p[k]!)));
  return box - hv(limited, reference);
}

/** Points all strictly inside the reference box. */
function hv(points: readonly (readonly number[])[], reference: readonly number[]): number {
  if (points.length === 0) return 0;
  const m = reference.length;
  if (m === 1) return reference[0]! - Math.min(...points.map((p) => p[0]!));
  if (m === 2) return hv2d(points, reference);
  if (m === 3) return hv3d(points, reference);
  const front = nondominated(points);
  if (front.length === 1) return front[0]!.reduce((a, v, k) => a * (reference[k]! - v), 1);
  // WFG: sorted by the first objective (worst first keeps the limit sets small), the volume is the sum
  // of each point's volume exclusive of the points after it.
  front.sort((a, b) => b[0]! - a[0]!);
  let total = 0;
  for (let i = 0; i < front.length; i++) total += exclusive(front[i]!, front.slice(i + 1), reference);
  return total;
}

function hv2d(points: readonly (readonly number[])[], reference: readonly number[]): number {
  const sorted = [...points].sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!);
  let total = 0;
  let y = reference[1]!;
  for (const p of sorted) {
    if (p[1]! >= y) continue;
    total += (reference[0]! - p[0]!) * (y - p[1]!);
    y = p[1]!;
  }
  return total;
}

/** Slices along the third objective: each slab's 2-D hypervolume of the points below it, O(n² log n). */
function hv3d(points: readonly (readonly number[])[], reference: readonly number[]): number {
  const sorted = [...points].sort((a, b) => a[2]! - b[2]!);
  let total = 0;
  for (let i = 0; i < sorted.length; i++) {
    const top = i + 1 < sorted.length ? sorted[i + 1]![2]! : reference[2]!;
    if (top > sorted[i]![2]!) total += hv2d(sorted.slice(0, i + 1), reference) * (top - sorted[i]![2]!);
  }
  return total;
}

function contributions2d(points: readonly (readonly number[])[], reference: readonly number[]): number[] {
  const out = new Array<number>(points.length).fill(0);
  const inside = points.map((p, i) => ({ p, i })).filter(({ p }) => p[0]! < reference[0]! && p[1]! < reference[1]!);
  inside.sort((a, b) => a.p[0]! - b.p[0]! || a.p[1]! - b.p[1]!);
  // The staircase: points that strictly improve the second objective, in order of the first.
  const stairs: { p: readonly number[]; i: number }[] = [];
  let y = reference[1]!;
  for (const s of inside) {
    if (s.p[1]! < y) {
      stairs.push(s);
      y = s.p[1]!;
    }
  }
  for (let k = 0; k < stairs.length; k++) {
    const { p, i } = stairs[k]!;
    const nextX = k + 1 < stairs.length ? stairs[k + 1]!.p[0]! : reference[0]!;
    const prevY = k > 0 ? stairs[k - 1]!.p[1]! : reference[1]!;
    out[i] = (nextX - p[0]!) * (prevY - p[1]!);
  }
  // A point equal to a stair point shares its volume: removing either loses nothing.
  for (const s of inside) {
    if (out[s.i] === 0) continue;
    if (inside.some((o) => o.i !== s.i && o.p[0] === s.p[0] && o.p[1] === s.p[1])) out[s.i] = 0;
  }
  return out;
}

/** The non-dominated points of a set (one copy of equal points), losses to minimize. */
function nondominated(points: readonly (readonly number[])[]): (readonly number[])[] {
  const out: (readonly number[])[] = [];
  for (let i = 0; i < points.length; i++) {
    const p = points[i]!;
    let dominated = false;
    for (let j = 0; j < points.length && !dominated; j++) {
      if (i === j) continue;
      const q = points[j]!;
      let weaklyBetter = true;
      let equal = true;
      for (let k = 0; k < p.length; k++) {
        if (q[k]! > p[k]!) {
          weaklyBetter = false;
          break;
        }
        if (q[k]! < p[k]!) equal = false;
      }
      // q dominates p, or q equals p and comes first.
      if (weaklyBetter && (!equal || j < i)) dominated = true;
    }
    if (!dominated) out.push(p);
  }
  return out;
}
