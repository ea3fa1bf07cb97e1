import { badInput } from '../../errors.js';
import type { Distribution, FrozenTrial, ParamValue } from '../types.js';
import type { Sampler, StudyView } from './base.js';
import { specOf, untransformValue } from './parzen.js';
import { sampleUniform } from './random.js';
import { Rng } from './rng.js';

export interface QMCOptions {
  seed?: number;
  /** Random digit permutations per dimension (Owen-style scrambling of each base-b digit). Default true. */
  scramble?: boolean;
}

const INDEX_KEY = 'qmc:index';

/**
 * Quasi-random search with the Halton sequence (dimension j in the j-th prime base), scrambled by random
 * digit permutations. The search space is fixed by the first finished trial (sampled at random), as in
 * Optuna's QMCSampler; point k goes to the k-th trial that samples from the sequence, so trials spread
 * evenly over the space instead of clumping as independent draws do.
 */
export class QMCSampler implements Sampler {
  private readonly rng: Rng;
  private readonly scramble: boolean;
  private readonly seed: number;
  private perms: Uint16Array[][] = [];

  constructor(opts: QMCOptions = {}) {
    this.rng = new Rng(opts.seed);
    this.seed = opts.seed ?? Math.floor(Math.random() * 2 ** 31);
    this.scramble = opts.scramble ?? true;
  }

  inferRelativeSearchSpace(study: StudyView): Record<string, Distribution> {
    const first = study.trials.find((t) => t.state === 'complete' || t.state === 'pruned');
    if (!first) return {};
    const out: Record<string, Distribution> = {};
    for (const k of Object.keys(first.distributions).sort()) {
      const d = first.distributions[k]!;
      if (d.type === 'categorical' ? d.choices.length > 1 : d.low !== d.high) out[k] = d;
    }
    return out;
  }

  sampleRelative(study: StudyView, trial: FrozenTrial, space: Record<string, Distribution>): Record<string, ParamValue> {
    const names = Object.keys(space);
    if (names.length === 0) return {};
    if (names.length > PRIMES.length) throw badInput(`QMC sampler supports at most ${PRIMES.length} parameters (got ${names.length})`);
    let index = 0;
    for (const t of study.trials) {
      const i = t.systemAttrs[INDEX_KEY];
      if (typeof i === 'number' && i >= index) index = i + 1;
    }
    study.setTrialSystemAttr(trial, INDEX_KEY, index);
    // Unscrambled Halton starts at the origin; skip it.
    const u = this.point(this.scramble ? index : index + 1, names.length);
    const out: Record<string, ParamValue> = {};
    names.forEach((k, j) => {
      const d = space[k]!;
      const s = specOf(d);
      if (s.kind === 'cat') out[k] = d.type === 'categorical' ? d.choices[Math.min(s.n - 1, Math.floor(u[j]! * s.n))]! : null;
      else out[k] = untransformValue(d, s.low - s.step / 2 + u[j]! * (s.high - s.low + s.step));
    });
    return out;
  }

  sampleIndependent(_study: StudyView, _trial: FrozenTrial, _name: string, d: Distribution): ParamValue {
    return sampleUniform(this.rng, d);
  }

  /** The index-th point of the (scrambled) Halton sequence in [0, 1)^dims. */
  point(index: number, dims: number): number[] {
    return Array.from({ length: dims }, (_, j) => {
      const b = PRIMES[j]!;
      let f = 1;
      let r = 0;
      let i = index;
      for (let digit = 0; digit < 40 && (i > 0 || (this.scramble && digit < 12)); digit++) {
        f /= b;
        const d = i % b;
        r += f * (this.scramble ? this.perm(j, digit)[d]! : d);
        i = Math.floor(i / b);
      }
      return Math.min(r, 1 - 1e-12);
    });
  }

  /** A fixed random permutation of the digits of base PRIMES[j] at position `digit`. */
  private perm(j: number, digit: number): Uint16Array {
    this.perms[j] ??= [];
    let p = this.perms[j]![digit];
    if (!p) {
      const r = new Rng(this.seed * 1000003 + j * 1009 + digit);
      p = Uint16Array.from(r.shuffle(Array.from({ length: PRIMES[j]! }, (_, i) => i)));
      this.perms[j]![digit] = p;
    }
    return p;
  }
}

const PRIMES = [
  2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97, 101, 103, 107, 109, 113, 127, 131, 137,
  139, 149, 151, 157, 163, 167, 173, 179, 181, 191, 193, 197, 199,
];
