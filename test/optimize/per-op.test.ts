// perOpComparison on two real traced profiles: the zoo transformer as built and after dynamic int8. The
// projections' MatMuls become DynamicQuantizeMatMul / MatMulIntegerToFloat (new rows, after the others),
// attention's activation·activation MatMuls stay, and every row's time comes from the traces.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { perOpComparison, PER_OP_TOP_NODES } from '../../src/optimize/per-op.js';
import { profileModel } from '../../src/profile/profile.js';
import { quantizeDynamic } from '../../src/quantize/dynamic.js';
import type { MachinePeaks } from '../../src/runtime/peaks.js';
import { zooModel } from '../../src/zoo/index.js';

// Fixed peaks keep the test from measuring the machine; three traced runs give per-node medians (trace.ts).
const peaks: MachinePeaks = { flops: 5e10, bandwidth: 5e9, cacheBandwidth: 3e10, cacheBytes: 1 << 20, key: 'test' };
const quick = { batchSizes: [2], runs: 3, warmup: 1, profileRuns: 3, budgetMs: 0, threads: 1, peaks, dims: { seq: 32 } };
const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) <= 1e-9 + 1e-9 * Math.abs(b), `${what}: ${a} vs ${b}`);

test('the transformer before and after dynamic int8: MatMul rows move to the quantized forms, totals match the traces', async () => {
  const model = zooModel('transformer:layers=1,dModel=128,heads=2,ffn=256');
  const { model: q } = quantizeDynamic(model);
  const before = await profileModel(model, quick);
  const after = await profileModel(q, quick);
  const c = perOpComparison(before, after);

  assert.equal(c.batchSize, 2);
  assert.equal(c.before.nodes, model.graph!.node.length);
  assert.equal(c.after.nodes, q.graph!.node.length);
  assert.equal(c.before.latencyMs, before.batches[0]!.latencyMs.floor);

  // Q, K, V, the output projection and the two FFN layers were MatMuls; attention's two stay float.
  const row = (t: string) => c.rows.find((r) => r.opType === t);
  const mm = row('MatMul')!;
  assert.equal(mm.change, 'kept');
  assert.deepEqual([mm.before.count, mm.after.count], [8, 2]);
  assert.ok(
    mm.after.timeMs < mm.before.timeMs,
    `two small attention MatMuls take less than those two plus six projections: ${mm.before.timeMs} → ${mm.after.timeMs} ms`,
  );
  for (const t of ['DynamicQuantizeMatMul', 'MatMulIntegerToFloat', 'DynamicQuantizeLinear']) {
    const r = row(t);
    assert.ok(r, `${t} is a row: ${c.rows.map((x) => x.opType).join(', ')}`);
    assert.equal(r.change, 'new');
    assert.deepEqual([r.before.count, r.before.timeMs], [0, 0]);
    assert.ok(r.after.count > 0 && r.after.timeMs > 0, `${t} ran: ${JSON.stringify(r.after)}`);
  }
  assert.equal(row('DynamicQuantizeMatMul')!.after.count + row('MatMulIntegerToFloat')!.after.count, 6);

  // Order: what was there before by its time before, then the new op types by their time after.
  const firstNew = c.rows.findIndex((r) => r.change === 'new');
  assert.ok(firstNew > 0 && c.rows.slice(firstNew).every((r) => r.change === 'new'));
  const old = c.rows.slice(0, firstNew);
  const fresh = c.rows.slice(firstNew);
  assert.ok(old.every((r, i) => i === 0 || old[i - 1]!.before.timeMs >= r.before.timeMs));
  assert.ok(fresh.every((r, i) => i === 0 || fresh[i - 1]!.after.timeMs >= r.after.timeMs));

  // Totals: the rows sum to each side's kernel time, which is the trace's (per raw ORT op type) too.
  for (const [s, p, pick] of [
    [c.before, before, (r: (typeof c.rows)[number]) => r.before],
    [c.after, after, (r: (typeof c.rows)[number]) => r.after],
  ] as const) {
    close(
      c.rows.reduce((a, r) => a + pick(r).timeMs, 0),
      s.kernelMs,
      'rows vs kernel time',
    );
    close(
      p.batches[0]!.opTimes.reduce((a, o) => a + o.timeMs, 0),
      s.kernelMs,
      'trace op types vs kernel time',
    );
    close(
      c.rows.reduce((a, r) => a + pick(r).share, 0),
      1,
      'shares',
    );
    assert.ok(s.topNodes.length > 0 && s.topNodes.length <= PER_OP_TOP_NODES);
    for (const n of s.topNodes) close(n.timeMs, n.share * s.kernelMs, `node ${n.name}`);
    assert.ok(s.topNodes.every((n, i) => i === 0 || s.topNodes[i - 1]!.timeMs >= n.timeMs));
  }
  // Counts are the models' nodes per op type (a kernel only ORT made counts 0).
  assert.equal(
    c.rows.reduce((a, r) => a + r.after.count, 0),
    q.graph!.node.length,
  );
});

test('profiles without a trace, or at different batch sizes, are refused', async () => {
  const model = zooModel('mlp:hidden=32');
  const traced = await profileModel(model, { ...quick, dims: {} });
  const untraced = await profileModel(model, { ...quick, dims: {}, profileRuns: 0 });
  assert.throws(() => perOpComparison(traced, untraced), /the after profile has no trace/);
  assert.throws(() => perOpComparison(traced, { ...traced, staticBatchSize: 4 }), /profiles are at batch 2 and 4/);
  const same = perOpComparison(traced, traced);
  assert.ok(same.rows.every((r) => r.change === 'kept' && r.before.timeMs === r.after.timeMs));
});
