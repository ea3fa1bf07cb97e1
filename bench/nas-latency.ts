/**
 * The NAS latency model against measurement: architectures drawn from `hone nas`'s built-in spaces
 * (untrained: latency does not depend on the weights' values), each timed at batch 1 by the `latency`
 * metric's measurement (the least of 4 fresh sessions' round medians) in each of --passes passes over all
 * of them, its latency the least over the passes; the model fitted on two thirds and its error (MAPE)
 * reported on the held-out third, per space and over all, beside the measurement's own test–retest error
 * (pass 1 against pass 2); also leave-one-out over all. --save writes the timings, to refit offline.
 *
 *   npx tsx bench/nas-latency.ts [--per-space 24] [--seed 1] [--passes 5] [--save samples.json]
 */
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { NAS_SPACES } from '../src/cli/commands/nas.js';
import { inferenceLatencyMs } from '../src/nas/latency-model.js';
import { zooSpec } from '../src/zoo/index.js';
import { architectureFeatures, fitLatencyModel, LATENCY_FEATURES, leaveOneOutMape, mape } from '../src/nas/latency-model.js';
import { zooModel } from '../src/zoo/index.js';
import { cpuDescription } from '../src/runtime/cpu.js';

const { values: flags } = parseArgs({
  options: { 'per-space': { type: 'string' }, seed: { type: 'string' }, passes: { type: 'string' }, save: { type: 'string' } },
});
const passes = Math.max(2, Number(flags.passes ?? 5));
const perSpace = Number(flags['per-space'] ?? 24);
let seed = Number(flags.seed ?? 1);
const rand = () => {
  seed = (seed * 1103515245 + 12345) % 2 ** 31;
  return seed / 2 ** 31;
};

interface Sample {
  space: string;
  spec: string;
  features: number[];
  /** The least of the passes' timings. */
  ms: number;
  passes: number[];
}
const samples: Sample[] = [];
for (const [name, s] of Object.entries(NAS_SPACES)) {
  const seen = new Set<string>();
  for (let tries = 0; seen.size < perSpace && tries < perSpace * 20; tries++) {
    const picks = Object.entries(s.space).map(([k, d]): [string, string | number] => {
      const choices = (d as { choices: (string | number)[] }).choices;
      return [k.slice('model.'.length), choices[Math.floor(rand() * choices.length)]!];
    });
    const spec = zooSpec(s.model, picks);
    if (seen.has(spec)) continue;
    seen.add(spec);
    samples.push({ space: name, spec, features: architectureFeatures(spec)!, ms: 0, passes: [] });
  }
}
// Each architecture timed in --passes passes over all of them, a pass apart (`hone nas` times each
// twice, before and after training, seconds apart): on this VM slow spells last seconds and lift every
// session in them, so the least over passes is the architecture's latency, and how far one pass's
// timing lies from another's is the measurement's own error, the floor under any prediction's.
for (let pass = 0; pass < passes; pass++)
  for (const s of samples) {
    const ms = await inferenceLatencyMs(zooModel(s.spec.slice('zoo:'.length)), 0);
    s.passes.push(ms);
    s.ms = Math.min(...s.passes);
    console.error(`pass ${pass + 1}: ${s.spec}: ${ms.toFixed(4)} ms`);
  }
if (flags.save) writeFileSync(flags.save, JSON.stringify(samples.map(({ space, spec, ms, passes }) => ({ space, spec, ms, passes }))));
/** Test–retest error: mean |first pass − second pass| over their lesser, percent. */
const retest = (list: Sample[]) =>
  mape(list.map((s) => ({ predicted: Math.max(s.passes[0]!, s.passes[1]!), measured: Math.min(s.passes[0]!, s.passes[1]!) })));

const held = (i: number) => i % 3 === 2;
const fit = fitLatencyModel(samples.filter((_, i) => !held(i)));
const rows = (list: Sample[]) => mape(list.map((s) => ({ predicted: fit.predict(s.features), measured: s.ms })));
console.log(`Machine: ${cpuDescription()} × ${cpus().length}, Node ${process.version}. ${samples.length} architectures, batch 1.\n`);
console.log(
  '| space | architectures (held out) | latency range, ms | MAPE on held-out: one model for all spaces | MAPE on held-out: fitted within the space | test–retest (passes 1 and 2, all) |',
);
console.log('|---|---:|---|---:|---:|---:|');
for (const name of Object.keys(NAS_SPACES)) {
  const all = samples.filter((s) => s.space === name);
  const test = samples.filter((s, i) => s.space === name && held(i));
  const own = fitLatencyModel(samples.filter((s, i) => s.space === name && !held(i)));
  const ownMape = mape(test.map((s) => ({ predicted: own.predict(s.features), measured: s.ms })));
  const lo = Math.min(...all.map((s) => s.ms));
  const hi = Math.max(...all.map((s) => s.ms));
  console.log(
    `| ${name} | ${all.length} (${test.length}) | ${lo.toFixed(3)}–${hi.toFixed(3)} | ${rows(test).toFixed(1)}% | ${ownMape.toFixed(1)}% | ${retest(all).toFixed(1)}% |`,
  );
}
console.log(
  `| all | ${samples.length} (${samples.filter((_, i) => held(i)).length}) | | ${rows(samples.filter((_, i) => held(i))).toFixed(1)}% | | ${retest(samples).toFixed(1)}% |`,
);
console.log(`\nLeave-one-out over all ${samples.length}: MAPE ${leaveOneOutMape(samples).toFixed(1)}%.`);
console.log(`Fitted over all spaces (ms per unit): ${fit.coef.map((c, j) => `${LATENCY_FEATURES[j]} ${c.toPrecision(3)}`).join(', ')}.`);
