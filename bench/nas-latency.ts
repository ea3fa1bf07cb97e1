/**
 * The NAS latency model against measurement: architectures drawn from `hone nas`'s built-in spaces
 * (untrained: latency does not depend on the weights' values), each timed at batch 1 in a worker (least
 * round median of 30 runs, the `latency` metric's measurement), the model fitted on two thirds and its
 * error (MAPE) reported on the held-out third, per space and over all; also leave-one-out over all.
 *
 *   npx tsx bench/nas-latency.ts [--per-space 15] [--seed 1]
 */
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { NAS_SPACES } from '../src/cli/commands/nas.js';
import { inferenceLatencyMs } from '../src/nas/latency-model.js';
import { zooSpec } from '../src/zoo/index.js';
import { fitLatencyModel, leaveOneOutMape, mape, architectureFeatures } from '../src/nas/latency-model.js';
import { zooModel } from '../src/zoo/index.js';

const { values: flags } = parseArgs({ options: { 'per-space': { type: 'string' }, seed: { type: 'string' } } });
const perSpace = Number(flags['per-space'] ?? 15);
let seed = Number(flags.seed ?? 1);
const rand = () => {
  seed = (seed * 1103515245 + 12345) % 2 ** 31;
  return seed / 2 ** 31;
};

interface Sample {
  space: string;
  spec: string;
  features: number[];
  ms: number;
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
    const ms = await inferenceLatencyMs(zooModel(spec.slice('zoo:'.length)), 0);
    samples.push({ space: name, spec, features: architectureFeatures(spec)!, ms });
    console.error(`${spec}: ${ms.toFixed(4)} ms`);
  }
}

const held = (i: number) => i % 3 === 2;
const fit = fitLatencyModel(samples.filter((_, i) => !held(i)));
const rows = (list: Sample[]) => mape(list.map((s) => ({ predicted: fit.predict(s.features), measured: s.ms })));
console.log(`Machine: ${cpus()[0]?.model} × ${cpus().length}, Node ${process.version}. ${samples.length} architectures, batch 1.\n`);
console.log(
  '| space | architectures (held out) | latency range, ms | MAPE on held-out: one model for all spaces | MAPE on held-out: fitted within the space |',
);
console.log('|---|---:|---|---:|---:|');
for (const name of Object.keys(NAS_SPACES)) {
  const all = samples.filter((s) => s.space === name);
  const test = samples.filter((s, i) => s.space === name && held(i));
  const own = fitLatencyModel(samples.filter((s, i) => s.space === name && !held(i)));
  const ownMape = mape(test.map((s) => ({ predicted: own.predict(s.features), measured: s.ms })));
  const lo = Math.min(...all.map((s) => s.ms));
  const hi = Math.max(...all.map((s) => s.ms));
  console.log(
    `| ${name} | ${all.length} (${test.length}) | ${lo.toFixed(3)}–${hi.toFixed(3)} | ${rows(test).toFixed(1)}% | ${ownMape.toFixed(1)}% |`,
  );
}
console.log(
  `| all | ${samples.length} (${samples.filter((_, i) => held(i)).length}) | | ${rows(samples.filter((_, i) => held(i))).toFixed(1)}% |`,
);
console.log(`\nLeave-one-out over all ${samples.length}: MAPE ${leaveOneOutMape(samples).toFixed(1)}%.`);
console.log(
  `Fitted (ms per unit): ${fit.coef.map((c) => c.toPrecision(3)).join(', ')} for per run, per kernel, dense GMACs, depthwise GMACs, MB moved.`,
);
