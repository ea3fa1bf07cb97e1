import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ADVICE, diagnose, type BottleneckFacts } from '../../src/profile/bottleneck.js';
import { passById } from '../../src/passes/registry.js';

test('advice that transforms the model names a registered pass, and the advice carries it', () => {
  const named = ADVICE.filter((r) => r.pass);
  assert.deepEqual(
    named.map((r) => r.id),
    ['int8-dynamic', 'int8-static', 'int8-weights', 'fp16-weights', 'int4-weights'],
  );
  for (const r of named) {
    const pass = passById(r.pass!);
    // The command the advice prints runs that pass: `--mode dynamic` for quantize.dynamic, and so on.
    assert.match(r.command, new RegExp(`--mode ${pass.id.split('.')[1]}\\b`), r.id);
  }
  const facts: BottleneckFacts = {
    batchSize: 1,
    latencyMs: 10,
    flops: 1e9,
    bytesMoved: 1e7,
    weightBytes: 4e6,
    peakFlops: 1e11,
    bandwidth: 1e10,
    opShares: [{ opType: 'MatMul', share: 0.8 }],
    kernelFraction: 0.95,
    throughputs: [],
  };
  const advice = diagnose(facts).advice;
  assert.deepEqual(advice[0]!.pass, { id: 'quantize.dynamic', options: {} });
});
