/**
 * Does `hone profile` report the latency a plain ORT loop sees? Side by side in one run, per model:
 *   main     a loop of `session.run` on the main thread (what a user's own code would time)
 *   worker   `measureInWorker`, Hone's harness (fresh worker thread and session)
 *   traced   the same loop with ORT profiling on (why the trace comes from a second session)
 * In blocks, never alternating run by run (see DESIGN.md): each round times every variant once, with
 * its own warm-up, and rounds repeat; the table shows the median over rounds of each block's p50.
 *
 *   npx tsx bench/profile-harness.ts [--rounds 3] [--runs 50]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { encodeModel } from '../src/ir/codec.js';
import { zooModel } from '../src/zoo/index.js';
import { createSession, type SessionOpts } from '../src/runtime/session.js';
import { fixDims, randomFeeds, resolveInputs, type ConcreteInput } from '../src/runtime/inputs.js';
import { measureInWorker } from '../src/runtime/measure.js';
import { latencyStats, percentile } from '../src/runtime/stats.js';
import { cpuDescription } from '../src/runtime/cpu.js';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '3' }, runs: { type: 'string', default: '50' } } });
const rounds = Number(values.rounds);
const runs = Number(values.runs);
const warmup = 5;

const cases: { label: string; spec: string; dims: Record<string, number> }[] = [
  { label: 'zoo:mlp, batch 1', spec: 'mlp', dims: { batch: 1 } },
  { label: 'zoo:mlp, batch 32', spec: 'mlp', dims: { batch: 32 } },
  { label: 'zoo:resnet, batch 1', spec: 'resnet', dims: { batch: 1 } },
  { label: 'zoo:transformer, batch 1, seq 64', spec: 'transformer', dims: { batch: 1, seq: 64 } },
];

async function loop(bytes: Uint8Array, inputs: ConcreteInput[], opts: SessionOpts): Promise<number> {
  const s = await createSession(bytes, opts);
  const feeds = randomFeeds(inputs, 0);
  try {
    for (let i = 0; i < warmup; i++) await s.run(feeds);
    const t: number[] = [];
    for (let i = 0; i < runs; i++) {
      const start = performance.now();
      await s.run(feeds);
      t.push(performance.now() - start);
    }
    if (opts.profilePrefix) s.endProfiling();
    return latencyStats(t).p50;
  } finally {
    await s.release();
  }
}

const median = (xs: number[]) =>
  percentile(
    [...xs].sort((a, b) => a - b),
    0.5,
  );
const traceDir = mkdtempSync(join(tmpdir(), 'hone-bench-trace-'));
const rows: string[] = [];
try {
  for (const c of cases) {
    const model = fixDims(zooModel(c.spec), { dims: c.dims });
    const bytes = encodeModel(model);
    const inputs = resolveInputs(model);
    const got = { main: [] as number[], worker: [] as number[], traced: [] as number[] };
    for (let r = 0; r < rounds; r++) {
      got.main.push(await loop(bytes, inputs, {}));
      got.worker.push((await measureInWorker(bytes, { inputs, warmup, runs })).latencyMs.p50);
      got.traced.push(await loop(bytes, inputs, { profilePrefix: join(traceDir, `r${r}`) }));
    }
    const m = median(got.main);
    const w = median(got.worker);
    const t = median(got.traced);
    const range = (xs: number[]) => `${Math.min(...xs).toFixed(3)}–${Math.max(...xs).toFixed(3)}`;
    rows.push(
      `| ${c.label} | ${m.toFixed(3)} (${range(got.main)}) | ${w.toFixed(3)} (${range(got.worker)}) | ${(w / m).toFixed(2)} | ${t.toFixed(3)} | ${(t / m).toFixed(2)} |`,
    );
    process.stderr.write(`${c.label} done\n`);
  }
} finally {
  rmSync(traceDir, { recursive: true, force: true });
}

console.log(
  `Machine: ${cpuDescription()}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Node ${process.version}, onnxruntime-node ${ort.env.versions.node}.`,
);
console.log(
  `Run: \`npx tsx bench/profile-harness.ts --rounds ${rounds} --runs ${runs}\` (${new Date().toISOString().slice(0, 10)}); p50 latency in ms, median over rounds (range).`,
);
console.log('');
console.log('| model | main-thread loop | Hone worker | worker / main | ORT profiling on | traced / main |');
console.log('|---|---:|---:|---:|---:|---:|');
for (const r of rows) console.log(r);
