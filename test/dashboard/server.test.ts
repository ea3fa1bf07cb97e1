// hone dashboard's server without a browser: what it refuses before it listens, who may read and write,
// the JSON its pages draw (chart point counts against the trials), stored logs and reports (corrupt lines
// counted, paths confined to the folder), and live events when a study changes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDashboard, type Dashboard } from '../../src/dashboard/server.js';
import { parseRun, reportKind, runSettings, scanLogs } from '../../src/dashboard/logs.js';
import { HoneError } from '../../src/errors.js';
import { SqliteStorage } from '../../src/tune/storage/sqlite.js';
import { createStudy } from '../../src/tune/study.js';
import { RandomSampler } from '../../src/tune/samplers/random.js';
import { hone } from '../helpers/cli.js';
import { spawnHone } from '../helpers/spawn.js';
import { dropSchema, PG_URL, uniqueSchema } from '../tune/pg-helpers.js';
import { openStorage } from '../../src/tune/storage/open.js';
import { describeUrl } from '../../src/tune/storage/postgres.js';
import type { Storage } from '../../src/tune/storage/storage.js';

let dir: string;
let db: string;

function epoch(e: number, loss: number, extra: Record<string, number> = {}) {
  return JSON.stringify({
    epoch: e,
    step: e * 10,
    lr: 0.01 / e,
    trainLoss: loss,
    trainAccuracy: 1 - loss / 3,
    samplesPerSec: 1000 + e,
    seconds: e,
    ...extra,
  });
}

/** A study of `n` trials of a two-parameter function, reporting two steps (one objective), every third pruned, the last failed. */
async function makeStudy(storage: Storage, name: string, n: number, directions: ('minimize' | 'maximize')[] = ['minimize']) {
  const study = await createStudy({ storage, name, directions, sampler: new RandomSampler({ seed: 3 }), loadIfExists: true });
  for (let i = 0; i < n; i++) {
    const t = await study.ask();
    const x = t.suggestFloat('x', 1e-4, 1, { log: true });
    const k = t.suggestCategorical('kind', ['a', 'b']);
    if (directions.length === 1) {
      t.report(x * 2, 0);
      t.report(x, 1);
    }
    if (i === n - 1) await study.tell(t, 'fail', { failReason: 'diverged <b>bold</b>' });
    else if (i % 3 === 2) await study.tell(t, 'pruned');
    else await study.tell(t, directions.length > 1 ? [x, k === 'a' ? 1 - x : 2 - x] : x + (k === 'a' ? 0 : 0.5));
  }
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hone-dash-'));
  db = join(dir, 'runs.db');
  const storage = new SqliteStorage(db);
  await makeStudy(storage, 'search', 24);
  await makeStudy(storage, 'two', 12, ['minimize', 'maximize']);
  await storage.close();
  mkdirSync(join(dir, 'logs', 'sub'), { recursive: true });
  writeFileSync(join(dir, 'logs', 'run-a.jsonl'), `${[epoch(1, 2), epoch(2, 1.5), '{"epoch": 3, "trainL', epoch(3, 1.2)].join('\n')}\n`);
  writeFileSync(
    join(dir, 'logs', 'sub', 'run-b.jsonl'),
    `${[epoch(1, 2.2, { valLoss: 2.3, valAccuracy: 0.4 }), epoch(2, 1.1, { valLoss: 1.4, valAccuracy: 0.6 })].join('\n')}\n`,
  );
  writeFileSync(
    join(dir, 'logs', 'lr.json'),
    JSON.stringify({
      lrs: [1e-5, 1e-3, 1e-1],
      losses: [2, 1, 3],
      smoothed: [2, 1.2, 2.5],
      suggestedLr: 1e-3,
      suggestedIndex: 1,
      stoppedEarly: false,
    }),
  );
  writeFileSync(join(dir, 'logs', 'notes.json'), JSON.stringify({ hello: 'world' }));
  // hone nas's report.json: its study drawn as the study page.
  mkdirSync(join(dir, 'logs', 'nas'));
  const study = {
    study: 'nas-mlp',
    directions: ['maximize', 'minimize'],
    nTrials: 1,
    states: { complete: 1, pruned: 0, fail: 0, running: 0, waiting: 0 },
    bestValue: null,
    bestParams: null,
    bestTrial: null,
    bestTrials: [{ number: 0, values: [0.9, 0.05], params: { 'model.hidden': '64' } }],
    importance: {},
    history: [{ number: 0, state: 'complete', values: [0.9, 0.05], params: { 'model.hidden': '64' }, bestSoFar: 0.9, durationS: 1 }],
  };
  writeFileSync(
    join(dir, 'logs', 'nas', 'report.json'),
    JSON.stringify({ tool: 'hone nas', space: 'mlp', architectures: [{ number: 0 }], study }),
  );
  writeFileSync(join(dir, 'secret.jsonl'), `${epoch(1, 1)}\n`);
});

after(() => rmSync(dir, { recursive: true, force: true }));

async function get(d: Dashboard, path: string, headers: Record<string, string> = {}) {
  const r = await fetch(new URL(path, d.baseUrl), { headers, redirect: 'manual' });
  const text = await r.text();
  let body: unknown = text;
  if ((r.headers.get('content-type') ?? '').includes('json')) body = JSON.parse(text);
  return { status: r.status, body: body as Record<string, unknown> & { error?: string }, headers: r.headers };
}

/** The status of a GET with a Host header of our choosing (fetch does not let a page or a test set Host). */
function rawStatus(port: number, path: string, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

test('refuses before listening: no source, a missing storage file, a missing folder, a port in use', async () => {
  await assert.rejects(startDashboard({ port: 0, host: '127.0.0.1' }), /needs --storage URL, --logs DIR or both/);
  await assert.rejects(startDashboard({ storage: `sqlite:${join(dir, 'nope.db')}`, port: 0, host: '127.0.0.1' }), (e: Error) => {
    assert.ok(e instanceof HoneError);
    assert.match(e.message, /nope\.db: no such file/);
    return true;
  });
  await assert.rejects(startDashboard({ logs: join(dir, 'missing'), port: 0, host: '127.0.0.1' }), /missing: no such folder/);
  await assert.rejects(startDashboard({ storage: 'memory', port: 0, host: '127.0.0.1' }), /memory storage holds no studies/);
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  const port = (blocker.address() as { port: number }).port;
  try {
    await assert.rejects(
      startDashboard({ logs: dir, port, host: '127.0.0.1' }),
      new RegExp(`port ${port} on 127\\.0\\.0\\.1 is in use; pick another with --port ${port + 1}`),
    );
  } finally {
    blocker.close();
  }
});

test('the CLI says what is wrong in one line, exit code 2, and nothing listens', async () => {
  const r = await hone('dashboard', '--storage', `sqlite:${join(dir, 'nope.db')}`, '--port', '0');
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^hone: --storage sqlite:.*nope\.db: no such file; give the file 'hone tune --storage' wrote/);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  const bad = await hone('dashboard', '--logs', dir, '--port', '70000');
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--port must be at most 65535/);
  const ok = await hone('dashboard', '--logs', dir, '--port', '0', '--stop-after', '0.2s');
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stderr, /open http:\/\/127\.0\.0\.1:\d+\/\?token=\S+/);
  assert.match(ok.stderr, /hone dashboard: stopped/);
});

test('a study: the charts draw every trial the storage holds, the table has every trial with its fail reason', async () => {
  const d = await startDashboard({ storage: `sqlite:${db}`, port: 0, host: '127.0.0.1' });
  try {
    const list = await get(d, '/api/studies');
    const studies = list.body.studies as { name: string; nTrials: number; states: Record<string, number> }[];
    assert.deepEqual(studies.map((s) => s.name).sort(), ['search', 'two']);
    const search = studies.find((s) => s.name === 'search')!;
    assert.equal(search.nTrials, 24);
    assert.deepEqual([search.states.complete, search.states.pruned, search.states.fail], [16, 7, 1]);

    const { body } = await get(d, '/api/study?name=search');
    const charts = body.charts as { id: string; option: { series: { name: string; data: unknown[] }[] } }[];
    assert.deepEqual(
      charts.map((c) => c.id),
      ['history', 'importance', 'intermediate', 'parallel'],
    );
    const history = charts[0]!.option.series;
    assert.equal(history.find((s) => s.name === 'complete')!.data.length, 16);
    assert.equal(history.find((s) => s.name === 'pruned (last value)')!.data.length, 7);
    // Intermediate values: one line per trial, broken between trials ('-'): 2 points each.
    const curves = charts[2]!.option.series;
    assert.deepEqual(
      curves.map((c) => [c.name, c.data.filter((p) => p !== '-').length, c.data.filter((p) => p === '-').length]),
      [
        ['complete', 2 * 16, 15],
        ['pruned', 2 * 7, 6],
        ['failed', 2, 0],
      ],
    );
    assert.equal((charts[3]!.option.series[0]!.data as unknown[]).length, 16);
    const trials = body.trials as { number: number; state: string; failReason?: string; steps: number }[];
    assert.equal(trials.length, 24);
    assert.equal(trials[23]!.failReason, 'diverged <b>bold</b>');
    assert.equal(trials[0]!.steps, 2);
    assert.deepEqual(
      body.params,
      ['x', 'kind'].sort(
        (a, b) =>
          ((body.summary as { importance: Record<string, number> }).importance[b] ?? 0) -
          ((body.summary as { importance: Record<string, number> }).importance[a] ?? 0),
      ),
    );

    const slice = await get(d, '/api/study/slice?name=search&param=kind');
    assert.deepEqual((slice.body.option as { xAxis: { data: string[] } }).xAxis.data, ['a', 'b']);
    const contour = await get(d, '/api/study/contour?name=search&x=x&y=kind');
    const series = (contour.body.option as { series: { type: string; data: unknown[] }[] }).series;
    assert.equal(series[0]!.type, 'heatmap');
    assert.equal(series[0]!.data.length, 28 * 28);
    assert.equal(series[1]!.data.length, 16);
    assert.equal((await get(d, '/api/study/slice?name=search&param=nope')).status, 400);
    assert.match((await get(d, '/api/study?name=absent')).body.error!, /no study 'absent'/);

    const two = await get(d, '/api/study?name=two');
    const pareto = (two.body.charts as { id: string; option: { series: { data: unknown[] }[] } }[]).find((c) => c.id === 'pareto')!;
    const front = (two.body.summary as { bestTrials: unknown[] }).bestTrials.length;
    assert.equal(pareto.option.series[1]!.data.length, front);
    assert.equal(pareto.option.series[0]!.data.length + front, 8);

    const page = await get(d, '/view/study?name=search');
    assert.match(page.headers.get('content-security-policy')!, /sandbox/);
    assert.match(String(page.body), /diverged &lt;b&gt;bold&lt;\/b&gt;/);
  } finally {
    await d.close();
  }
});

test('runs and reports: found by content, corrupt lines counted, nothing outside the folder served', async () => {
  const logs = join(dir, 'logs');
  const files = scanLogs(logs);
  assert.deepEqual(files.map((f) => `${f.path}:${f.kind}`).sort(), [
    'lr.json:lr-find',
    'nas/report.json:nas',
    'run-a.jsonl:run',
    'sub/run-b.jsonl:run',
  ]);
  assert.equal(files.find((f) => f.kind === 'nas')!.label, 'architecture search over mlp, 1 trained');
  assert.deepEqual(parseRun(`${epoch(1, 1)}\nnot json\n{"epoch":1}\n`).skipped, 2);
  const header = JSON.stringify({
    run: { model: 'zoo:mlp', data: 'mnist', flags: { lr: '0.01', 'val-split': '0.1', augment: 'flip' }, started: 'x' },
  });
  const withHeader = parseRun(`${header}\n${epoch(1, 1)}\n${header}\n`);
  assert.deepEqual(
    [withHeader.records.length, withHeader.skipped, withHeader.run?.model],
    [1, 1, 'zoo:mlp'],
    'one header, first; a second one is not',
  );
  assert.equal(runSettings(withHeader.run), 'lr=0.01 val-split=0.1 augment=flip');
  assert.equal(reportKind({ hello: 1 }), undefined);
  assert.equal(reportKind([1, 2]), undefined);

  const d = await startDashboard({ logs, port: 0, host: '127.0.0.1' });
  try {
    const runs = await get(d, '/api/runs?file=run-a.jsonl&file=sub/run-b.jsonl');
    const info = runs.body.runs as { path: string; epochs: number; skipped: number }[];
    assert.deepEqual(
      info.map((r) => [r.path, r.epochs, r.skipped]),
      [
        ['run-a.jsonl', 3, 1],
        ['sub/run-b.jsonl', 2, 0],
      ],
    );
    const charts = runs.body.charts as { id: string; option: { series: { name: string; data: unknown[] }[] } }[];
    assert.deepEqual(
      charts.map((c) => c.id),
      ['loss', 'accuracy', 'lr', 'throughput'],
    );
    const loss = charts[0]!.option.series;
    assert.deepEqual(
      loss.map((s) => [s.name, s.data.length]),
      [
        ['run-a: train loss', 3],
        ['sub/run-b: train loss', 2],
        ['sub/run-b: validation loss', 2],
      ],
    );
    const view = await get(d, '/view/report?file=lr.json');
    assert.equal(view.status, 200);
    const nas = await get(d, '/view/report?file=nas/report.json');
    assert.equal(nas.status, 200);
    assert.match(String(nas.body), /<h1>hone study: nas-mlp<\/h1>/);
    assert.match(String(nas.body), /data-chart="pareto"/);
    assert.match(view.headers.get('content-security-policy')!, /^sandbox allow-scripts;/);
    for (const p of ['../secret.jsonl', '/etc/passwd', '..%2Fsecret.jsonl', 'notes.json']) {
      const r = await get(d, `/view/report?file=${encodeURIComponent(p)}`);
      assert.equal(r.status, 404, p);
    }
    assert.equal((await get(d, '/api/runs?file=../secret.jsonl')).status, 404);
    assert.equal((await get(d, '/api/runs?file=lr.json')).status, 400);
    assert.equal((await get(d, '/api/compare?a=lr.json&b=lr.json')).status, 400);
    assert.match((await get(d, '/api/studies')).body.studies ? 'ok' : '', /ok/);
    assert.equal((await get(d, '/api/study?name=x')).status, 404);
  } finally {
    await d.close();
  }
});

test('security: loopback names only, the token elsewhere and for writes, same origin for writes', async () => {
  const copy = join(dir, 'write.db');
  const s = new SqliteStorage(copy);
  await makeStudy(s, 'doomed', 3);
  await makeStudy(s, 'kept', 3);
  await s.close();

  const ro = await startDashboard({ storage: `sqlite:${copy}`, port: 0, host: '127.0.0.1' });
  try {
    assert.equal((await get(ro, '/api/studies')).status, 200);
    // DNS rebinding: a page on evil.example that resolves to 127.0.0.1 sends its own Host.
    const rebound = await rawStatus(ro.port, '/api/studies', `evil.example:${ro.port}`);
    assert.equal(rebound, 403);
    assert.equal(await rawStatus(ro.port, '/api/studies', `localhost:${ro.port}`), 200);
    const page = await get(ro, '/');
    assert.match(page.headers.get('content-security-policy')!, /script-src 'self'/);
    assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
    const del = await fetch(new URL('/api/study?name=doomed', ro.baseUrl), {
      method: 'DELETE',
      headers: { 'x-hone-token': ro.token, origin: ro.baseUrl.replace(/\/$/, '') },
    });
    assert.equal(del.status, 403);
    assert.match(((await del.json()) as { error: string }).error, /read-only; restart it with --writable/);
  } finally {
    await ro.close();
  }

  const rw = await startDashboard({ storage: `sqlite:${copy}`, port: 0, host: '127.0.0.1', writable: true, token: 'a-test-token' });
  try {
    const origin = rw.baseUrl.replace(/\/$/, '');
    const del = (headers: Record<string, string>) => fetch(new URL('/api/study?name=doomed', rw.baseUrl), { method: 'DELETE', headers });
    assert.equal((await del({ origin })).status, 403, 'no token');
    assert.equal((await del({ origin, 'x-hone-token': 'wrong-token!' })).status, 403, 'wrong token');
    assert.equal((await del({ origin: 'http://evil.example', 'x-hone-token': 'a-test-token' })).status, 403, 'other origin');
    assert.equal((await del({ 'x-hone-token': 'a-test-token' })).status, 403, 'no origin');
    // The printed URL's token becomes a cookie only this site sends, and the address loses it.
    const entry = await get(rw, '/?token=a-test-token');
    assert.equal(entry.status, 303);
    assert.match(entry.headers.get('set-cookie')!, /^hone_token=a-test-token; HttpOnly; SameSite=Strict/);
    assert.equal((await get(rw, '/?token=guess')).status, 401);
    const ok = await del({ origin, cookie: 'hone_token=a-test-token' });
    assert.equal(ok.status, 200);
    const names = ((await get(rw, '/api/studies')).body.studies as { name: string }[]).map((x) => x.name);
    assert.deepEqual(names, ['kept']);
  } finally {
    await rw.close();
  }

  // Any other address: every request needs the token.
  const open = await startDashboard({ storage: `sqlite:${copy}`, port: 0, host: '0.0.0.0', token: 'open-sesame' });
  try {
    const base = `http://127.0.0.1:${open.port}`;
    assert.equal((await fetch(`${base}/api/studies`)).status, 401);
    assert.equal((await fetch(`${base}/assets/app.js`)).status, 401);
    assert.equal((await fetch(`${base}/api/studies`, { headers: { 'x-hone-token': 'open-sesame' } })).status, 200);
    assert.equal((await fetch(`${base}/api/studies?token=open-sesame`)).status, 200);
    assert.match(open.url, /\?token=open-sesame$/);
  } finally {
    await open.close();
  }
});

test('live: an event when a study gets a trial, none while nothing changes', async () => {
  const live = join(dir, 'live.db');
  const s = new SqliteStorage(live);
  await makeStudy(s, 'growing', 2);
  const d = await startDashboard({ storage: `sqlite:${live}`, port: 0, host: '127.0.0.1', pollMs: 50 });
  const controller = new AbortController();
  try {
    const r = await fetch(new URL('/api/events?topic=study:growing', d.baseUrl), { signal: controller.signal });
    assert.equal(r.headers.get('content-type'), 'text/event-stream; charset=utf-8');
    const reader = r.body!.getReader();
    let text = '';
    const until = async (re: RegExp, ms: number) => {
      const end = Date.now() + ms;
      while (!re.test(text)) {
        const left = end - Date.now();
        if (left <= 0) return false;
        const chunk = await Promise.race([reader.read(), new Promise<null>((res) => setTimeout(() => res(null), left))]);
        if (chunk && !chunk.done) text += new TextDecoder().decode(chunk.value);
      }
      return true;
    };
    assert.ok(await until(/event: hello/, 2000));
    // Several polls with nothing new: keep-alive comments only.
    assert.ok(await until(/(: alive\n\n[\s\S]*){3}/, 2000));
    assert.doesNotMatch(text, /event: change/);
    await makeStudy(s, 'growing', 1);
    assert.ok(await until(/event: change/, 3000), text);
    assert.equal((await get(d, '/api/events?topic=nonsense')).status, 400);
  } finally {
    controller.abort();
    await d.close();
    await s.close();
  }
});

test('a PostgreSQL storage: the same pages as from SQLite, and no password shown', async () => {
  const schema = uniqueSchema('hone_dash');
  // The local server trusts any password: one in the URL must not reach the page.
  const base = PG_URL.replace(/^(postgres(?:ql)?:\/\/[^:@/]+)@/, '$1:s3cret-pw@');
  const url = `${base}${base.includes('?') ? '&' : '?'}schema=${schema}`;
  const storage = await openStorage(url);
  try {
    await makeStudy(storage, 'pg-study', 9);
    const d = await startDashboard({ storage: url, port: 0, host: '127.0.0.1', pollMs: 50 });
    try {
      const list = (await get(d, '/api/studies')).body.studies as { name: string; states: Record<string, number> }[];
      assert.deepEqual(
        list.map((s) => [s.name, s.states.complete, s.states.pruned, s.states.fail]),
        [['pg-study', 6, 2, 1]],
      );
      const { body } = await get(d, '/api/study?name=pg-study');
      const history = (body.charts as { id: string; option: { series: { name: string; data: unknown[] }[] } }[])[0]!;
      assert.equal(history.option.series[0]!.data.length, 6);
      assert.equal((await get(d, '/api/info')).body.storage, `postgresql://${describeUrl(url)}`);
      const password = /^postgres(?:ql)?:\/\/[^:@/]+:([^@]+)@/.exec(url)?.[1];
      assert.ok(password, 'the URL carries a password');
      assert.ok(!JSON.stringify((await get(d, '/api/info')).body).includes(password));
      assert.ok(!JSON.stringify(list).includes(password));
    } finally {
      await d.close();
    }
  } finally {
    await storage.close();
    await dropSchema(schema);
  }
});

test('Ctrl-C stops a running hone dashboard cleanly: it says so, exits 0, and the port is free again', async () => {
  const child = spawnHone(['dashboard', '--logs', dir, '--port', '0']);
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL printed: ${child.err()}`)), 30_000);
    child.p.stderr.on('data', () => {
      const m = /open (http:\/\/127\.0\.0\.1:\d+\/)/.exec(child.err());
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
  });
  assert.equal((await fetch(`${url}api/info`)).status, 200);
  child.p.kill('SIGINT');
  const { code } = await child.exit;
  assert.equal(code, 0, child.err());
  assert.match(child.err(), /hone dashboard: stopped\n$/);
  await assert.rejects(fetch(`${url}api/info`), 'nothing listens after Ctrl-C');
});

test('marking a running trial failed or complete: only when writable, with the token and the same origin; finished trials refused', async () => {
  const file = join(dir, 'mark.db');
  const s = new SqliteStorage(file);
  const study = await createStudy({ storage: s, name: 'm', sampler: new RandomSampler({ seed: 2 }) });
  const done = await study.ask();
  done.suggestFloat('x', 0, 1);
  await study.tell(done, 0.3);
  for (let i = 0; i < 2; i++) (await study.ask()).suggestFloat('x', 0, 1); // trials 1 and 2 left running (workers gone)
  await s.close();

  const d = await startDashboard({ storage: `sqlite:${file}`, port: 0, host: '127.0.0.1', writable: true, token: 'mark-token' });
  try {
    const origin = d.baseUrl.replace(/\/$/, '');
    const mark = async (q: string, headers: Record<string, string> = { origin, 'x-hone-token': 'mark-token' }) => {
      const r = await fetch(new URL(`/api/trial?study=m&${q}`, d.baseUrl), { method: 'POST', headers });
      return { status: r.status, body: (await r.json()) as { error?: string } };
    };
    assert.equal((await mark('number=1&state=fail', { origin })).status, 403, 'no token');
    assert.equal((await mark('number=1&state=fail', { 'x-hone-token': 'mark-token', origin: 'http://evil.example' })).status, 403);
    assert.equal((await mark('number=1&state=fail')).status, 200);
    const values = await mark('number=2&state=complete&values=1,2');
    assert.equal(values.status, 400);
    assert.match(values.body.error!, /give 1 finite value/);
    assert.equal((await mark('number=2&state=complete&values=abc')).status, 400);
    assert.equal((await mark('number=2&state=pruned')).status, 400);
    assert.equal((await mark('number=9&state=fail')).status, 404);
    assert.equal((await mark('number=2&state=complete&values=0.125')).status, 200);
    const again = await mark('number=0&state=fail');
    assert.equal(again.status, 409);
    assert.match(again.body.error!, /already complete/);

    const { body } = await get(d, '/api/study?name=m');
    const trials = body.trials as { number: number; state: string; values: number[] | null; failReason?: string }[];
    assert.deepEqual(
      trials.map((t) => [t.number, t.state, t.values, t.failReason ?? null]),
      [
        [0, 'complete', [0.3], null],
        [1, 'fail', null, 'marked failed from hone dashboard'],
        [2, 'complete', [0.125], null],
      ],
    );
  } finally {
    await d.close();
  }
  const ro = await startDashboard({ storage: `sqlite:${file}`, port: 0, host: '127.0.0.1', token: 'mark-token' });
  try {
    const r = await fetch(new URL('/api/trial?study=m&number=1&state=fail', ro.baseUrl), {
      method: 'POST',
      headers: { origin: ro.baseUrl.replace(/\/$/, ''), 'x-hone-token': 'mark-token' },
    });
    assert.equal(r.status, 403, 'read-only by default');
  } finally {
    await ro.close();
  }
});
