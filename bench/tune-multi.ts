/**
 * Multi-objective sampler quality: the hypervolume of the final Pareto front after `--trials`
 * evaluations, over seeds `--from`…`--to`, on ZDT1 (2 objectives, 10 variables) and DTLZ2 (3 objectives,
 * 7 variables), for multi-objective TPE with hypervolume-based selection (its default) and with
 * NSGA-II's crowding-distance rule, NSGA-II, random search and the auto sampler. Quality is the median
 * hypervolume gap (true front's hypervolume − the run's, up to each problem's reference point; lower
 * is better). Deterministic per seed.
 *
 *   npx tsx bench/tune-multi.ts [--from 0] [--to 9] [--trials 200]
 *
 * Prints a markdown table (docs/benchmarks.md, "Multi-objective TPE") and, last, one JSON line.
 */
import { cpus, totalmem } from 'node:os';
import { multiObjectiveBenchmarks, runMultiObjectiveBenchmark } from '../src/tune/benchmarks.js';
import { AutoSampler } from '../src/tune/samplers/auto.js';
import type { Sampler } from '../src/tune/samplers/base.js';
import { NSGAIISampler } from '../src/tune/samplers/nsga2.js';
import { RandomSampler } from '../src/tune/samplers/random.js';
import { TPESampler } from '../src/tune/samplers/tpe.js';
import { cpuDescription } from '../src/runtime/cpu.js';

const args = process.argv.slice(2);
const flag = (name: string, dflt: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const FROM = flag('from', 0);
const TO = flag('to', 9);
const TRIALS = flag('trials', 200);

const samplers: { name: string; make: (seed: number) => Sampler }[] = [
  { name: 'MOTPE, hypervolume selection (default)', make: (seed) => new TPESampler({ seed }) },
  { name: 'MOTPE, crowding-distance selection', make: (seed) => new TPESampler({ seed, multiObjectiveSplit: 'crowding' }) },
  { name: 'NSGA-II (population 50)', make: (seed) => new NSGAIISampler({ seed }) },
  { name: 'auto', make: (seed) => new AutoSampler({ seed }) },
  { name: 'random', make: (seed) => new RandomSampler({ seed }) },
];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const fns = Object.values(multiObjectiveBenchmarks);
const gap: Record<string, Record<string, number[]>> = {};
const seconds: Record<string, number> = {};
for (const s of samplers) {
  gap[s.name] = {};
  const t0 = performance.now();
  for (const f of fns) {
    const g: number[] = [];
    for (let seed = FROM; seed <= TO; seed++) g.push((await runMultiObjectiveBenchmark(f, { sampler: s.make(seed), nTrials: TRIALS })).gap);
    gap[s.name]![f.name] = g;
    process.stderr.write(`${s.name} ${f.name} median gap ${median(g).toPrecision(3)}\n`);
  }
  seconds[s.name] = (performance.now() - t0) / 1000;
}

const cpu = cpuDescription();
console.log(`Machine: ${cpu}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Node ${process.version}.`);
console.log(
  `Run: \`npx tsx bench/tune-multi.ts --from ${FROM} --to ${TO} --trials ${TRIALS}\` (${new Date().toISOString().slice(0, 10)}).\n`,
);
console.log(
  `Median hypervolume gap after ${TRIALS} evaluations, seeds ${FROM}–${TO} (lower is better; in brackets the seeds each sampler wins against the first row):\n`,
);
console.log(
  `| sampler | ${fns.map((f) => `${f.name} (${f.objectives} objectives, HV* ${f.optimalHypervolume.toFixed(3)})`).join(' | ')} | wall time |`,
);
console.log(`|---|${fns.map(() => '---:').join('|')}|---:|`);
const first = samplers[0]!.name;
for (const s of samplers) {
  const cells = fns.map((f) => {
    const g = gap[s.name]![f.name]!;
    const wins = g.filter((v, i) => v < gap[first]![f.name]![i]!).length;
    return `${median(g).toPrecision(3)}${s.name === first ? '' : ` (${wins}/${g.length})`}`;
  });
  console.log(`| ${s.name} | ${cells.join(' | ')} | ${seconds[s.name]!.toFixed(0)} s |`);
}
console.log(JSON.stringify({ from: FROM, to: TO, trials: TRIALS, gap, seconds }));
