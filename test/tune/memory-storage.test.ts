import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InMemoryStorage } from '../../src/tune/storage/memory.js';

test('in-memory storage: studies, trials, waiting queue, states, attrs', async () => {
  const s = new InMemoryStorage();
  const id = await s.createStudy('a', ['minimize']);
  await assert.rejects(s.createStudy('a', ['minimize']), /already exists/);
  assert.equal(await s.createStudy('a', ['minimize'], { loadIfExists: true }), id);
  await assert.rejects(s.createStudy('a', ['maximize'], { loadIfExists: true }), /directions/);
  assert.equal(await s.getStudyId('a'), id);
  assert.equal(await s.getStudyId('b'), undefined);

  const w = await s.createTrial(id, { state: 'waiting', systemAttrs: { fixed_params: { x: 1 } } });
  const r = await s.createTrial(id);
  assert.equal(w.number, 0);
  assert.equal(r.number, 1);
  assert.equal(r.state, 'running');
  const popped = await s.popWaitingTrial(id);
  assert.equal(popped?.id, w.id);
  assert.equal(popped?.state, 'running');
  assert.equal(await s.popWaitingTrial(id), undefined);

  await s.setTrialParam(r.id, 'x', 0.5, { type: 'float', low: 0, high: 1, log: false });
  await s.setTrialIntermediateValue(r.id, 2, 0.7);
  await s.setTrialUserAttr(r.id, 'u', [1]);
  assert.equal(await s.setTrialState(r.id, 'complete', [0.1]), true);
  assert.equal(await s.setTrialState(r.id, 'fail'), false, 'a finished trial stays finished');
  await assert.rejects(s.setTrialParam(r.id, 'y', 1, { type: 'float', low: 0, high: 1, log: false }), /finished/);
  const got = await s.getTrial(r.id);
  assert.deepEqual(got.values, [0.1]);
  assert.deepEqual(got.params, { x: 0.5 });
  assert.deepEqual(got.intermediateValues, { 2: 0.7 });
  assert.deepEqual(got.userAttrs, { u: [1] });
  assert.ok(got.datetimeComplete! >= got.datetimeStart!);
  assert.deepEqual(
    (await s.getAllTrials(id, ['complete'])).map((t) => t.id),
    [r.id],
  );
  assert.equal((await s.getStudy(id)).nTrials, 2);
});

test('in-memory storage: concurrent pops hand each waiting trial to one caller', async () => {
  const s = new InMemoryStorage();
  const id = await s.createStudy('q', ['minimize']);
  for (let i = 0; i < 10; i++) await s.createTrial(id, { state: 'waiting' });
  const popped = await Promise.all(Array.from({ length: 15 }, () => s.popWaitingTrial(id)));
  const ids = popped.filter((t) => t !== undefined).map((t) => t!.id);
  assert.equal(ids.length, 10);
  assert.equal(new Set(ids).size, 10);
});

test('in-memory storage: stale running trials are failed', async () => {
  const s = new InMemoryStorage();
  const id = await s.createStudy('h', ['minimize']);
  const t = await s.createTrial(id);
  await new Promise((r) => setTimeout(r, 30));
  assert.deepEqual(await s.failStaleTrials(id, 0.01), [t.id]);
  assert.equal((await s.getTrial(t.id)).state, 'fail');
});
