// The storage conformance suite: every Storage must pass it (memory, SQLite, PostgreSQL).
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Storage } from '../../src/tune/storage/storage.js';
import type { Distribution } from '../../src/tune/types.js';
import { createTrialWithinBudget, retryFailedTrial } from '../../src/tune/storage/coordination.js';

export interface StorageFixture {
  storage: Storage;
  /** Removes whatever the fixture created. */
  cleanup(): Promise<void>;
}

const floatDist: Distribution = { type: 'float', low: 0, high: 1, log: false };
const catDist: Distribution = { type: 'categorical', choices: ['a', 'b', null] };

export function storageConformance(name: string, make: () => Promise<StorageFixture>): void {
  describe(`storage conformance: ${name}`, () => {
    const fixtures: StorageFixture[] = [];
    const open = async () => {
      const f = await make();
      fixtures.push(f);
      return f.storage;
    };
    after(async () => {
      for (const f of fixtures) await f.cleanup();
    });

    it('creates, finds, loads and lists studies', async () => {
      const s = await open();
      const id = await s.createStudy('alpha', ['minimize']);
      assert.equal(await s.getStudyId('alpha'), id);
      assert.equal(await s.getStudyId('nope'), undefined);
      await assert.rejects(s.createStudy('alpha', ['minimize']), /already exists/);
      assert.equal(await s.createStudy('alpha', ['minimize'], { loadIfExists: true }), id);
      await assert.rejects(s.createStudy('alpha', ['maximize'], { loadIfExists: true }), /directions/);
      const id2 = await s.createStudy('beta', ['minimize', 'maximize']);
      await s.setStudyUserAttr(id2, 'owner', { who: 'me' });
      await s.setStudySystemAttr(id2, 'config', [1, 2]);
      const beta = await s.getStudy(id2);
      assert.deepEqual(beta.directions, ['minimize', 'maximize']);
      assert.deepEqual(beta.userAttrs, { owner: { who: 'me' } });
      assert.deepEqual(beta.systemAttrs, { config: [1, 2] });
      assert.equal(beta.nTrials, 0);
      const names = (await s.listStudies()).map((x) => x.name).sort();
      assert.deepEqual(names, ['alpha', 'beta']);
      await s.createTrial(id);
      await s.deleteStudy(id);
      assert.equal(await s.getStudyId('alpha'), undefined);
      assert.deepEqual(
        (await s.listStudies()).map((x) => x.name),
        ['beta'],
      );
    });

    it('numbers trials per study and keeps everything a trial holds', async () => {
      const s = await open();
      const a = await s.createStudy('numbers', ['minimize']);
      const b = await s.createStudy('other', ['minimize']);
      const t0 = await s.createTrial(a);
      const u0 = await s.createTrial(b);
      const t1 = await s.createTrial(a);
      assert.deepEqual([t0.number, t1.number, u0.number], [0, 1, 0]);
      assert.equal(t0.state, 'running');
      assert.ok(t0.datetimeStart !== undefined);
      await s.setTrialParam(t1.id, 'x', 0.25, floatDist);
      await s.setTrialParam(t1.id, 'c', null, catDist);
      await s.setTrialIntermediateValue(t1.id, 0, 1.5);
      await s.setTrialIntermediateValue(t1.id, 3, Number.NaN);
      await s.setTrialIntermediateValue(t1.id, 4, Number.POSITIVE_INFINITY);
      await s.setTrialUserAttr(t1.id, 'note', 'hi');
      await s.setTrialSystemAttr(t1.id, 'seed', 7);
      assert.equal(await s.setTrialState(t1.id, 'complete', [Number.NEGATIVE_INFINITY]), true);
      const got = await s.getTrial(t1.id);
      assert.equal(got.state, 'complete');
      assert.deepEqual(got.params, { x: 0.25, c: null });
      assert.deepEqual(got.distributions, { x: floatDist, c: catDist });
      assert.deepEqual(got.intermediateValues, { 0: 1.5, 3: Number.NaN, 4: Number.POSITIVE_INFINITY });
      assert.deepEqual(got.values, [Number.NEGATIVE_INFINITY]);
      assert.deepEqual(got.userAttrs, { note: 'hi' });
      assert.deepEqual(got.systemAttrs, { seed: 7 });
      assert.ok(got.datetimeComplete! >= got.datetimeStart!);
      assert.equal((await s.getStudy(a)).nTrials, 2);
    });

    it('refuses to change a finished trial and says so', async () => {
      const s = await open();
      const id = await s.createStudy('finished', ['maximize']);
      const t = await s.createTrial(id);
      assert.equal(await s.setTrialState(t.id, 'fail'), true);
      assert.equal(await s.setTrialState(t.id, 'complete', [1]), false);
      assert.equal((await s.getTrial(t.id)).state, 'fail');
      await assert.rejects(s.setTrialParam(t.id, 'x', 0.5, floatDist), /finished/);
      await assert.rejects(s.setTrialIntermediateValue(t.id, 1, 0.5), /finished/);
      await s.setTrialSystemAttr(t.id, 'why', 'crashed');
      assert.equal((await s.getTrial(t.id)).systemAttrs.why, 'crashed');
    });

    it('creates trials from templates, pops waiting ones in order, filters by state', async () => {
      const s = await open();
      const id = await s.createStudy('queue', ['minimize']);
      const done = await s.createTrial(id, { state: 'complete', values: [3], params: { x: 0.1 }, distributions: { x: floatDist } });
      assert.equal(done.state, 'complete');
      assert.deepEqual(done.values, [3]);
      const w1 = await s.createTrial(id, {
        state: 'waiting',
        params: { x: 0.5 },
        distributions: { x: floatDist },
        systemAttrs: { fixed: true },
      });
      const w2 = await s.createTrial(id, { state: 'waiting' });
      assert.equal(w1.state, 'waiting');
      assert.equal(w1.datetimeStart, undefined);
      const p1 = await s.popWaitingTrial(id);
      assert.equal(p1?.id, w1.id);
      assert.equal(p1?.state, 'running');
      assert.deepEqual(p1?.params, { x: 0.5 });
      assert.deepEqual(p1?.systemAttrs, { fixed: true });
      assert.ok(p1?.datetimeStart !== undefined);
      assert.equal((await s.popWaitingTrial(id))?.id, w2.id);
      assert.equal(await s.popWaitingTrial(id), undefined);
      assert.deepEqual(
        (await s.getAllTrials(id)).map((t) => t.number),
        [0, 1, 2],
      );
      assert.deepEqual(
        (await s.getAllTrials(id, ['running'])).map((t) => t.id),
        [w1.id, w2.id],
      );
      assert.deepEqual(
        (await s.getAllTrials(id, ['complete', 'fail'])).map((t) => t.id),
        [done.id],
      );
    });

    it('gives unique numbers and pops each waiting trial once under concurrency', async () => {
      const s = await open();
      const id = await s.createStudy('race', ['minimize']);
      const made = await Promise.all(Array.from({ length: 40 }, () => s.createTrial(id, { state: 'waiting' })));
      assert.deepEqual(
        made.map((t) => t.number).sort((a, b) => a - b),
        Array.from({ length: 40 }, (_, i) => i),
      );
      const popped = await Promise.all(Array.from({ length: 60 }, () => s.popWaitingTrial(id)));
      const ids = popped.filter((t) => t !== undefined).map((t) => t!.id);
      assert.equal(ids.length, 40);
      assert.equal(new Set(ids).size, 40);
    });

    it('fails running trials whose heartbeat is older than the grace, once', async () => {
      const s = await open();
      const id = await s.createStudy('beats', ['minimize']);
      const stale = await s.createTrial(id);
      const alive = await s.createTrial(id);
      const waiting = await s.createTrial(id, { state: 'waiting' });
      const done = await s.createTrial(id);
      await s.setTrialState(done.id, 'complete', [0]);
      // Wide margins: 'stale' is ≥ 1.2 s silent, 'alive' beat just now, the grace is 0.8 s.
      await new Promise((r) => setTimeout(r, 1200));
      await s.recordHeartbeat(alive.id);
      const failed = await s.failStaleTrials(id, 0.8);
      assert.deepEqual(failed, [stale.id]);
      assert.deepEqual(await s.failStaleTrials(id, 0.8), []);
      assert.equal((await s.getTrial(stale.id)).state, 'fail');
      assert.equal((await s.getTrial(alive.id)).state, 'running');
      assert.equal((await s.getTrial(waiting.id)).state, 'waiting');
      assert.equal((await s.getTrial(done.id)).state, 'complete');
    });

    it('never overshoots a trial budget and retries a failed trial once', async () => {
      const s = await open();
      const id = await s.createStudy('budget', ['minimize']);
      const got = await Promise.all(Array.from({ length: 12 }, () => createTrialWithinBudget(s, id, 5)));
      assert.equal(got.filter((t) => t !== undefined).length, 5);
      const t = (await s.popWaitingTrial(id))!;
      await s.setTrialParam(t.id, 'x', 0.75, floatDist);
      await s.setTrialState(t.id, 'fail');
      const retries = await Promise.all([retryFailedTrial(s, t.id), retryFailedTrial(s, t.id)]);
      const retry = retries.find((r) => r !== undefined)!;
      assert.equal(retries.filter((r) => r !== undefined).length, 1);
      assert.equal(retry.state, 'waiting');
      assert.equal(retry.number, 5);
      assert.deepEqual(retry.params, { x: 0.75 });
      assert.equal(retry.systemAttrs.retried_from, t.number);
      assert.equal(retry.systemAttrs.retry_count, 1);
      assert.deepEqual(retry.systemAttrs.fixed_params, { x: 0.75 });
      assert.equal((await s.getTrial(t.id)).systemAttrs.retried_by, retry.number);
      // The retry took the failed trial's place: the budget is still full.
      assert.equal(await createTrialWithinBudget(s, id, 5), undefined);
      assert.equal(await retryFailedTrial(s, retry.id), undefined);
    });
  });
}
