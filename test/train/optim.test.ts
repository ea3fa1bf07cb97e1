import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { clipGradNorm, createOptimizer, createSchedule, type OptimizerSpec } from '../../src/train/index.js';

const close = (a: number, b: number, tol = 1e-6) => assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} vs ${b}`);

describe('optimizers (PyTorch update rules)', () => {
  it('Adam matches the closed form of its first steps', () => {
    const p = [Float32Array.of(1, -2)];
    const g = [Float32Array.of(0.5, 0.25)];
    const opt = createOptimizer({ kind: 'adam' }, [2]);
    opt.step(p, g, 0.1);
    // Step 1: m̂ = g, v̂ = g², update = lr·g/(|g| + eps) = lr·sign(g).
    close(p[0]![0]!, 0.9);
    close(p[0]![1]!, -2.1);
    opt.step(p, g, 0.1);
    close(p[0]![0]!, 0.8, 1e-5);
    assert.equal(opt.state().step, 2);
  });

  it('AdamW decays weights decoupled from the gradient; Adam adds L2 to the gradient', () => {
    const pw = [Float32Array.of(1)];
    createOptimizer({ kind: 'adamw', weightDecay: 0.1 }, [1]).step(pw, [Float32Array.of(0)], 0.1);
    close(pw[0]![0]!, 1 - 0.1 * 0.1); // zero gradient: only the decay
    const pa = [Float32Array.of(1)];
    createOptimizer({ kind: 'adam', weightDecay: 0.1 }, [1]).step(pa, [Float32Array.of(0)], 0.1);
    close(pa[0]![0]!, 0.9, 1e-5); // the gradient becomes 0.1·p; Adam's first step moves by lr·sign
  });

  it('SGD with momentum and Nesterov', () => {
    const p = [Float32Array.of(1)];
    const g = [Float32Array.of(1)];
    const opt = createOptimizer({ kind: 'sgd', momentum: 0.9 }, [1]);
    opt.step(p, g, 0.1); // buf = 1
    close(p[0]![0]!, 0.9);
    opt.step(p, g, 0.1); // buf = 1.9
    close(p[0]![0]!, 0.71);
    const q = [Float32Array.of(1)];
    createOptimizer({ kind: 'sgd', momentum: 0.9, nesterov: true }, [1]).step(q, g, 0.1); // g + 0.9·buf = 1.9
    close(q[0]![0]!, 0.81);
  });

  it('optimizer state round-trips (checkpointing)', () => {
    const a = createOptimizer({ kind: 'adam' }, [3]);
    const p = [Float32Array.of(1, 2, 3)];
    a.step(p, [Float32Array.of(1, 1, 1)], 0.01);
    const b = createOptimizer({ kind: 'adam' }, [3]);
    b.loadState(a.state());
    const p2 = [Float32Array.from(p[0]!)];
    a.step(p, [Float32Array.of(0.5, 0, -1)], 0.01);
    b.step(p2, [Float32Array.of(0.5, 0, -1)], 0.01);
    assert.deepEqual(p, p2);
    assert.throws(() => createOptimizer({ kind: 'sgd', momentum: 0.5 }, [3]).loadState(a.state()), /does not match/);
  });

  it('Adam and SGD on their own arrays (WebAssembly SIMD kernels) match the JS loops, for odd sizes and every variant', () => {
    const sizes = [1, 3, 4, 5, 17, 1000];
    const rnd = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 7.1 + i * 1.3) * 0.5);
    // The kernel's run (the optimizer's own arrays) against the JS loop (plain arrays), 4 steps from the same start.
    const compare = (spec: OptimizerSpec, lr: number) => {
      const js = createOptimizer(spec, sizes);
      const simd = createOptimizer(spec, sizes);
      const own = simd.allocate();
      const pj = sizes.map((n, k) => rnd(n, k));
      own.params.forEach((p, k) => p.set(pj[k]!));
      for (let step = 0; step < 4; step++) {
        const g = sizes.map((n, k) => rnd(n, 10 * step + k + 3));
        own.grads.forEach((x, k) => x.set(g[k]!));
        js.step(pj, g, lr);
        simd.step(own.params, own.grads, lr);
      }
      sizes.forEach((_, k) => pj[k]!.forEach((v, i) => close(own.params[k]![i]!, v, 1e-6)));
      // The kernel's state is the optimizer's state (checkpoints see it).
      const sj = js.state();
      assert.equal(simd.state().slots.length, sj.slots.length, JSON.stringify(spec));
      simd.state().slots.forEach((sl, k) => sl.forEach((a, j) => a.forEach((v, i) => close(v, sj.slots[k]![j]![i]!, 1e-6))));
      return simd;
    };
    for (const spec of [
      { kind: 'adam' },
      { kind: 'adam', weightDecay: 0.05 },
      { kind: 'adamw', weightDecay: 0.1 },
      { kind: 'adam', eps: 0 },
    ] as const) {
      assert.ok(
        compare(spec, 0.01)
          .state()
          .slots[5]![0]!.some((v) => v !== 0),
      );
    }
    for (const spec of [
      { kind: 'sgd' },
      { kind: 'sgd', momentum: 0.9 },
      { kind: 'sgd', momentum: 0.8, nesterov: true, weightDecay: 0.01 },
      { kind: 'sgd', momentum: 0.5, dampening: 0.3 },
      { kind: 'sgd', weightDecay: 0.1 },
    ] as const)
      compare(spec, 0.05);
    // Only the first allocate() gets the kernel's views; a second gets plain arrays that still update.
    const opt = createOptimizer({ kind: 'adam' }, [2]);
    const a = opt.allocate();
    const b = opt.allocate();
    assert.notEqual(a.params[0]!.buffer, b.params[0]!.buffer);
    b.grads[0]!.set([1, -1]);
    opt.step(b.params, b.grads, 0.1);
    close(b.params[0]![0]!, -0.1);
  });

  it('clips gradients by global norm', () => {
    const g = [Float32Array.of(3), Float32Array.of(4)];
    close(clipGradNorm(g, 1), 5);
    close(Math.hypot(g[0]![0]!, g[1]![0]!), 1, 1e-5);
  });
});

describe('LR schedules', () => {
  it('step, multistep, exponential', () => {
    const s = createSchedule({ kind: 'step', stepSize: 10, gamma: 0.5 }, 1);
    close(s.lr(9), 1);
    close(s.lr(10), 0.5);
    close(s.lr(25), 0.25);
    const m = createSchedule({ kind: 'multistep', milestones: [3, 7] }, 1);
    close(m.lr(2), 1);
    close(m.lr(3), 0.1);
    close(m.lr(8), 0.01);
    close(createSchedule({ kind: 'exponential', gamma: 0.9 }, 2).lr(3), 2 * 0.729);
  });

  it('cosine annealing, with warm restarts', () => {
    const c = createSchedule({ kind: 'cosine', period: 100, minLr: 0.1 }, 1);
    close(c.lr(0), 1);
    close(c.lr(50), 0.55);
    close(c.lr(100), 0.1);
    close(c.lr(200), 0.1);
    const r = createSchedule({ kind: 'cosine', period: 10, restarts: true, mult: 2 }, 1);
    close(r.lr(10), 1); // restart
    close(r.lr(20), 0.5); // halfway through the second, 20-step period
    close(r.lr(30), 1); // the third period starts at 10 + 20
  });

  it('one-cycle rises to the base rate and anneals far below it', () => {
    const o = createSchedule({ kind: 'onecycle', totalSteps: 100 }, 1);
    close(o.lr(0), 1 / 25);
    const peak = Math.max(...Array.from({ length: 100 }, (_, t) => o.lr(t)));
    close(peak, 1);
    assert.ok(o.lr(99) < 1e-4);
  });

  it('linear warm-up composes with any schedule', () => {
    const w = createSchedule({ kind: 'cosine', period: 100 }, 1, { steps: 10, startFactor: 0 });
    close(w.lr(0), 0);
    close(w.lr(5), 0.5 * createSchedule({ kind: 'cosine', period: 100 }, 1).lr(5));
    close(w.lr(10), createSchedule({ kind: 'cosine', period: 100 }, 1).lr(10));
  });

  it('reduce-on-plateau cuts the rate after `patience` bad epochs', () => {
    const p = createSchedule({ kind: 'plateau', patience: 1, factor: 0.5 }, 1);
    p.observe(1);
    p.observe(0.5);
    close(p.lr(0), 1);
    p.observe(0.6);
    close(p.lr(0), 1);
    p.observe(0.6);
    close(p.lr(0), 0.5);
    const q = createSchedule({ kind: 'plateau', patience: 1, factor: 0.5 }, 1);
    q.loadState(p.state());
    close(q.lr(0), 0.5);
  });
});
