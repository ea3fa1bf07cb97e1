import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { HoneError } from '../../src/errors.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import { encodeModel } from '../../src/ir/codec.js';
import { DataType } from '../../src/ir/dtype.js';
import type { ModelProto } from '../../src/ir/proto.js';
import { cleanWebMessage, openBrowserRuntime, type BrowserRuntime } from '../../src/runtime/browser.js';
import { fixDims, randomFeeds, resolveInputs } from '../../src/runtime/inputs.js';
import { createSession } from '../../src/runtime/session.js';
import { zooModel } from '../../src/zoo/index.js';

// One Chromium for the tests that share it (each start is seconds); the abort test starts its own.
let rt: BrowserRuntime;
let browserPid: number;
before(async () => {
  rt = await openBrowserRuntime();
  [browserPid] = browsers();
});
after(async () => {
  const pids = tree(browserPid);
  await rt.close();
  await assertGone(pids);
});

/** A fixed-shape copy of a zoo model, its bytes and inputs. */
function fixed(spec: string, dims: Record<string, number>) {
  const model = fixDims(zooModel(spec), { dims });
  return { bytes: encodeModel(model), inputs: resolveInputs(model) };
}

test('the page is cross-origin isolated and reports its versions', () => {
  assert.match(rt.info.chromium, /^\d+\.\d+/);
  assert.equal(rt.info.ortWeb, '1.30.0', 'onnxruntime-web is the version of onnxruntime-node (package.json)');
  assert.equal(rt.info.threadsAvailable, true, 'COOP/COEP from the local server make SharedArrayBuffer available');
  assert.ok(rt.info.cores >= 1);
  assert.equal(browsers().length, 1, 'Chromium runs as a child of this process');
});

test('run() gives the outputs onnxruntime-node gives, for float and int64 inputs', async () => {
  for (const [spec, dims] of [
    ['mlp:hidden=64', { batch: 2 }],
    ['transformer:layers=1,dModel=32,heads=2,ffn=64,vocab=50,maxSeq=16', { batch: 1, seq: 8 }],
  ] as const) {
    const { bytes, inputs } = fixed(spec, dims);
    const feeds = randomFeeds(inputs, 3, 50);
    const session = await createSession(bytes);
    const want = await session.run(feeds);
    await session.release();
    const got = await rt.run(bytes, feeds, { graphOptimizationLevel: 'basic' });
    assert.deepEqual(Object.keys(got), Object.keys(want), spec);
    for (const [name, t] of Object.entries(got)) {
      assert.deepEqual(t.dims, want[name]!.dims, `${spec} ${name}`);
      const a = t.data as Float32Array;
      const b = want[name]!.data as Float32Array;
      assert.equal(a.length, b.length);
      const diff = Math.max(...Array.from(a, (x, i) => Math.abs(x - b[i]!)));
      assert.ok(diff < 1e-4, `${spec} ${name}: max difference ${diff}`);
    }
  }
});

test('measure() times fresh sessions at 1 and 2 threads, with the stats of stats.ts', async () => {
  const { bytes, inputs } = fixed('mlp:hidden=256-128', { batch: 4 });
  for (const threads of [1, 2]) {
    const m = await rt.measure(bytes, { inputs, runs: 10, warmup: 2, settings: { threads } });
    const s = m.latencyMs;
    assert.equal(m.threads, threads);
    assert.ok(Number.isFinite(s.floor) && s.floor > 0, `floor ${s.floor}`);
    assert.ok(Number.isFinite(s.p50) && s.p50 > 0, `p50 ${s.p50}`);
    assert.ok(s.runs >= 10 && s.runs % 10 === 0, `runs come in rounds of 10: ${s.runs}`);
    assert.ok(s.min <= s.p50 && s.p50 <= s.max);
    assert.ok(m.sessionCreateMs > 0);
  }
  await assert.rejects(
    rt.measure(bytes, { inputs, settings: { threads: 0 } }),
    (e: unknown) => e instanceof HoneError && /threads must be an integer >= 1/.test(e.message),
  );
});

test('a model with an op ORT-web has no kernel for fails with a HoneError naming the op', async () => {
  // NCHWc ops are what ORT on x86 writes into models it optimizes at level 'all'; ORT-web does not register them.
  const b = new GraphBuilder('nchwc');
  const x = b.input('x', DataType.FLOAT, [1, 16, 4, 4]);
  const r = b.op('ReorderInput', [x], {}, { domain: 'com.microsoft.nchwc' });
  b.op('ReorderOutput', [r], { channels: 16 }, { output: 'y', domain: 'com.microsoft.nchwc' });
  b.output('y', DataType.FLOAT, [1, 16, 4, 4]);
  const model: ModelProto = b.model({ extraOpsets: { 'com.microsoft.nchwc': 1 } });
  const inputs = resolveInputs(model);
  await assert.rejects(rt.measure(encodeModel(model), { inputs }), (e: unknown) => {
    assert.ok(e instanceof HoneError && e.exitCode === 2, String(e));
    assert.match(e.message, /^onnxruntime-web \(WASM\) has no kernel for op com\.microsoft\.nchwc:ReorderInput/);
    assert.ok(!e.message.includes('\n'));
    return true;
  });
  // A failed load leaves the page usable.
  const ok = fixed('mlp:hidden=16', { batch: 1 });
  assert.ok((await rt.measure(ok.bytes, { inputs: ok.inputs, runs: 3 })).latencyMs.p50 > 0);
});

test("a run that fails names ORT-web's message", async () => {
  const { bytes } = fixed('mlp:hidden=16', { batch: 1 });
  await assert.rejects(
    rt.run(bytes, { input: { type: 'float32', data: new Float32Array(10), dims: [1, 10] } }),
    (e: unknown) => e instanceof HoneError && /^onnxruntime-web \(WASM\) cannot (load|run) the model: .*input/i.test(e.message),
  );
});

test('cleanWebMessage drops ORT-web wrapping', () => {
  assert.equal(
    cleanWebMessage("Error: Can't create a session. ERROR_CODE: 1, ERROR_MESSAGE: Fatal error: x:Op(-1) is not a registered function/op"),
    'x:Op(-1) is not a registered function/op',
  );
  assert.equal(cleanWebMessage('failed to call OrtRun(). ERROR_CODE: 2, ERROR_MESSAGE: bad dims.'), 'bad dims');
});

test('a missing Chromium is a bad-input error naming the install and HONE_CHROMIUM', async () => {
  await assert.rejects(openBrowserRuntime({ executablePath: '/nonexistent/chromium' }), (e: unknown) => {
    assert.ok(e instanceof HoneError && e.exitCode === 2);
    assert.match(e.message, /Chromium is not at \/nonexistent\/chromium; .*apt-get install chromium.*HONE_CHROMIUM/);
    return true;
  });
});

test('aborting the signal closes Chromium and rejects the call in flight', async () => {
  const ac = new AbortController();
  const own = await openBrowserRuntime({ signal: ac.signal });
  const [ownPid] = browsers().filter((p) => p !== browserPid);
  assert.ok(ownPid);
  const { bytes, inputs } = fixed('mlp', { batch: 8 });
  const call = own.measure(bytes, { inputs, runs: 1000, warmup: 0 });
  let mine: number[] = [];
  setTimeout(() => {
    mine = tree(ownPid);
    ac.abort(new Error('stop'));
  }, 300);
  await assert.rejects(call, /stop/);
  await own.close();
  await assertGone(mine);
  await assert.rejects(own.measure(bytes, { inputs }), /stop/);
});

/** Live processes (zombies excluded) from /proc (Linux): pid → [parent pid, command name]. */
function processes(): Map<number, [number, string]> {
  const out = new Map<number, [number, string]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid …: comm may hold spaces and parentheses, so split at the last ')'.
      const close = stat.lastIndexOf(')');
      const [state, ppid] = stat.slice(close + 2).split(' ');
      if (state !== 'Z') out.set(Number(entry), [Number(ppid), stat.slice(stat.indexOf('(') + 1, close)]);
    } catch {
      // The process ended while we read.
    }
  }
  return out;
}

/** Chromium main processes started by this process. */
function browsers(): number[] {
  return [...processes()].filter(([, [ppid, comm]]) => ppid === process.pid && comm.includes('chrom')).map(([p]) => p);
}

/** `root` and every live process below it. */
function tree(root: number): number[] {
  const procs = processes();
  const below = (p: number): boolean => {
    for (let q: number | undefined = p; q !== undefined && q > 1; q = procs.get(q)?.[0]) if (q === root) return true;
    return false;
  };
  return [...procs.keys()].filter(below);
}

/** Waits (up to 5 s) until none of `pids` is alive; zombies waiting for their reaper count as gone. */
async function assertGone(pids: readonly number[]): Promise<void> {
  const alive = () =>
    pids.filter((p) => {
      try {
        return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${p}/stat`, 'utf8'));
      } catch {
        return false;
      }
    });
  for (let i = 0; i < 50 && alive().length; i++) await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(alive(), [], 'no Chromium process outlives close()');
}
