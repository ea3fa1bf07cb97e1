/**
 * Learning-rate schedules as functions of the step (PyTorch's formulas), composable with a linear
 * warm-up. Reduce-on-plateau is the one stateful schedule: it also observes a metric per epoch.
 */
import { badInput } from '../errors.js';

export type ScheduleSpec =
  | { kind: 'constant' }
  | { kind: 'step'; stepSize: number; gamma?: number }
  | { kind: 'multistep'; milestones: number[]; gamma?: number }
  | { kind: 'exponential'; gamma: number }
  /** Cosine annealing over `period` steps; with `restarts`, SGDR: period grows by `mult` after each restart. */
  | { kind: 'cosine'; period: number; minLr?: number; restarts?: boolean; mult?: number }
  /** One-cycle: cosine up from lr/div to lr over pctStart of `totalSteps`, then down to lr/(div·finalDiv). */
  | { kind: 'onecycle'; totalSteps: number; pctStart?: number; div?: number; finalDiv?: number }
  | { kind: 'plateau'; factor?: number; patience?: number; threshold?: number; cooldown?: number; minLr?: number };

export const SCHEDULE_KINDS = ['constant', 'step', 'multistep', 'exponential', 'cosine', 'onecycle', 'plateau'] as const;

export interface Schedule {
  /** The learning rate for step `t` (0-based). */
  lr(t: number): number;
  /** Reports an epoch's validation metric (lower is better); only reduce-on-plateau uses it. */
  observe(metric: number): void;
  state(): Record<string, number>;
  loadState(s: Record<string, number>): void;
}

/** Builds a schedule for base learning rate `base`, optionally preceded by `warmup` linear steps. */
export function createSchedule(spec: ScheduleSpec, base: number, warmup?: { steps: number; startFactor?: number }): Schedule {
  if (!(base > 0)) throw badInput(`the learning rate must be > 0, got ${base}`);
  const inner = make(spec, base);
  if (!warmup || warmup.steps <= 0) return inner;
  const start = warmup.startFactor ?? 0.01;
  return {
    ...inner,
    lr: (t) => (t < warmup.steps ? inner.lr(t) * (start + ((1 - start) * t) / warmup.steps) : inner.lr(t)),
  };
}

const stateless = (lr: (t: number) => number): Schedule => ({ lr, observe() {}, state: () => ({}), loadState() {} });

function positive(n: number, what: string): number {
  if (!(n > 0)) throw badInput(`${what} must be > 0, got ${n}`);
  return n;
}

function make(spec: ScheduleSpec, base: number): Schedule {
  switch (spec.kind) {
    case 'constant':
      return stateless(() => base);
    case 'step': {
      const size = positive(spec.stepSize, 'step schedule step size');
      const g = spec.gamma ?? 0.1;
      return stateless((t) => base * g ** Math.floor(t / size));
    }
    case 'multistep': {
      const ms = [...spec.milestones].sort((a, b) => a - b);
      const g = spec.gamma ?? 0.1;
      return stateless((t) => base * g ** ms.filter((m) => t >= m).length);
    }
    case 'exponential':
      return stateless((t) => base * positive(spec.gamma, 'exponential gamma') ** t);
    case 'cosine': {
      const period = positive(spec.period, 'cosine period');
      const min = spec.minLr ?? 0;
      const mult = spec.mult ?? 1;
      const cos = (t: number, T: number) => min + ((base - min) * (1 + Math.cos((Math.PI * t) / T))) / 2;
      if (!spec.restarts) return stateless((t) => cos(Math.min(t, period), period));
      return stateless((t) => {
        let T = period;
        while (t >= T) {
          t -= T;
          T *= mult;
        }
        return cos(t, T);
      });
    }
    case 'onecycle': {
      const total = positive(spec.totalSteps, 'one-cycle total steps');
      const up = Math.max(1, Math.floor((spec.pctStart ?? 0.3) * total) - 1);
      const initial = base / (spec.div ?? 25);
      const final = initial / (spec.finalDiv ?? 1e4);
      const anneal = (a: number, b: number, frac: number) => b + ((a - b) * (1 + Math.cos(Math.PI * frac))) / 2;
      return stateless((t) =>
        t <= up ? anneal(initial, base, t / up) : anneal(base, final, Math.min(1, (t - up) / Math.max(1, total - 1 - up))),
      );
    }
    case 'plateau': {
      const factor = spec.factor ?? 0.1;
      const patience = spec.patience ?? 10;
      const threshold = spec.threshold ?? 1e-4;
      const cooldown = spec.cooldown ?? 0;
      const minLr = spec.minLr ?? 0;
      let lr = base;
      let best = Infinity;
      let bad = 0;
      let cool = 0;
      return {
        lr: () => lr,
        observe(metric) {
          // PyTorch's default 'rel' mode: an improvement must beat best·(1 − threshold).
          if (metric < best * (1 - threshold)) {
            best = metric;
            bad = 0;
          } else bad++;
          if (cool > 0) {
            cool--;
            bad = 0;
          }
          if (bad > patience) {
            lr = Math.max(minLr, lr * factor);
            cool = cooldown;
            bad = 0;
          }
        },
        state: () => ({ lr, best, bad, cool }),
        loadState(s) {
          lr = s.lr ?? lr;
          best = s.best ?? best;
          bad = s.bad ?? 0;
          cool = s.cool ?? 0;
        },
      };
    }
  }
}
