/**
 * `hone dashboard`: a local web app over a tuning storage (SQLite or PostgreSQL) and a folder of training
 * logs and reports. Node's own HTTP server (nothing here needs routing beyond a dozen fixed paths), one
 * page (public/) that draws with Apache ECharts (served from the installed package: no CDN, works
 * offline), and the chart options built by report/charts.ts, the same builders the static `--html` pages
 * render to SVG.
 *
 * Live: a page subscribes to a topic over server-sent events (/api/events); the server polls what the
 * topic covers (a study's trials, the logs folder) and tells the page when it changed, and the page then
 * fetches the new data and redraws in place. Polling the storage is what works for every storage and
 * every writer (other processes, other machines through PostgreSQL); one poll per topic serves all pages.
 *
 * Security (docs/dashboard.md): binds 127.0.0.1 unless told otherwise; on loopback the Host header must be
 * a loopback name (a page on another site cannot reach the server through DNS rebinding); any other host
 * needs the token, which the URL printed at start carries and which then lives in a same-site cookie.
 * Read-only unless `writable`; a write (deleting a study, marking a running trial failed or complete)
 * needs the token and a same-origin request.
 * Nothing from a study, a model or a log reaches the page as HTML: the page sets text, and ECharts
 * escapes what it draws; stored reports are shown in a sandboxed frame with their own origin.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { hostname, networkInterfaces } from 'node:os';
import { resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import { badInput, HoneError } from '../errors.js';
import type { ProfileReport } from '../profile/types.js';
import {
  contourChart,
  profileCompareChart,
  profileCompareRows,
  sliceChart,
  studyCharts,
  studyParams,
  trainCharts,
  type TrainRun,
} from '../report/charts.js';
import { studyHtml } from '../report/study-html.js';
import { openStorage, sqlitePath, storageKind } from '../tune/storage/open.js';
import { describeUrl } from '../tune/storage/postgres.js';
import type { Storage } from '../tune/storage/storage.js';
import { studyReport, type StudyReport } from '../tune/report.js';
import type { FrozenTrial } from '../tune/types.js';
import { parseRun, readLogFile, runSettings, scanLogs, type LogFile } from './logs.js';
import { reportPage } from './reports.js';

export interface DashboardOptions {
  /** A tuning storage URL (sqlite:PATH, PATH.db, postgresql://…). */
  storage?: string;
  /** A folder of training logs and reports. */
  logs?: string;
  /** 0 picks a free port. */
  port: number;
  host: string;
  /** The access token; a random one when absent. */
  token?: string;
  /** Allow writes (deleting a study, marking a running trial); they need the token and a same-origin request. */
  writable?: boolean;
  /** How often a watched topic is polled, ms (default 1000). */
  pollMs?: number;
}

export interface Dashboard {
  /** The address to open; carries the token (which sets the cookie writes need). */
  url: string;
  /** The address without the token (what loopback reads need). */
  baseUrl: string;
  token: string;
  port: number;
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);
export function isLoopback(host: string): boolean {
  return LOOPBACK.has(host) || /^127\./.test(host);
}

const PUBLIC_DIR = fileURLToPath(new URL('./public/', import.meta.url));
const ECHARTS_JS = createRequire(import.meta.url).resolve('echarts/dist/echarts.min.js');
const ASSETS: Record<string, { file: string; type: string }> = {
  '/': { file: `${PUBLIC_DIR}index.html`, type: 'text/html; charset=utf-8' },
  '/assets/app.js': { file: `${PUBLIC_DIR}app.js`, type: 'text/javascript; charset=utf-8' },
  '/assets/app.css': { file: `${PUBLIC_DIR}app.css`, type: 'text/css; charset=utf-8' },
  '/assets/echarts.min.js': { file: ECHARTS_JS, type: 'text/javascript; charset=utf-8' },
};

const APP_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
/** A stored report's page: its own inline CSS and sorting script, in a sandbox with no origin of its own. */
const REPORT_CSP =
  "sandbox allow-scripts; default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'";

/** Opens the storage and checks the logs folder (errors before anything listens), then serves. */
export async function startDashboard(o: DashboardOptions): Promise<Dashboard> {
  if (!o.storage && !o.logs) throw badInput('hone dashboard needs --storage URL, --logs DIR or both');
  let storage: Storage | undefined;
  let where: string | undefined;
  if (o.storage) {
    const kind = storageKind(o.storage);
    if (kind === 'memory') throw badInput('memory storage holds no studies between runs; use --storage sqlite:PATH or postgresql://…');
    if (kind === 'sqlite' && !existsSync(sqlitePath(o.storage)))
      throw badInput(`--storage ${o.storage}: no such file; give the file 'hone tune --storage' wrote (sqlite:PATH)`);
    where = kind === 'postgres' ? `postgresql://${describeUrl(o.storage)}` : o.storage;
    try {
      storage = await openStorage(o.storage);
      await storage.listStudies();
    } catch (e) {
      await storage?.close().catch(() => {});
      if (e instanceof HoneError) throw e;
      throw badInput(`cannot open --storage ${where}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  const logs = o.logs ? resolvePath(o.logs) : undefined;
  if (o.logs && !existsSync(o.logs)) {
    await storage?.close();
    throw badInput(`--logs ${o.logs}: no such folder; give the folder your 'hone train --log' files and reports are in`);
  }
  const token = o.token ?? randomBytes(18).toString('base64url');
  const app = new App({ storage, where, logs, writable: !!o.writable, token, loopback: isLoopback(o.host), pollMs: o.pollMs ?? 1000 });
  const server = createServer((req, res) => {
    app.handle(req, res).catch((e) => app.fail(res, e));
  });
  try {
    await listen(server, o.port, o.host);
  } catch (e) {
    await app.close();
    throw e;
  }
  const port = (server.address() as { port: number }).port;
  app.port = port;
  const shownHost = urlHost(o.host);
  const baseUrl = `http://${shownHost}:${port}/`;
  return {
    url: `${baseUrl}?token=${token}`,
    baseUrl,
    token,
    port,
    async close() {
      await app.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** The host part of the printed URL: a wildcard address becomes this machine's first outside IPv4 address (what another machine would use). */
function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') {
    for (const list of Object.values(networkInterfaces()))
      for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
    return hostname();
  }
  return host.includes(':') ? `[${host}]` : host;
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) => {
      if (e.code === 'EADDRINUSE')
        reject(badInput(`port ${port} on ${host} is in use; pick another with --port ${port + 1} (or --port 0 for any free port)`));
      else if (e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND')
        reject(badInput(`--host ${host} is not an address of this machine; use 127.0.0.1 (the default) or one of its interfaces`));
      else if (e.code === 'EACCES') reject(badInput(`port ${port} needs privileges; pick one above 1023, e.g. --port 8080`));
      else reject(e);
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

interface Topic {
  clients: Set<ServerResponse>;
  signature?: string;
  timer: NodeJS.Timeout;
  busy: boolean;
}

/** A trial as the page's table shows it: the report's entry plus its user attributes and stderr tail. */
export interface TrialRow {
  number: number;
  state: string;
  values: number[] | null;
  params: Record<string, unknown>;
  durationS: number | null;
  failReason?: string;
  pruneReason?: string;
  stderrTail?: string;
  userAttrs: Record<string, unknown>;
  steps: number;
}

class App {
  port = 0;
  private topics = new Map<string, Topic>();
  private closed = false;

  constructor(
    private readonly s: {
      storage?: Storage;
      where?: string;
      logs?: string;
      writable: boolean;
      token: string;
      loopback: boolean;
      pollMs: number;
    },
  ) {}

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.topics.values()) {
      clearInterval(t.timer);
      for (const c of t.clients) c.end();
    }
    this.topics.clear();
    await this.s.storage?.close();
  }

  fail(res: ServerResponse, e: unknown): void {
    const status = e instanceof HttpError ? e.status : e instanceof HoneError ? 400 : 500;
    const message = e instanceof Error ? e.message : String(e);
    if (res.headersSent) {
      res.end();
      return;
    }
    this.json(res, status, { error: message });
  }

  private json(res: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
    });
    res.end(text);
  }

  private tokenOk(req: IncomingMessage, url: URL): boolean {
    const given = (req.headers['x-hone-token'] as string | undefined) ?? cookie(req, 'hone_token') ?? url.searchParams.get('token') ?? '';
    const a = Buffer.from(given);
    const b = Buffer.from(this.s.token);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://dashboard.invalid');
    const host = (req.headers.host ?? '').replace(/:\d+$/, '');
    // DNS rebinding: a name that resolves to 127.0.0.1 must not make this server another site's.
    if (this.s.loopback && !isLoopback(host))
      throw new HttpError(403, `host '${host}' is not a loopback name; open http://127.0.0.1:${this.port}/`);
    const hasToken = this.tokenOk(req, url);
    if (!this.s.loopback && !hasToken)
      throw new HttpError(401, 'this dashboard needs its token: open the URL hone dashboard printed (it ends in ?token=…)');
    const method = req.method ?? 'GET';
    if (method === 'DELETE' || method === 'POST') return this.write(req, res, url, hasToken);
    if (method !== 'GET' && method !== 'HEAD') throw new HttpError(405, `${method} is not served`);

    if (url.pathname === '/favicon.ico') {
      res.writeHead(204);
      res.end();
      return;
    }
    const asset = ASSETS[url.pathname];
    if (asset) {
      const headers: Record<string, string> = {
        'content-type': asset.type,
        'x-content-type-options': 'nosniff',
        'cache-control': url.pathname === '/' ? 'no-store' : 'max-age=3600',
        'referrer-policy': 'no-referrer',
      };
      if (url.pathname === '/') {
        headers['content-security-policy'] = APP_CSP;
        // The URL printed at start carries the token: keep it in a cookie only this site sends, then drop it from the address bar.
        if (url.searchParams.has('token')) {
          if (!hasToken) throw new HttpError(401, 'wrong token: open the URL hone dashboard printed');
          res.writeHead(303, {
            location: '/',
            'set-cookie': `hone_token=${this.s.token}; HttpOnly; SameSite=Strict; Path=/`,
            'cache-control': 'no-store',
          });
          res.end();
          return;
        }
      }
      res.writeHead(200, headers);
      res.end(readFileSync(asset.file));
      return;
    }
    switch (url.pathname) {
      case '/api/info':
        return this.json(res, 200, {
          storage: this.s.where ?? null,
          logs: this.s.logs ?? null,
          writable: this.s.writable,
          canWrite: this.s.writable && hasToken,
          pollMs: this.s.pollMs,
        });
      case '/api/studies':
        return this.json(res, 200, { studies: await this.studies() });
      case '/api/study':
        return this.json(
          res,
          200,
          await this.study(param(url, 'name'), {
            slice: url.searchParams.get('slice'),
            x: url.searchParams.get('x'),
            y: url.searchParams.get('y'),
          }),
        );
      case '/api/study/slice': {
        const r = await this.report(param(url, 'name'));
        return this.json(res, 200, sliceChart(r, knownParam(r, param(url, 'param'))));
      }
      case '/api/study/contour': {
        const r = await this.report(param(url, 'name'));
        const x = knownParam(r, param(url, 'x'));
        const y = knownParam(r, param(url, 'y'));
        if (x === y) throw new HttpError(400, 'the contour needs two different parameters');
        return this.json(res, 200, contourChart(r, x, y));
      }
      case '/api/logs':
        return this.json(res, 200, { files: this.logs().files, folder: this.s.logs ?? null });
      case '/api/runs':
        return this.json(res, 200, this.runs(url.searchParams.getAll('file')));
      case '/api/compare':
        return this.json(res, 200, this.compare(param(url, 'a'), param(url, 'b')));
      case '/view/report':
        return this.view(res, param(url, 'file'));
      case '/view/study': {
        const r = await this.report(param(url, 'name'));
        return this.page(res, studyHtml(r, { where: this.s.where }));
      }
      case '/api/events':
        return this.events(req, res, param(url, 'topic'));
      default:
        throw new HttpError(404, `no page ${url.pathname}`);
    }
  }

  // ---- Studies ----

  private need(): Storage {
    if (!this.s.storage) throw new HttpError(404, 'no storage: start hone dashboard with --storage URL to see studies');
    return this.s.storage;
  }

  private async trials(name: string): Promise<{ summary: { name: string; directions: StudyReport['directions'] }; trials: FrozenTrial[] }> {
    const storage = this.need();
    const id = await storage.getStudyId(name);
    if (id === undefined) throw new HttpError(404, `no study '${name}' in ${this.s.where}`);
    const summary = await storage.getStudy(id);
    return { summary, trials: await storage.getAllTrials(id) };
  }

  private async report(name: string): Promise<StudyReport> {
    const { summary, trials } = await this.trials(name);
    return studyReport(summary, trials);
  }

  private async studies() {
    if (!this.s.storage) return [];
    const out = [];
    for (const s of await this.s.storage.listStudies()) {
      const trials = await this.s.storage.getAllTrials(s.id);
      const r = studyReport(s, trials, { importance: false });
      const last = Math.max(0, ...trials.map((t) => t.datetimeComplete ?? t.datetimeStart ?? 0));
      out.push({
        name: s.name,
        directions: s.directions,
        nTrials: r.nTrials,
        states: r.states,
        bestValue: r.bestValue,
        bestTrial: r.bestTrial,
        front: r.bestTrials.length,
        started: s.datetimeStart ?? null,
        lastActivity: last || null,
      });
    }
    return out;
  }

  /**
   * Everything a study page draws, in one answer (reading 10,000 trials and their importance is most of
   * the time): the charts, the slice and contour for the page's picks (the most important parameters
   * when it has none, or when a pick is not a parameter), and the trials for the table.
   */
  private async study(name: string, picks: { slice: string | null; x: string | null; y: string | null }) {
    const { summary, trials } = await this.trials(name);
    const r = studyReport(summary, trials);
    const params = studyParams(r);
    const pick = (p: string | null, fallback: string | undefined) => (p !== null && params.includes(p) ? p : fallback);
    const slice = pick(picks.slice, params[0]);
    const x = pick(picks.x, params[0]);
    const y = pick(
      picks.y,
      params.find((p) => p !== x),
    );
    const { history, ...rest } = r;
    const rows: TrialRow[] = history.map((h, i) => {
      const t = trials[i]!;
      const row: TrialRow = {
        number: h.number,
        state: h.state,
        values: h.values,
        params: h.params,
        durationS: h.durationS,
        userAttrs: t.userAttrs,
        steps: h.intermediate?.length ?? 0,
      };
      if (h.failReason) row.failReason = h.failReason;
      if (h.pruneReason) row.pruneReason = h.pruneReason;
      if (typeof t.systemAttrs.stderr_tail === 'string') row.stderrTail = t.systemAttrs.stderr_tail;
      return row;
    });
    return {
      summary: rest,
      params,
      charts: studyCharts(r),
      picks: { slice: slice ?? null, x: x ?? null, y: y ?? null },
      slice: slice === undefined ? null : sliceChart(r, slice),
      contour: x === undefined || y === undefined || x === y ? null : contourChart(r, x, y),
      trials: rows,
    };
  }

  // ---- Logs and reports ----

  private logs(): { files: LogFile[] } {
    return { files: this.s.logs ? scanLogs(this.s.logs) : [] };
  }

  private logFile(path: string) {
    if (!this.s.logs) throw new HttpError(404, 'no logs folder: start hone dashboard with --logs DIR to see runs and reports');
    const found = readLogFile(this.s.logs, this.logs().files, path);
    if (!found) throw new HttpError(404, `no run or report '${path}' in ${this.s.logs}`);
    return found;
  }

  private runs(paths: string[]) {
    if (!paths.length) throw new HttpError(400, 'name at least one run: /api/runs?file=PATH');
    const runs: TrainRun[] = [];
    const info = [];
    for (const p of paths) {
      const { file, text } = this.logFile(p);
      if (file.kind !== 'run') throw new HttpError(400, `'${p}' is a ${file.kind} report, not a training log`);
      const { records, skipped, run } = parseRun(text);
      runs.push({ name: p, records });
      info.push({
        path: p,
        model: run?.model ?? null,
        data: run?.data ?? null,
        settings: runSettings(run),
        started: run?.started ?? null,
        epochs: records.length,
        skipped,
        last: records[records.length - 1] ?? null,
        mtimeMs: file.mtimeMs,
      });
    }
    return { runs: info, charts: trainCharts(runs) };
  }

  private profile(path: string): ProfileReport {
    const { file, text } = this.logFile(path);
    if (file.kind !== 'profile')
      throw new HttpError(
        400,
        `'${path}' is not a profile report (it is ${file.kind === 'run' ? 'a training log' : `a ${file.kind} report`})`,
      );
    return JSON.parse(text) as ProfileReport;
  }

  private compare(a: string, b: string) {
    const pa = this.profile(a);
    const pb = this.profile(b);
    return {
      a: { path: a, model: pa.model.source, settings: pa.settings, verdict: pa.bottleneck?.kind ?? null, machine: pa.machine },
      b: { path: b, model: pb.model.source, settings: pb.settings, verdict: pb.bottleneck?.kind ?? null, machine: pb.machine },
      rows: profileCompareRows(pa, pb),
      charts: [profileCompareChart(pa, pb, [`A: ${a}`, `B: ${b}`])],
    };
  }

  private view(res: ServerResponse, path: string): void {
    const { file, text } = this.logFile(path);
    if (file.kind === 'run') throw new HttpError(400, `'${path}' is a training log: open it on the Runs page`);
    this.page(res, reportPage(file.kind, JSON.parse(text), { path, dir: this.s.logs! }));
  }

  private page(res: ServerResponse, html: string): void {
    res.writeHead(200, {
      'content-type': 'text/html; charset=utf-8',
      'content-security-policy': REPORT_CSP,
      'x-content-type-options': 'nosniff',
      'cache-control': 'no-store',
    });
    res.end(html);
  }

  // ---- Writes ----

  private async write(req: IncomingMessage, res: ServerResponse, url: URL, hasToken: boolean): Promise<void> {
    if (!this.s.writable)
      throw new HttpError(403, 'this dashboard is read-only; restart it with --writable to delete studies or mark trials');
    if (!hasToken) throw new HttpError(403, 'a write needs the token: open the URL hone dashboard printed (it ends in ?token=…)');
    const origin = req.headers.origin;
    if (!origin || origin !== `http://${req.headers.host}`)
      throw new HttpError(403, 'a write must come from the dashboard page itself (same origin)');
    if (req.method === 'DELETE' && url.pathname === '/api/study') {
      const name = param(url, 'name');
      const storage = this.need();
      const id = await storage.getStudyId(name);
      if (id === undefined) throw new HttpError(404, `no study '${name}' in ${this.s.where}`);
      await storage.deleteStudy(id);
      return this.json(res, 200, { deleted: name });
    }
    if (req.method === 'POST' && url.pathname === '/api/trial') return this.json(res, 200, await this.markTrial(url));
    throw new HttpError(404, `no action ${req.method} ${url.pathname}`);
  }

  /**
   * Marks a running or waiting trial failed (a worker that died without a heartbeat leaves one running) or
   * complete with values a person gives (a trial evaluated by hand). Its worker, if it is alive after all,
   * then finds the trial finished and its result is refused, as for any trial finished twice.
   */
  private async markTrial(url: URL) {
    const name = param(url, 'study');
    const number = Number(param(url, 'number'));
    const state = param(url, 'state');
    if (state !== 'fail' && state !== 'complete') throw new HttpError(400, `state must be fail or complete, got '${state}'`);
    const storage = this.need();
    const id = await storage.getStudyId(name);
    if (id === undefined) throw new HttpError(404, `no study '${name}' in ${this.s.where}`);
    const study = await storage.getStudy(id);
    const trial = (await storage.getAllTrials(id)).find((t) => t.number === number);
    if (!trial) throw new HttpError(404, `study '${name}' has no trial ${param(url, 'number')}`);
    if (trial.state !== 'running' && trial.state !== 'waiting')
      throw new HttpError(409, `trial ${number} is already ${trial.state}; only a running or waiting trial can be marked`);
    let values: number[] | undefined;
    if (state === 'complete') {
      values = param(url, 'values')
        .split(',')
        .map((v) => Number(v.trim()));
      if (values.length !== study.directions.length || values.some((v) => !Number.isFinite(v)))
        throw new HttpError(
          400,
          `give ${study.directions.length} finite value${study.directions.length === 1 ? '' : 's'} (one per objective, comma-separated), got '${param(url, 'values')}'`,
        );
    }
    if (state === 'fail') await storage.setTrialSystemAttr(trial.id, 'fail_reason', 'marked failed from hone dashboard');
    const done = await storage.setTrialState(trial.id, state, values);
    if (!done) throw new HttpError(409, `trial ${number} finished meanwhile; reload to see how`);
    return { study: name, number, state, values: values ?? null };
  }

  // ---- Live updates ----

  /** A cheap fingerprint of what a topic covers; a page refetches when it changes. */
  private async signature(topic: string): Promise<string> {
    if (topic === 'logs')
      return this.logs()
        .files.map((f) => `${f.path}:${f.mtimeMs}:${f.bytes}`)
        .join('|');
    if (topic === 'studies') {
      if (!this.s.storage) return '';
      const parts = [];
      for (const s of await this.s.storage.listStudies()) {
        const open = await this.s.storage.getAllTrials(s.id, ['running', 'waiting']);
        parts.push(`${s.name}:${s.nTrials}:${open.length}`);
      }
      return parts.join('|');
    }
    if (topic.startsWith('study:')) {
      const storage = this.need();
      const id = await storage.getStudyId(topic.slice(6));
      if (id === undefined) return 'gone';
      const trials = await storage.getAllTrials(id);
      let h = trials.length;
      for (const t of trials) {
        h = (h * 31 + t.number * 7 + t.state.length + Object.keys(t.intermediateValues).length * 131 + (t.values ? 17 : 0)) | 0;
      }
      return `${trials.length}:${h}`;
    }
    throw new HttpError(400, `unknown topic '${topic}'; use studies, study:NAME or logs`);
  }

  private async events(req: IncomingMessage, res: ServerResponse, topic: string): Promise<void> {
    const first = await this.signature(topic);
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-content-type-options': 'nosniff',
    });
    res.write(`retry: 2000\nevent: hello\ndata: ${JSON.stringify({ topic })}\n\n`);
    let t = this.topics.get(topic);
    if (!t) {
      const created: Topic = {
        clients: new Set(),
        signature: first,
        busy: false,
        timer: setInterval(() => void this.poll(topic, created), this.s.pollMs),
      };
      created.timer.unref();
      this.topics.set(topic, created);
      t = created;
    }
    t.clients.add(res);
    const topicRef = t;
    req.on('close', () => {
      topicRef.clients.delete(res);
      if (!topicRef.clients.size) {
        clearInterval(topicRef.timer);
        if (this.topics.get(topic) === topicRef) this.topics.delete(topic);
      }
    });
  }

  private async poll(topic: string, t: Topic): Promise<void> {
    if (t.busy || this.closed) return;
    t.busy = true;
    try {
      const sig = await this.signature(topic);
      if (sig !== t.signature) {
        t.signature = sig;
        const msg = `event: change\ndata: ${JSON.stringify({ topic, at: Date.now() })}\n\n`;
        for (const c of t.clients) c.write(msg);
      } else {
        for (const c of t.clients) c.write(': alive\n\n');
      }
    } catch {
      // A storage that stops answering (a restarted database) is retried at the next poll.
    } finally {
      t.busy = false;
    }
  }
}

function param(url: URL, name: string): string {
  const v = url.searchParams.get(name);
  if (v === null || v === '') throw new HttpError(400, `missing query parameter '${name}'`);
  return v;
}

function knownParam(r: StudyReport, name: string): string {
  const params = studyParams(r);
  if (!params.includes(name))
    throw new HttpError(400, `study '${r.study}' has no parameter '${name}' (it has ${params.join(', ') || 'none'})`);
  return name;
}

function cookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return v.join('=');
  }
  return undefined;
}
