import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firstSamples, mnist } from '../../src/data/index.js';
import { createExchange, type Collective, type CompressionSpec } from '../../src/distributed/compress.js';
import { dataParallel } from '../../src/distributed/data-parallel.js';
import { connectNats, NatsCollective, natsUrl, parseBandwidth, TokenBucket } from '../../src/distributed/nats.js';
import { Rendezvous } from '../../src/distributed/rendezvous.js';
import { loadModel } from '../../src/ir/model.js';
import type { ModelProto } from '../../src/ir/proto.js';
import { tensorArray } from '../../src/ir/tensor.js';
import { train, type TrainCallback, type TrainOptions, type TrainingRun } from '../../src/train/index.js';
import { zooModel } from '../../src/zoo/index.js';
import { hone } from '../helpers/cli.js';
import { writeNpz } from '../helpers/npz.js';

const URL = 'nats://127.0.0.1:4222';
const weights = (m: ModelProto) => new Map(m.graph!.initializer.map((t) => [t.name!, Float32Array.from(tensorArray(t) as Float32Array)]));

function maxDiff(a: ModelProto, b: ModelProto): number {
  const wb = weights(b);
  let d = 0;
  for (const [name, x] of weights(a)) {
    const y = wb.get(name)!;
    for (let i = 0; i < x.length; i++) d = Math.max(d, Math.abs(x[i]! - y[i]!));
  }
  return d;
}

/** The data-parallel callback of worker `rank`, its exchange built once the trainer knows the parameters. */
function dpCallback(collective: Collective, rank: number, spec: CompressionSpec, wantsStop?: () => boolean) {
  let dp: ReturnType<typeof dataParallel> | undefined;
  const callback: TrainCallback = {
    onTrainBegin(r) {
      const exchange = createExchange(
        spec,
        r.graph.params.map((p) => p.dims),
        { seed: 0, rank },
      );
      dp = dataParallel({ collective, exchange, ...(wantsStop ? { wantsStop } : {}) });
    },
    onGradients: (r, info) => dp!.onGradients!(r, info),
  };
  return { callback, stats: () => dp!.stats };
}

describe('data-parallel training over NATS', () => {
  it('with compression none, N workers on shares of each batch give the weights of one process on the whole batch', async () => {
    const data = firstSamples((await mnist()).train, 640);
    const model = zooModel('mlp:hidden=64');
    const opts: TrainOptions = { epochs: 1, batchSize: 64, optimizer: { kind: 'sgd', momentum: 0.9 }, lr: 0.05, seed: 3, threads: 1 };
    const one = await train(model, data, opts);
    // 2 and 4 workers from the arrays, and 2 through the data loader (its rank/world interleave serves each
    // worker other samples, the same union per step).
    for (const [world, loader] of [
      [2, false],
      [4, false],
      [2, true],
    ] as const) {
      const ncs = await Promise.all(Array.from({ length: world }, (_, r) => connectNats(URL, `eq-${r}`)));
      const collectives = ncs.map((nc, r) => new NatsCollective(nc, `eq-${world}-${loader}-${process.pid}`, 1, r, world));
      await Promise.all(collectives.map((c) => c.ready()));
      const cbs = collectives.map((c, rank) => dpCallback(c, rank, { kind: 'none' }));
      const results = await Promise.all(
        cbs.map((cb, rank) =>
          train(model, data, { ...opts, ...(loader ? { loader: { workers: 0 } } : {}), shard: { rank, world }, callbacks: [cb.callback] }),
        ),
      );
      const stats = cbs.map((cb) => cb.stats());
      for (const c of collectives) c.close();
      await Promise.all(ncs.map((n) => n.drain()));
      // Every worker holds the same weights, bit for bit: they applied the same averaged gradients.
      for (const r of results.slice(1)) assert.equal(maxDiff(results[0]!.model, r.model), 0);
      // …and those of one process on the whole batch, up to the order of float sums (10 steps).
      const d = maxDiff(one.model, results[0]!.model);
      assert.ok(d < 2e-5, `${world} workers differ from one process by ${d}`);
      assert.equal(stats[0]!.steps, 10);
      assert.equal(stats[0]!.skipped, 0);
      // Raw f32 gradients: the parameters' bytes per step (plus a small header), and the control byte round.
      const params = [...weights(model).values()].reduce((s, w) => s + w.length, 0);
      const perStep = stats[0]!.gradientBytes / 10;
      assert.ok(perStep >= 4 * params && perStep < 4 * params * 1.01, `${perStep} bytes per step for ${params} parameters`);
    }
  });

  it('a worker whose gradients are not finite makes every worker skip the step, and training goes on', async () => {
    const world = 2;
    const parts: Uint8Array[][] = [];
    // An in-memory collective: both workers' messages of a round, delivered once both have sent.
    const pending: { msgs: Uint8Array[]; resolve: (() => void)[] }[] = [];
    const fake = (rank: number): Collective & { round: number } => ({
      world,
      rank,
      round: 0,
      async allgather(m) {
        const r = this.round++;
        pending[r] ??= { msgs: [], resolve: [] };
        const p = pending[r]!;
        p.msgs[rank] = m;
        if (p.msgs.filter(Boolean).length < world) await new Promise<void>((res) => p.resolve.push(res));
        else for (const f of p.resolve) f();
        parts[r] = p.msgs;
        return p.msgs;
      },
    });
    const shapes = [[3]];
    const dps = [0, 1].map((rank) =>
      dataParallel({ collective: fake(rank), exchange: createExchange({ kind: 'none' }, shapes, { seed: 0, rank }) }),
    );
    const runOf = (g: number[]) => ({ grads: [Float32Array.from(g)], buffers: [], stop() {} }) as unknown as TrainingRun;
    const runs = [runOf([1, 2, 3]), runOf([Number.NaN, 0, 0])];
    const out = await Promise.all(dps.map((dp, r) => dp.onGradients!(runs[r]!, { step: 0, loss: r === 1 ? Number.NaN : 0.5 })));
    assert.deepEqual(out, ['skip', 'skip']);
    assert.deepEqual(
      dps.map((d) => d.stats.skipped),
      [1, 1],
    );
    // The next step, finite everywhere, is exchanged: the mean of both.
    const runs2 = [runOf([1, 2, 3]), runOf([3, 2, 1])];
    const out2 = await Promise.all(dps.map((dp, r) => dp.onGradients!(runs2[r]!, { step: 1, loss: 0.5 })));
    assert.deepEqual(out2, [undefined, undefined]);
    for (const r of runs2) assert.deepEqual(Array.from(r.grads[0]!), [2, 2, 2]);
  });

  it('a stop wanted by one worker stops every worker after the same step', async () => {
    const data = firstSamples((await mnist()).train, 640);
    const model = zooModel('mlp:hidden=32');
    const world = 2;
    const ncs = await Promise.all([0, 1].map((r) => connectNats(URL, `stop-${r}`)));
    const collectives = ncs.map((nc, r) => new NatsCollective(nc, `stop-${process.pid}`, 1, r, world));
    await Promise.all(collectives.map((c) => c.ready()));
    let steps = 0;
    const results = await Promise.all(
      collectives.map((collective, rank) =>
        train(model, data, {
          epochs: 2,
          batchSize: 32,
          threads: 1,
          shard: { rank, world },
          callbacks: [
            // Worker 1 wants to stop once it has taken 8 steps: every worker ends after step 9.
            dpCallback(collective, rank, { kind: 'fp16' }, () => rank === 1 && steps >= 8).callback,
            {
              onStepEnd() {
                if (rank === 1) steps++;
              },
            },
          ],
        }),
      ),
    );
    for (const c of collectives) c.close();
    await Promise.all(ncs.map((n) => n.drain()));
    assert.deepEqual(
      results.map((r) => r.history.at(-1)!.step),
      [9, 9],
    );
    assert.equal(maxDiff(results[0]!.model, results[1]!.model), 0);
  });

  it('sends rounds larger than the server payload limit in chunks and counts their bytes', async () => {
    const ncs = await Promise.all([0, 1, 2].map((r) => connectNats(URL, `chunk-${r}`)));
    const cs = ncs.map((nc, r) => new NatsCollective(nc, `chunk-${process.pid}`, 1, r, 3, { chunkBytes: 4096 }));
    await Promise.all(cs.map((c) => c.ready()));
    const msgs = [0, 1, 2].map((r) => Uint8Array.from({ length: 10_001 + r }, (_, i) => (i * 7 + r) & 255));
    for (let round = 0; round < 3; round++) {
      const got = await Promise.all(cs.map((c, r) => c.allgather(msgs[r]!)));
      for (const g of got) assert.deepEqual(g, msgs);
    }
    assert.equal(cs[1]!.bytesSent, 3 * 10_002);
    assert.equal(cs[1]!.messages, 3 * 3);
    for (const c of cs) c.close();
    await Promise.all(ncs.map((n) => n.drain()));
  });

  it('limits sending to the token bucket rate (a lower bound: waits only add)', async () => {
    const bucket = new TokenBucket(1_000_000, 10_000);
    const t0 = performance.now();
    for (let i = 0; i < 10; i++) await bucket.take(10_000);
    // 100 kB at 1 MB/s with a 10 kB burst: at least 90 ms.
    assert.ok(performance.now() - t0 >= 85);
  });

  it('parses NATS URLs and bandwidths, with one-line errors', () => {
    assert.equal(natsUrl('127.0.0.1'), 'nats://127.0.0.1:4222');
    assert.equal(natsUrl('nats://host:4333'), 'nats://host:4333');
    assert.throws(() => natsUrl('http://x'), /not a NATS server URL/);
    assert.equal(parseBandwidth('100mbit'), 12_500_000);
    assert.equal(parseBandwidth('1gbit'), 125_000_000);
    assert.equal(parseBandwidth('50MB'), 50_000_000);
    assert.throws(() => parseBandwidth('fast'), /--bandwidth must be a rate/);
  });

  it('a run name taken by a live leader is refused; one whose leader stopped beating is replaced', async () => {
    const nc = await connectNats(URL, 'rv');
    const run = `rv-${process.pid}`;
    const config = { argv: [], fingerprint: 'x', world: 2, leader: 'here' };
    const a = await Rendezvous.create(nc, URL, run, config);
    await assert.rejects(Rendezvous.create(nc, URL, run, config), /a run named .* is in progress/);
    // Two workers claiming ranks at once get different ones; a third finds the run full.
    const w = await Rendezvous.join(nc, URL, run, 1000, () => {});
    assert.equal(await w.claimRank('one'), 1);
    await assert.rejects(w.claimRank('two'), /already has its 2 workers/);
    await a.close(true);
    await w.close(false);
    await nc.drain();
  });
});

describe('hone train --workers', () => {
  it('trains on 2 worker processes with compression and reports the bytes sent against the analytic figure', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hone-dp-cli-'));
    try {
      const out = join(dir, 'mlp.onnx');
      const r = await hone(
        'train',
        '--model',
        'zoo:mlp:hidden=128',
        '--data',
        'mnist',
        '--limit',
        '1280',
        '--batch-size',
        '128',
        '--workers',
        '2',
        '--grad-compression',
        'topk:ratio=0.05',
        '--json',
        '--quiet',
        '-o',
        out,
      );
      assert.equal(r.code, 0, r.stderr);
      const s = JSON.parse(r.stdout) as {
        distributed: { workers: number; steps: number; gradientBytesPerStep: number; analyticBytesPerStep: number; compression: string };
        testAccuracy: number;
      };
      assert.equal(s.distributed.workers, 2);
      assert.equal(s.distributed.steps, 10);
      assert.equal(s.distributed.compression, 'topk:ratio=0.05');
      const { gradientBytesPerStep: got, analyticBytesPerStep: want } = s.distributed;
      assert.ok(Math.abs(got - want) / want < 0.05, `${got} bytes per step against ${want}`);
      assert.ok(s.testAccuracy > 0.5);
      assert.ok(loadModel(out).graph!.initializer.length > 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a worker whose data differ from the leader’s, and the leader fails with its reason, writing nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hone-dp-refuse-'));
    try {
      const data = join(dir, 'data.npz');
      const x = (v: number) => ({ dims: [64, 4], data: Float32Array.from({ length: 256 }, (_, i) => ((i * v) % 7) / 7) });
      const y = { dims: [64], data: BigInt64Array.from({ length: 64 }, (_, i) => BigInt(i % 3)) };
      writeNpz(data, { input: x(3), label: y });
      const out = join(dir, 'out.onnx');
      const run = `refuse-${process.pid}`;
      const leader = hone(
        'train',
        '--model',
        'zoo:mlp:inputSize=4,hidden=8,classes=3',
        '--data',
        data,
        '--workers',
        '2',
        '--local-workers',
        '0',
        '--run',
        run,
        '--quiet',
        '-o',
        out,
      );
      // The worker starts once the leader has published the run; by then the leader has read the data.
      await new Promise((r) => setTimeout(r, 1500));
      writeNpz(data, { input: x(5), label: y });
      const worker = await hone('train-worker', '--join', URL, '--run', run, '--quiet');
      assert.equal(worker.code, 2);
      assert.match(worker.stderr, /model or data differ from the leader's/);
      const l = await leader;
      assert.equal(l.code, 2);
      assert.match(l.stderr, /^hone: a worker refused to join run/);
      assert.equal(l.stderr.trim().split('\n').length, 1);
      assert.ok(!existsSync(out));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  /** `hone train` with 3 workers (2 local processes) slowed by --bandwidth; one local worker SIGKILLed after epoch 1. */
  async function killOneWorker(extra: string[], rejoin = false) {
    const dir = mkdtempSync(join(tmpdir(), 'hone-dp-kill-'));
    const out = join(dir, 'out.onnx');
    const log = join(dir, 'log.jsonl');
    const run = `kill-${process.pid}-${extra.length}`;
    const args = ['train', '--model', 'zoo:mlp:hidden=32', '--data', 'mnist', '--limit', '1536', '--batch-size', '96', '--epochs', '8'];
    const leader = hone(
      ...args,
      '--workers',
      '3',
      '--bandwidth',
      '20mbit',
      '--run',
      run,
      '--log',
      log,
      '--json',
      '--quiet',
      '-o',
      out,
      ...extra,
    );
    try {
      const t0 = Date.now();
      while (!(existsSync(log) && readFileSync(log, 'utf8').trim().split('\n').length >= 2) && Date.now() - t0 < 60_000)
        await new Promise((r) => setTimeout(r, 50));
      const pids = execFileSync('pgrep', ['-f', `train-worker .*--run ${run}`], { encoding: 'utf8' })
        .trim()
        .split('\n')
        .map(Number);
      assert.equal(pids.length, 2);
      process.kill(pids[0]!, 'SIGKILL');
      // A restarted worker asks to join the run under way: admitted at the leader's next epoch.
      const joiner = rejoin ? hone('train-worker', '--join', URL, '--run', run, '--quiet') : undefined;
      const r = await leader;
      return { r, out, joiner: await joiner, epochs: readFileSync(log, 'utf8').trim().split('\n').length - 1 };
    } finally {
      await leader;
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it('with --min-workers, the survivors of a worker killed mid-run go on from the last finished epoch, a restarted worker rejoins, and the model is written', async () => {
    const { r, epochs, joiner } = await killOneWorker(['--min-workers', '2', '--heartbeat-timeout', '2'], true);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(joiner?.code, 0, joiner?.stderr);
    const s = JSON.parse(r.stdout) as {
      epochs: number;
      testAccuracy: number;
      distributed: { generations: number; workersAtEnd: number; lostWorkers: number[]; joinedWorkers: number[] };
    };
    assert.equal(s.epochs, 8);
    // Generation 1: 3 workers; 2: the 2 survivors; 3: with the restarted one.
    assert.equal(s.distributed.generations, 3);
    assert.equal(s.distributed.workersAtEnd, 3);
    assert.equal(s.distributed.lostWorkers.length, 1);
    assert.deepEqual(s.distributed.joinedWorkers, [3]);
    assert.ok(s.testAccuracy > 0.5);
    // The log has every epoch once at least (an epoch cut short by the loss is run again).
    assert.ok(epochs >= 8);
  });

  it('below --min-workers, the survivors wait for a worker to join instead of ending the run', async () => {
    // Commits every 4 steps as well: the survivors redo at most 4 steps.
    const { r, joiner } = await killOneWorker(['--min-workers', '3', '--heartbeat-timeout', '2', '--commit-every', '4'], true);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(joiner?.code, 0, joiner?.stderr);
    const s = JSON.parse(r.stdout) as {
      epochs: number;
      distributed: { generations: number; workersAtEnd: number; joinedWorkers: number[] };
    };
    assert.equal(s.epochs, 8);
    // Generation 2 is the 2 survivors and the worker that joined.
    assert.equal(s.distributed.generations, 2);
    assert.equal(s.distributed.workersAtEnd, 3);
    assert.deepEqual(s.distributed.joinedWorkers, [3]);
  });

  it('without --min-workers, a worker killed mid-run ends the run with one line and writes nothing', async () => {
    const { r, out } = await killOneWorker([]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^hone: local worker process \d stopped \(SIGKILL\)/);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.ok(!existsSync(out));
  });

  it('bad input: an unreachable server, an unknown compression, flags without --workers, an uneven batch', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hone-dp-bad-'));
    const out = join(dir, 'x.onnx');
    const base = ['train', '--model', 'zoo:mlp:hidden=16', '--data', 'mnist', '--limit', '256', '-o', out];
    try {
      const cases: [string[], RegExp][] = [
        [['--workers', '2', '--nats', 'nats://127.0.0.1:4999'], /cannot reach the NATS server at nats:\/\/127\.0\.0\.1:4999/],
        [['--workers', '2', '--grad-compression', 'zip'], /--grad-compression: unknown method 'zip'/],
        [['--grad-compression', 'fp16'], /--grad-compression sets data-parallel training; add --workers N/],
        [['--workers', '3', '--batch-size', '64'], /batch size 64 does not split evenly over 3 workers/],
        [['--workers', '2', '--checkpoint', dir], /--checkpoint cannot be used with --workers/],
        [['--workers', '2', '--min-workers', '3'], /--min-workers 3 is more than --workers 2/],
        [['--min-workers', '1'], /--min-workers sets data-parallel training; add --workers N/],
      ];
      for (const [extra, want] of cases) {
        const r = await hone(...base, ...extra);
        assert.equal(r.code, 2, `${extra.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr, want);
        assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
        assert.ok(!existsSync(out));
      }
      const w = await hone('train-worker', '--join', 'nats://127.0.0.1:4999', '--run', 'x');
      assert.equal(w.code, 2);
      assert.match(w.stderr, /cannot reach the NATS server at nats:\/\/127\.0\.0\.1:4999/);
      const late = await hone('train-worker', '--join', URL, '--run', `nobody-${process.pid}`, '--wait', '0.5', '--quiet');
      assert.equal(late.code, 2);
      assert.match(late.stderr, /no run named 'nobody-\d+' started/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
