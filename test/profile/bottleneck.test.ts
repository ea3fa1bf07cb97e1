import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ADVICE, diagnose, judge, type BottleneckFacts } from '../../src/profile/bottleneck.js';

const base: BottleneckFacts = {
  batchSize: 1,
  latencyMs: 10,
  flops: 1e9,
  bytesMoved: 1e7,
  weightBytes: 4e6,
  peakFlops: 1e11,
  bandwidth: 1e10,
  opShares: [],
  kernelFraction: 0.95,
  throughputs: [],
};

test('compute-bound: intensity above balance, near the roofline; MatMul share drives int8 advice', () => {
  const b = diagnose({
    ...base,
    opShares: [
      { opType: 'MatMul', share: 0.8 },
      { opType: 'Add', share: 0.2 },
    ],
  });
  assert.equal(b.kind, 'compute');
  assert.equal(b.arithmeticIntensity, 100);
  assert.equal(b.machineBalance, 10);
  assert.equal(b.rooflineMs, 10);
  assert.equal(b.efficiency, 1);
  assert.equal(b.advice[0]!.id, 'int8-dynamic');
  // 80% of kernel time × 95% in kernels = 76% of the run, sped up 2x: 1 / (0.24 + 0.38).
  assert.ok(Math.abs(b.advice[0]!.expectedSpeedup - 1 / (1 - 0.76 + 0.76 / 2)) < 1e-9);
  assert.match(b.advice[0]!.reason, /MatMul takes 80% of kernel time/);
  assert.deepEqual(
    b.dominantOps.map((o) => o.opType),
    ['MatMul', 'Add'],
  );
});

test('memory-bound: intensity below balance; weight-byte advice sized from the weight share of bytes', () => {
  const b = diagnose({ ...base, flops: 1e7, latencyMs: 2, opShares: [{ opType: 'Conv', share: 0.1 }], provider: 'cuda' });
  assert.equal(b.kind, 'memory');
  const ids = b.advice.map((a) => a.id);
  assert.deepEqual(ids.slice(0, 2), ['int8-weights', 'fp16-weights']);
  // On the CPU provider fp16 runs through casts to fp32: never advised there.
  const cpu = diagnose({ ...base, flops: 1e7, latencyMs: 2, opShares: [{ opType: 'Conv', share: 0.1 }] }).advice.map((a) => a.id);
  assert.equal(cpu[0], 'int8-weights');
  assert.ok(!cpu.includes('fp16-weights'));
  // bytes 1e7 → 1e7 - 0.75·4e6 = 7e6 on 95% of the run.
  const k = 1e7 / 7e6;
  assert.ok(Math.abs(b.advice[0]!.expectedSpeedup - 1 / (0.05 + 0.95 / k)) < 1e-9);
  assert.ok(!ids.includes('int8-static'), 'Conv at 10% is under the rule threshold');
});

test('a working set that fits in cache is judged against the cache bandwidth', () => {
  const facts = { ...base, flops: 5e7, latencyMs: 2, cacheBandwidth: 1e11, cacheBytes: 1 << 20 };
  assert.equal(diagnose({ ...facts, workingSetBytes: 1 << 24 }).kind, 'memory');
  const inCache = diagnose({ ...facts, workingSetBytes: 1 << 19 });
  assert.equal(inCache.bandwidthUsed, 'cache');
  assert.equal(inCache.kind, 'compute');
});

test('overhead-bound: far above the roofline, or mostly outside kernels; batching gain is the measured one', () => {
  const slow = diagnose({
    ...base,
    latencyMs: 200,
    throughputs: [
      { batchSize: 1, throughput: 100 },
      { batchSize: 8, throughput: 450 },
    ],
    opShares: [
      { opType: 'Reshape', share: 0.3 },
      { opType: 'Add', share: 0.3 },
      { opType: 'MatMul', share: 0.4 },
    ],
  });
  assert.equal(slow.kind, 'overhead');
  assert.equal(slow.advice[0]!.id, 'batch');
  assert.equal(slow.advice[0]!.expectedSpeedup, 4.5);
  assert.equal(diagnose({ ...base, kernelFraction: 0.3 }).kind, 'overhead');
});

test('without a static cost the verdict is unknown but trace advice still applies', () => {
  const b = diagnose({ ...base, flops: 0, bytesMoved: 0, opShares: [{ opType: 'Conv', share: 0.9 }], convMaxOutChannels: 64 });
  assert.equal(b.kind, 'unknown');
  assert.equal(b.advice[0]!.id, 'int8-static');
});

test('the static int8 command asks a model file for calibration data; a zoo model brings its own', () => {
  const facts = { ...base, flops: 0, bytesMoved: 0, opShares: [{ opType: 'Conv', share: 0.9 }], convMaxOutChannels: 64 };
  assert.equal(
    diagnose({ ...facts, model: 'det.onnx' }).advice[0]!.command,
    'hone quantize det.onnx -o det.qdq.onnx --mode static --calib CALIB_DATA.npz',
  );
  assert.equal(diagnose({ ...facts, model: 'zoo:resnet' }).advice[0]!.command, 'hone quantize zoo:resnet -o resnet.qdq.onnx --mode static');
});

test('static int8 is not advised for narrow convolutions (measured slower), nothing quantizing for a quantized model', () => {
  const convs: BottleneckFacts = {
    ...base,
    opShares: [
      { opType: 'Conv', share: 0.6 },
      { opType: 'Gemm', share: 0.4 },
    ],
  };
  assert.ok(diagnose({ ...convs, convMaxOutChannels: 64 }).advice.some((a) => a.id === 'int8-static'));
  assert.ok(!diagnose({ ...convs, convMaxOutChannels: 16 }).advice.some((a) => a.id === 'int8-static'));
  assert.ok(diagnose({ ...convs, convMaxOutChannels: 16 }).advice.some((a) => a.id === 'int8-dynamic'));
  const quantizing = new Set(ADVICE.filter((r) => r.quantizes).map((r) => r.id));
  assert.deepEqual([...quantizing].sort(), ['fp16-weights', 'int4-weights', 'int8-dynamic', 'int8-static', 'int8-weights']);
  for (const facts of [
    { ...convs, convMaxOutChannels: 64 },
    { ...base, flops: 1e7, latencyMs: 2, provider: 'cuda' },
  ]) {
    assert.ok(diagnose(facts).advice.some((a) => quantizing.has(a.id)));
    assert.ok(!diagnose({ ...facts, quantized: true }).advice.some((a) => quantizing.has(a.id)));
  }
});

test('the advice table is data: every rule has a command and a reason', () => {
  for (const r of ADVICE) {
    assert.ok(r.command.startsWith('hone '), r.id);
    assert.ok(r.why.length > 20, r.id);
  }
  assert.equal(new Set(ADVICE.map((r) => r.id)).size, ADVICE.length);
});

test('advice commands name the model, quoted for the shell when needed', () => {
  const facts: BottleneckFacts = { ...base, opShares: [{ opType: 'MatMul', share: 0.9 }] };
  assert.equal(
    diagnose({ ...facts, model: 'models/bert.onnx' }).advice[0]!.command,
    'hone quantize models/bert.onnx -o models/bert.int8.onnx --mode dynamic',
  );
  assert.equal(
    diagnose({ ...facts, model: 'zoo:mlp:hidden=64' }).advice[0]!.command,
    'hone quantize zoo:mlp:hidden=64 -o mlp_hidden_64.int8.onnx --mode dynamic',
  );
  assert.equal(
    diagnose({ ...facts, model: "my model's.onnx" }).advice[0]!.command,
    `hone quantize 'my model'\\''s.onnx' -o 'my model'\\''s.int8.onnx' --mode dynamic`,
  );
  assert.equal(diagnose(facts).advice[0]!.command, 'hone quantize MODEL -o MODEL.int8.onnx --mode dynamic');
});

test('weight-byte advice needs weights that stream from memory, int8 MatMul advice big enough MatMuls', () => {
  const memoryBound: BottleneckFacts = {
    ...base,
    flops: 1e7,
    latencyMs: 2,
    opShares: [{ opType: 'MatMul', share: 0.9 }],
    cacheBandwidth: 1e11,
    cacheBytes: 1 << 20,
  };
  const ids = (f: BottleneckFacts) => diagnose(f).advice.map((a) => a.id);
  assert.ok(ids({ ...memoryBound, workingSetBytes: 1 << 24 }).includes('int8-weights'));
  // A working set in cache streams nothing from memory: fewer weight bytes would not pay.
  const inCache = ids({ ...memoryBound, workingSetBytes: 1 << 19 });
  assert.ok(!inCache.some((id) => ['int8-weights', 'int4-weights', 'fp16-weights'].includes(id)), inCache.join(','));
  // LeNet-5-sized Gemms (under 2 M MACs a run) ran slower in dynamic int8.
  const compute: BottleneckFacts = { ...base, opShares: [{ opType: 'MatMul', share: 0.8 }] };
  assert.ok(ids({ ...compute, matmulMacs: 8e6 }).includes('int8-dynamic'));
  assert.ok(!ids({ ...compute, matmulMacs: 5e5 }).includes('int8-dynamic'));
});

test('judge: a verdict that holds across the range of the runs and the margins is decided', () => {
  const fast: BottleneckFacts = { ...base, opShares: [{ opType: 'MatMul', share: 0.8 }] };
  const b = judge(fast, { ...fast, latencyMs: 11 }, 'robust CV 3%');
  assert.equal(b.kind, 'compute');
  assert.deepEqual(b.candidates, ['compute']);
  assert.deepEqual(b, diagnose(fast), "decided: exactly the fastest round's verdict");
  assert.ok(b.advice.every((a) => a.condition === undefined));
});

test('judge: near the half-in-kernels line, or when the typical run crosses a line, the verdict is undecided and dependent advice is conditional', () => {
  const throughputs = [
    { batchSize: 1, throughput: 100 },
    { batchSize: 8, throughput: 450 },
  ];
  const f: BottleneckFacts = { ...base, throughputs, opShares: [{ opType: 'MatMul', share: 0.8 }] };
  // 53% of the run in kernels: overhead-bound at 53/1.1 = 48%, not at 53·1.1 = 58%.
  const near = judge(
    { ...f, kernelFraction: 0.53 },
    { ...f, kernelFraction: 0.53 },
    'robust CV 25%, p90/p50 2.50 over 8 rounds of 20 runs',
  );
  assert.equal(near.kind, 'undecided');
  assert.deepEqual(near.candidates, ['compute', 'overhead']);
  assert.match(
    near.summary,
    /^undecided at batch 1 between compute-bound and overhead-bound: .*kernels 53%–53% of the run against the 50% line.*robust CV 25%/,
  );
  // Advice that holds either way comes first; the overhead-only advice follows, marked, whatever its gain.
  assert.deepEqual(
    near.advice.map((a) => [a.id, a.condition]),
    [
      ['int8-dynamic', undefined],
      ['batch', 'if overhead-bound'],
      ['threads', 'if overhead-bound'],
    ],
  );
  assert.ok(near.advice[1]!.expectedSpeedup > near.advice[0]!.expectedSpeedup, 'ranked after, though its gain is larger');
  // The fastest round at the roofline, the median run 12x it (over the 10x line): noise decides.
  const spread = judge(f, { ...f, latencyMs: 120 }, 'robust CV 40%');
  assert.equal(spread.kind, 'undecided');
  assert.deepEqual(spread.candidates, ['compute', 'overhead']);
  // Far from every line, noise does not matter.
  const clear = judge({ ...f, kernelFraction: 0.2, latencyMs: 200 }, { ...f, kernelFraction: 0.15, latencyMs: 400 }, 'robust CV 40%');
  assert.equal(clear.kind, 'overhead');
  assert.deepEqual(
    clear.advice.map((a) => [a.id, a.condition]),
    [
      ['batch', undefined],
      ['threads', undefined],
      ['int8-dynamic', undefined],
    ],
  );
});

test('static int8 is not advised where depthwise and narrow convs hold 40% or more of the conv MACs; below, they do not count toward its gain', () => {
  const convs: BottleneckFacts = { ...base, opShares: [{ opType: 'Conv', share: 0.9 }], convMaxOutChannels: 96 };
  const int8 = (slowInt8ConvShare?: number) => diagnose({ ...convs, slowInt8ConvShare }).advice.find((a) => a.id === 'int8-static');
  // PP-OCRv4 det (62%), PP-OCRv2 cls (46%), BlazeFace (53%) measured slower in static int8 at batch 1.
  for (const share of [0.62, 0.46, 0.53, 0.4]) assert.equal(int8(share), undefined, String(share));
  // zoo:resnet (37%), openWakeWord's embedding (20%), PP-OCRv4 rec (7%), M-LSD (5%) measured faster: still advised.
  for (const share of [0.37, 0.2, 0.07, 0.05]) assert.ok(int8(share), String(share));
  const all = int8(0)!;
  const some = int8(0.21)!;
  assert.ok(some && all.expectedSpeedup > some.expectedSpeedup && some.expectedSpeedup > 1);
  // 90% Conv × 95% in kernels × 79% of the conv MACs int8 speeds up, at 2x.
  const share = 0.9 * 0.95 * 0.79;
  assert.ok(Math.abs(some.expectedSpeedup - 1 / (1 - share + share / 2)) < 1e-9);
  assert.match(some.reason, /leaving out the depthwise and narrow convs' 21% of conv MACs/);
  assert.deepEqual(int8(undefined), all, 'unknown share: as before');
});

test('int8 advice sized op by op from the measured int8 speedups: large convolutions are advised, small ones are not', () => {
  // A speedup curve like a VNNI CPU's: small convs slower in int8, large ones 2x; depthwise slower.
  const int8Speedups = {
    conv: [
      { macs: 1e5, speedup: 0.7 },
      { macs: 1e7, speedup: 1.4 },
      { macs: 1e8, speedup: 2 },
    ],
    depthwise: [{ macs: 1e6, speedup: 0.9 }],
    matmul: [
      { macs: 1e5, speedup: 0.6 },
      { macs: 1e8, speedup: 3 },
    ],
  };
  const facts = (int8Nodes: NonNullable<BottleneckFacts['int8Nodes']>): BottleneckFacts => ({
    ...base,
    opShares: [{ opType: 'Conv', share: 0.9 }],
    convMaxOutChannels: 64,
    slowInt8ConvShare: 0,
    int8Speedups,
    int8Nodes,
  });
  const advice = (f: BottleneckFacts) => diagnose(f).advice.find((a) => a.id === 'int8-static');
  // Two large convs (1e8 MACs: 2x) at 45% of kernel time each, 95% of the run in kernels.
  const big = advice(
    facts([
      { kind: 'conv', macs: 1e8, share: 0.45 },
      { kind: 'conv', macs: 1e8, share: 0.45 },
    ]),
  );
  const share = 0.9 * 0.95;
  assert.ok(big && Math.abs(big.expectedSpeedup - 1 / (1 - share + share / 2)) < 1e-9, JSON.stringify(big));
  assert.match(big.reason, /^2 Convs take 90% of kernel time; at their sizes, int8 kernels measured 2\.00x fp32 on this machine/);
  // In between (1e7 MACs interpolates to 1.4x); with a depthwise conv at 0.9x the part's speedup is the time-weighted one.
  const mixed = advice(
    facts([
      { kind: 'conv', macs: 1e7, share: 0.6 },
      { kind: 'depthwise', macs: 1e6, share: 0.3 },
    ]),
  );
  const k = 0.9 / (0.6 / 1.4 + 0.3 / 0.9);
  assert.ok(mixed && Math.abs(mixed.expectedSpeedup - 1 / (1 - share + share / k)) < 1e-9, JSON.stringify(mixed));
  assert.match(mixed.reason, /^1 Conv and 1 depthwise Conv take 90%/);
  // Small convs (1e5 MACs: 0.7x) would run slower: no int8 advice, though Conv holds 90% of kernel time.
  assert.equal(advice(facts([{ kind: 'conv', macs: 1e5, share: 0.9 }])), undefined);
  // A gain under MIN_INT8_GAIN is not advised either: 1.1x on 90% of the run's convs at 3e6 MACs.
  const slight = facts([{ kind: 'conv', macs: 1e6, share: 0.9 }]);
  assert.equal(advice({ ...slight, int8Speedups: { ...int8Speedups, conv: [{ macs: 1e6, speedup: 1.1 }] } }), undefined);
  // Dynamic int8 reads the MatMul curve and the MatMul nodes only.
  const mm = diagnose({
    ...base,
    opShares: [{ opType: 'MatMul', share: 0.8 }],
    matmulMacs: 2e8,
    int8Speedups,
    int8Nodes: [
      { kind: 'matmul', macs: 1e8, share: 0.8 },
      { kind: 'conv', macs: 1e8, share: 0.1 },
    ],
  }).advice.find((a) => a.id === 'int8-dynamic');
  const mmShare = 0.8 * 0.95;
  assert.ok(mm && Math.abs(mm.expectedSpeedup - 1 / (1 - mmShare + mmShare / 3)) < 1e-9, JSON.stringify(mm));
});

test('one thread per core measured faster than ORT default: advised with the measured gain, and fewer threads is not; below 1.15x, neither', () => {
  const overhead = { ...base, kernelFraction: 0.3, model: 'm.onnx' };
  assert.ok(
    diagnose(overhead).advice.some((a) => a.id === 'threads'),
    'without a probe, the overhead rule stands',
  );
  const b = diagnose({ ...overhead, threadsProbe: { threads: 2, latencyMs: 6 } });
  const more = b.advice.find((a) => a.id === 'more-threads')!;
  assert.ok(Math.abs(more.expectedSpeedup - 10 / 6) < 1e-9);
  assert.equal(more.command, 'hone profile m.onnx --threads 2');
  assert.match(more.reason, /default thread count the run took 10\.00 ms; at 2 intra-op threads \(one per core\) 6\.00 ms: ~1\.67x/);
  assert.ok(!b.advice.some((a) => a.id === 'threads'), 'fewer threads contradicts the measurement');
  const close = diagnose({ ...overhead, threadsProbe: { threads: 2, latencyMs: 9 } }).advice.map((a) => a.id);
  assert.ok(!close.includes('more-threads'));
  assert.ok(close.includes('threads'));
});
