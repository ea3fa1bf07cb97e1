/**
 * How the auto sampler's rule for small numeric spaces was chosen: candidate rules for sharing trials
 * between the GP, TPE and the GP in a trust region (the local arm), run on the five benchmark functions (100 trials) over held-out seeds
 * `--from`…`--to` (default 10–59; seeds 0–9 are kept for the reported table in bench/tune.ts), beside
 * Hone's TPE and GP samplers alone. Per function: the median regret and its ratio to the better of TPE
 * and GP (the issue's target is ≤ 1.2 on each). Regrets are deterministic per seed.
 *
 *   npx tsx bench/tune-auto-select.ts [--from 10] [--to 59] [--only NAME,NAME] [--functions hartmann6,levy5]
 *
 * Prints a markdown table (docs/benchmarks.md, "The auto sampler") and, last, one JSON line.
 */
import { benchmarkFunctions, runBenchmark } from '../src/tune/benchmarks.js';
import {
  AUTO_REFINEMENT,
  type AutoRule,
  type AutoStep,
  AutoSampler,
  type LocalRefinement,
  landingBandit,
  trustLength,
  withLocalRefinement,
} from '../src/tune/samplers/auto.js';
import type { Sampler } from '../src/tune/samplers/base.js';
import { GPSampler } from '../src/tune/samplers/gp.js';
import type { Rng } from '../src/tune/samplers/rng.js';
import { TPESampler } from '../src/tune/samplers/tpe.js';

const args = process.argv.slice(2);
const flag = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : dflt;
};
const FROM = Number(flag('from', '10'));
const TO = Number(flag('to', '59'));
const ONLY = flag('only', '');
const FUNCTIONS = flag('functions', '');
const TRIALS = 100;

/** Thompson sampling on "improved the best so far", each arm's Beta posterior discounted by `d` per own proposal. */
function thompson(d: number): AutoRule {
  const gamma = (rng: Rng, a: number): number => {
    // Marsaglia & Tsang; a < 1 by the boost a → a + 1.
    if (a < 1) return gamma(rng, a + 1) * rng.random() ** (1 / a);
    const dd = a - 1 / 3;
    const c = 1 / Math.sqrt(9 * dd);
    for (;;) {
      let x: number;
      let v: number;
      do {
        x = rng.normal();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      if (Math.log(rng.random()) < 0.5 * x * x + dd - dd * v + dd * Math.log(v)) return dd * v;
    }
  };
  const draw = (rng: Rng, h: readonly AutoStep[], arm: 'gp' | 'tpe') => {
    const own = h.filter((x) => x.who === arm);
    let a = 1;
    let b = 1;
    own.forEach((x, i) => {
      const w = d ** (own.length - 1 - i);
      if (x.improved) a += w;
      else b += w;
    });
    const ga = gamma(rng, a);
    return ga / (ga + gamma(rng, b));
  };
  return (h, rng) => (draw(rng, h, 'gp') >= draw(rng, h, 'tpe') ? 'gp' : 'tpe');
}

/** GP and TPE alternate for `len` proposals; then the landing bandit if the GP landed in the top 10% at least `theta` × as often as TPE, else TPE. */
function race(len: number, theta: number): AutoRule {
  return (h, rng) => {
    if (h.length < len) return h.length % 2 === 0 ? 'gp' : 'tpe';
    const rate = (arm: 'gp' | 'tpe') => {
      const own = h.slice(0, len).filter((x) => x.who === arm);
      return own.filter((x) => x.better < Math.max(1, Math.ceil(0.1 * x.earlier))).length / Math.max(1, own.length);
    };
    return rate('gp') >= theta * rate('tpe') ? BANDIT(h, rng) : 'tpe';
  };
}

/** The two-armed bandit alone: the rule before local refinement (2026-12-03). */
const BANDIT = landingBandit({ quantile: 0.1, window: 10, maxGap: 16 });
const stalled = (stall: number, every: number, more: Partial<LocalRefinement> = {}) =>
  withLocalRefinement(BANDIT, { ...AUTO_REFINEMENT, stall, every, ...more });
/** The local arm from a fixed trial on: its trust region adapted over all its proposals, restarted at 0.8 on collapse. */
const local = (h: readonly AutoStep[]) => ({ local: trustLength(h, { ...AUTO_REFINEMENT, stall: Infinity }) });

const all: { name: string; make: (seed: number) => Sampler }[] = [
  { name: 'Hone TPE', make: (seed) => new TPESampler({ seed }) },
  { name: 'Hone GP', make: (seed) => new GPSampler({ seed }) },
  { name: 'auto: stall 5, then local, every 4th the bandit (chosen)', make: (seed) => new AutoSampler({ seed }) },
  {
    name: 'auto: stall 5, local, every 4th the bandit; a collapsed region hands back to the bandit',
    make: (seed) => new AutoSampler({ seed, rule: stalled(5, 4, { afterCollapse: 'global' }) }),
  },
  {
    name: 'auto: stall 5, local, every 4th the bandit; a collapsed region hands over to the GP',
    make: (seed) => new AutoSampler({ seed, rule: stalled(5, 4, { afterCollapse: 'gp' }) }),
  },
  {
    name: 'auto: stall 5, local halved after 3 misses, collapse to the GP',
    make: (seed) => new AutoSampler({ seed, rule: stalled(5, 4, { afterCollapse: 'gp', failures: 3 }) }),
  },
  {
    name: 'auto: stall 5, local, every 4th the GP',
    make: (seed) => new AutoSampler({ seed, rule: stalled(5, 4, { globalArm: 'gp' }) }),
  },
  {
    name: 'auto: stall 5, local, every 3rd the GP',
    make: (seed) => new AutoSampler({ seed, rule: stalled(5, 3, { globalArm: 'gp' }) }),
  },
  {
    name: 'auto: stall 5, local, every 2nd the GP',
    make: (seed) => new AutoSampler({ seed, rule: stalled(5, 2, { globalArm: 'gp' }) }),
  },
  {
    name: 'auto: stall 5, local, every 4th the GP; collapse to the GP',
    make: (seed) => new AutoSampler({ seed, rule: stalled(5, 4, { globalArm: 'gp', afterCollapse: 'gp' }) }),
  },
  { name: 'auto (chosen), 20 random startup trials', make: (seed) => new AutoSampler({ seed, nStartupTrials: 20 }) },
  { name: 'auto (chosen), 5 random startup trials', make: (seed) => new AutoSampler({ seed, nStartupTrials: 5 }) },
  {
    name: 'auto: the GP for the first 10 proposals, then the chosen rule',
    make: (seed) => new AutoSampler({ seed, rule: (h, rng) => (h.length < 10 ? 'gp' : withLocalRefinement(BANDIT)(h, rng)) }),
  },
  {
    name: 'auto: TPE for the first 10 proposals, then the chosen rule',
    make: (seed) => new AutoSampler({ seed, rule: (h, rng) => (h.length < 10 ? 'tpe' : withLocalRefinement(BANDIT)(h, rng)) }),
  },
  {
    name: 'auto: stall 5, local halved after 6 misses, collapse to the bandit',
    make: (seed) => new AutoSampler({ seed, rule: stalled(5, 4, { afterCollapse: 'global', failures: 6 }) }),
  },
  {
    name: 'auto: stall 5, local halved after 3 misses, collapse to the bandit',
    make: (seed) => new AutoSampler({ seed, rule: stalled(5, 4, { afterCollapse: 'global', failures: 3 }) }),
  },
  { name: 'auto: stall 10, then local, every 4th the bandit', make: (seed) => new AutoSampler({ seed, rule: stalled(10, 4) }) },
  { name: 'auto: landing bandit alone, top 10%, window 10, gap ≤ 16 (before)', make: (seed) => new AutoSampler({ seed, rule: BANDIT }) },
  {
    name: 'auto: landing bandit, top 15%',
    make: (seed) => new AutoSampler({ seed, rule: landingBandit({ quantile: 0.15, window: 10, maxGap: 16 }) }),
  },
  {
    name: 'auto: landing bandit, window 5',
    make: (seed) => new AutoSampler({ seed, rule: landingBandit({ quantile: 0.1, window: 5, maxGap: 16 }) }),
  },
  {
    name: 'auto: landing bandit, gap ≤ 32',
    make: (seed) => new AutoSampler({ seed, rule: landingBandit({ quantile: 0.1, window: 10, maxGap: 32 }) }),
  },
  { name: 'auto: race of 20, then bandit or TPE', make: (seed) => new AutoSampler({ seed, rule: race(20, 0.75) }) },
  { name: 'auto: Thompson sampling on improvements (discount 0.9)', make: (seed) => new AutoSampler({ seed, rule: thompson(0.9) }) },
  {
    name: 'auto: bandit, then local (TuRBO box) from trial 60',
    make: (seed) => new AutoSampler({ seed, rule: (h, rng) => (h.length >= 50 ? local(h) : BANDIT(h, rng)) }),
  },
  {
    name: 'auto: bandit, then local every other trial from trial 50',
    make: (seed) => new AutoSampler({ seed, rule: (h, rng) => (h.length >= 40 && h.length % 2 === 0 ? local(h) : BANDIT(h, rng)) }),
  },
  {
    name: 'auto: bandit, then local from trial 80',
    make: (seed) => new AutoSampler({ seed, rule: (h, rng) => (h.length >= 70 ? local(h) : BANDIT(h, rng)) }),
  },
  {
    name: 'auto: bandit, then local from trial 40',
    make: (seed) => new AutoSampler({ seed, rule: (h, rng) => (h.length >= 30 ? local(h) : BANDIT(h, rng)) }),
  },
  {
    name: 'auto: bandit, then local from trial 60, every 4th the bandit',
    make: (seed) => new AutoSampler({ seed, rule: (h, rng) => (h.length >= 50 && h.length % 4 !== 3 ? local(h) : BANDIT(h, rng)) }),
  },
  { name: 'auto: stall 15, then local, every 4th the bandit', make: (seed) => new AutoSampler({ seed, rule: stalled(15, 4) }) },
  // Controls: one sampler through the auto sampler (other random streams than the rows above): how much
  // the medians move with the seeds' streams alone.
  { name: 'auto: TPE only (control)', make: (seed) => new AutoSampler({ seed, rule: () => 'tpe' }) },
  { name: 'auto: GP and TPE alternate', make: (seed) => new AutoSampler({ seed, rule: (h) => (h.length % 2 === 0 ? 'gp' : 'tpe') }) },
];
const candidates = all.filter((c) => !ONLY || ONLY.split(',').some((o) => c.name.includes(o)));

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
const fmt = (v: number) => (v === 0 ? '0' : Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(3));

const fns = Object.values(benchmarkFunctions).filter((f) => !FUNCTIONS || FUNCTIONS.split(',').includes(f.name));
const regret: Record<string, Record<string, number[]>> = {};
for (const c of candidates) {
  regret[c.name] = {};
  for (const f of fns) {
    const r: number[] = [];
    for (let seed = FROM; seed <= TO; seed++) r.push((await runBenchmark(f, { sampler: c.make(seed), nTrials: TRIALS })).regret);
    regret[c.name]![f.name] = r;
    process.stderr.write(`${c.name} ${f.name} median regret ${fmt(median(r))}\n`);
  }
}

const ref = (f: string) => Math.min(...['Hone TPE', 'Hone GP'].map((n) => (regret[n] ? median(regret[n]![f]!) : Infinity)));
console.log(`Run: \`npx tsx bench/tune-auto-select.ts --from ${FROM} --to ${TO}\` (${new Date().toISOString().slice(0, 10)}).\n`);
console.log(`Median regret after ${TRIALS} trials over seeds ${FROM}–${TO}, and its ratio to the better of Hone's TPE and GP:\n`);
console.log(`| rule | ${fns.map((f) => f.name).join(' | ')} | worst ratio |`);
console.log(`|---|${fns.map(() => '---:').join('|')}|---:|`);
for (const c of candidates) {
  const ratios = fns.map((f) => (Number.isFinite(ref(f.name)) ? median(regret[c.name]![f.name]!) / ref(f.name) : Number.NaN));
  const cells = fns.map(
    (f, i) => `${fmt(median(regret[c.name]![f.name]!))}${Number.isFinite(ratios[i]) ? ` (${ratios[i]!.toFixed(2)})` : ''}`,
  );
  console.log(`| ${c.name} | ${cells.join(' | ')} | ${ratios.every(Number.isFinite) ? Math.max(...ratios).toFixed(2) : '–'} |`);
}
if (fns.some((f) => f.name === 'hartmann6')) {
  // Hartmann-6's medians are decided by which basin a run ends in: its global one, or the local one 0.119 above.
  console.log('\nHartmann-6, seeds whose run reached the global basin (regret < 0.01):\n');
  for (const c of candidates) {
    const r = regret[c.name]!.hartmann6!;
    console.log(`- ${c.name}: ${r.filter((v) => v < 0.01).length} of ${r.length}`);
  }
}
console.log(JSON.stringify({ from: FROM, to: TO, trials: TRIALS, regret }));
