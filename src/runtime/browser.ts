/**
 * Running and timing a model where a web app runs it: onnxruntime-web's WebAssembly backend inside headless
 * Chromium (Debian's `chromium`, driven through playwright-core), for `hone optimize --target browser`.
 *
 * The page and onnxruntime-web's files come from a server of our own on 127.0.0.1, never a CDN: it sends
 * COOP `same-origin` and COEP `require-corp`, which make the page cross-origin isolated, the condition for
 * SharedArrayBuffer and so for ORT-web's worker threads. A model travels as bytes the page fetches from a
 * one-time URL on that server; feeds and outputs, small by comparison, travel as typed arrays through
 * Playwright's calls.
 *
 * ORT-web reads `env.wasm.numThreads` once, when its first session starts the WebAssembly module, and
 * ignores later changes, so a thread count is a page: one page per distinct count, opened on first use and
 * kept. ORT-web 1.30 ships only SIMD builds, so SIMD is always on and is not a setting.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { HoneError, badInput, errorMessage } from '../errors.js';
import { GraphBuilder } from '../ir/builder.js';
import { DataType } from '../ir/dtype.js';
import { encodeModel } from '../ir/codec.js';
import type { TypedArray } from '../ir/tensor.js';
import { randomFeeds } from './inputs.js';
import type { MeasureOpts } from './measure.js';
import type { GraphOptimizationLevel } from './session.js';
import { cleanOrtMessage } from './session.js';
import { isNoisy, latencyStats, median, type LatencyStats } from './stats.js';

export const DEFAULT_CHROMIUM = '/usr/bin/chromium';

export interface BrowserSettings {
  /**
   * ORT-web's `env.wasm.numThreads` (default 1: no worker threads, what a page that is not cross-origin
   * isolated gets; ORT-web's own default on an isolated page is min(4, cores/2)).
   */
  threads?: number;
  /** Graph optimization level of the session (default 'all', as ORT-web's). */
  graphOptimizationLevel?: GraphOptimizationLevel;
}

/** Tensor data as ORT tensors hold it; float16 is its bits in a Uint16Array. */
export type TensorData = TypedArray | string[];

/** A feed or an output: ORT's type name ('float32', 'int64', 'float16'…), data, dims. An ORT tensor is one. */
export interface BrowserTensor {
  type: string;
  data: TensorData;
  dims: readonly number[];
}

/** The timing options of `measureInWorker`, with the same names and defaults, plus the page's settings. */
export type BrowserMeasureOpts = Pick<
  MeasureOpts,
  'inputs' | 'values' | 'warmup' | 'runs' | 'budgetMs' | 'maxRounds' | 'seed' | 'intHigh'
> & {
  settings?: BrowserSettings;
};

export interface BrowserMeasurement {
  latencyMs: LatencyStats;
  /** Time of `InferenceSession.create` in the page (the model's bytes already there). */
  sessionCreateMs: number;
  /** Threads the session ran with. */
  threads: number;
}

export interface BrowserInfo {
  /** Chromium's version, e.g. '156.0.8078.114'. */
  chromium: string;
  /** onnxruntime-web's version as the page reports it. */
  ortWeb: string;
  /** Whether the page is cross-origin isolated, so that threads > 1 can run. */
  threadsAvailable: boolean;
  /** `navigator.hardwareConcurrency`. */
  cores: number;
}

export interface BrowserRuntime {
  info: BrowserInfo;
  /**
   * Times a model as `measureInWorker` does: a fresh session per call, `warmup` untimed runs, then rounds of
   * `runs` while the runs are noisy and `budgetMs` lasts. The page times each `session.run` with
   * performance.now(); the statistics are Hone's own (stats.ts), computed here from those times.
   */
  measure(model: Uint8Array, opts: BrowserMeasureOpts): Promise<BrowserMeasurement>;
  /** Runs the model once on `feeds` (a fresh session) and returns every output, for fidelity checks. */
  run(model: Uint8Array, feeds: Record<string, BrowserTensor>, settings?: BrowserSettings): Promise<Record<string, BrowserTensor>>;
  /** Closes Chromium and the server. Safe to call more than once. */
  close(): Promise<void>;
}

export interface BrowserRuntimeOptions {
  /** Chromium's executable (default: env HONE_CHROMIUM, else /usr/bin/chromium). */
  executablePath?: string;
  /** Aborting closes Chromium; calls in flight reject with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * Fails with the fix when the browser target cannot run here (Chromium or the optional packages missing),
 * without starting anything: callers check before slow work. Returns the Chromium executable to use.
 */
export function checkBrowserAvailable(executable?: string): string {
  const executablePath = executable ?? process.env.HONE_CHROMIUM ?? DEFAULT_CHROMIUM;
  if (!existsSync(executablePath)) {
    throw badInput(
      `Chromium is not at ${executablePath}; install Debian's chromium (apt-get install chromium) or point HONE_CHROMIUM at a Chromium executable`,
    );
  }
  // Optional peers: most users never run the browser target, and onnxruntime-web's WASM builds are large.
  for (const pkg of ['onnxruntime-web', 'playwright-core']) {
    try {
      import.meta.resolve(pkg);
    } catch {
      throw badInput(
        `the browser target needs the packages onnxruntime-web and playwright-core, which Hone does not install by default: npm install onnxruntime-web@~1.30 playwright-core`,
      );
    }
  }
  return executablePath;
}

/** Starts Chromium and the local server. Close it (`close()`) when done: it holds a browser process. */
export async function openBrowserRuntime(opts: BrowserRuntimeOptions = {}): Promise<BrowserRuntime> {
  const executablePath = checkBrowserAvailable(opts.executablePath);
  opts.signal?.throwIfAborted();
  const server = await startServer();
  let browser: Browser;
  try {
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
  } catch (e) {
    await server.close();
    throw badInput(
      `Chromium at ${executablePath} did not start (${firstLine(errorMessage(e))}); install Debian's chromium (apt-get install chromium) or point HONE_CHROMIUM at a working one`,
      e,
    );
  }
  const rt = new Runtime(browser, server, opts.signal);
  try {
    await rt.start();
  } catch (e) {
    await rt.close();
    throw opts.signal?.aborted ? opts.signal.reason : e;
  }
  return rt;
}

/** What the page's calls answer: a value, or the message of what the page threw. */
type PageReply<T> = { ok: true; value: T } | { ok: false; message: string };

/** The page's API (PAGE_SCRIPT); every call answers a PageReply. */
interface PageApi {
  info(): Promise<PageReply<{ ortWeb: string; isolated: boolean; cores: number; threads: number }>>;
  open(
    url: string,
    level: GraphOptimizationLevel,
    feeds: Record<string, BrowserTensor>,
  ): Promise<PageReply<{ id: number; createMs: number }>>;
  time(id: number, runs: number): Promise<PageReply<number[]>>;
  outputs(id: number): Promise<PageReply<Record<string, BrowserTensor>>>;
  close(id: number): Promise<PageReply<null>>;
}

class Runtime implements BrowserRuntime {
  info: BrowserInfo = { chromium: '', ortWeb: '', threadsAvailable: false, cores: 0 };
  /** One page per thread count (see the file's comment), opened on first use. */
  private readonly pages = new Map<number, Promise<Page>>();
  /** Calls run one at a time: two sessions running at once would time each other. */
  private queue: Promise<unknown> = Promise.resolve();
  private closing?: Promise<void>;
  private readonly onAbort = () => void this.close();

  constructor(
    private readonly browser: Browser,
    private readonly server: LocalServer,
    private readonly signal?: AbortSignal,
  ) {
    signal?.addEventListener('abort', this.onAbort, { once: true });
    // Aborted while Chromium was starting: the event has fired already.
    if (signal?.aborted) void this.close();
  }

  async start(): Promise<void> {
    const page = await this.page(1);
    const info = await call(page, 'info', []);
    this.info = { chromium: this.browser.version(), ortWeb: info.ortWeb, threadsAvailable: info.isolated, cores: info.cores };
  }

  measure(model: Uint8Array, opts: BrowserMeasureOpts): Promise<BrowserMeasurement> {
    return this.exclusive(async () => {
      const warmup = opts.warmup ?? 3;
      const runs = Math.max(1, opts.runs ?? 20);
      const maxRounds = Math.max(1, opts.maxRounds ?? 8);
      const feeds = randomFeeds(opts.inputs, opts.seed ?? 0, opts.intHigh ?? 2, opts.values);
      const { page, threads } = await this.pageFor(opts.settings);
      const { id, createMs } = await this.openSession(page, model, opts.settings, feeds);
      const samples: number[] = [];
      const roundMedians: number[] = [];
      try {
        if (warmup > 0) await call(page, 'time', [id, warmup]);
        // Rounds of `runs` while the runs are noisy and the budget lasts, as measure-worker.ts takes them.
        const deadline = performance.now() + (opts.budgetMs ?? 0);
        do {
          const round = await call(page, 'time', [id, runs]);
          samples.push(...round);
          roundMedians.push(median(round));
        } while (roundMedians.length < maxRounds && performance.now() < deadline && isNoisy(latencyStats(samples)));
      } catch (e) {
        throw this.failure(e, 'run');
      } finally {
        await call(page, 'close', [id]).catch(() => undefined);
      }
      return { latencyMs: latencyStats(samples, roundMedians), sessionCreateMs: createMs, threads };
    });
  }

  run(model: Uint8Array, feeds: Record<string, BrowserTensor>, settings?: BrowserSettings): Promise<Record<string, BrowserTensor>> {
    return this.exclusive(async () => {
      const { page } = await this.pageFor(settings);
      const { id } = await this.openSession(page, model, settings, feeds);
      try {
        return await call(page, 'outputs', [id]);
      } catch (e) {
        throw this.failure(e, 'run');
      } finally {
        await call(page, 'close', [id]).catch(() => undefined);
      }
    });
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.signal?.removeEventListener('abort', this.onAbort);
      await this.browser.close().catch(() => undefined);
      await this.server.close();
    })();
    return this.closing;
  }

  /** Runs `f` after every call before it has settled. */
  private exclusive<T>(f: () => Promise<T>): Promise<T> {
    const next = this.queue.then(() => {
      if (this.signal?.aborted) throw this.signal.reason;
      if (this.closing) throw new HoneError('the browser runtime is closed', 1);
      return f();
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async pageFor(settings: BrowserSettings = {}): Promise<{ page: Page; threads: number }> {
    const threads = settings.threads ?? 1;
    if (!Number.isInteger(threads) || threads < 1) throw badInput(`browser threads must be an integer >= 1, got ${threads}`);
    if (threads > 1 && !this.info.threadsAvailable)
      throw new HoneError('the page is not cross-origin isolated, so ORT-web cannot run threads; measure with threads 1', 1);
    return { page: await this.page(threads), threads };
  }

  private page(threads: number): Promise<Page> {
    let page = this.pages.get(threads);
    if (!page) {
      page = this.openPage(threads);
      this.pages.set(threads, page);
      page.catch(() => this.pages.delete(threads));
    }
    return page;
  }

  /** A page with ORT-web started at `threads` threads (its first session starts the WebAssembly module). */
  private async openPage(threads: number): Promise<Page> {
    let page: Page | undefined;
    try {
      page = await this.browser.newPage();
      // A crashed page (out of memory, say) is dropped, so that the next call opens a fresh one.
      page.on('crash', () => this.pages.delete(threads));
      await page.goto(`${this.server.origin}/?threads=${threads}`);
      await page.waitForFunction(() => 'hone' in globalThis, undefined, { timeout: 30_000 });
      const { id } = await this.openSession(page, IDENTITY_MODEL, {}, { x: { type: 'float32', data: new Float32Array(1), dims: [1] } });
      await call(page, 'close', [id]);
      const info = await call(page, 'info', []);
      if (info.threads !== threads)
        throw new HoneError(
          `ORT-web started with ${info.threads} threads instead of ${threads} (cross-origin isolated: ${info.isolated})`,
          1,
        );
      return page;
    } catch (e) {
      await page?.close().catch(() => undefined);
      throw this.failure(e, 'start');
    }
  }

  /** Serves the model's bytes at a one-time URL and creates a session on them in the page. */
  private async openSession(page: Page, model: Uint8Array, settings: BrowserSettings = {}, feeds: Record<string, BrowserTensor>) {
    const url = this.server.serve(model);
    try {
      return await call(page, 'open', [url, settings.graphOptimizationLevel ?? 'all', plainFeeds(feeds)]);
    } catch (e) {
      throw this.failure(e, 'load');
    } finally {
      this.server.unserve(url);
    }
  }

  /** An error of a page call as a HoneError that names ORT-web's reason (or the abort's reason). */
  private failure(e: unknown, stage: 'start' | 'load' | 'run'): unknown {
    if (this.signal?.aborted) return this.signal.reason;
    if (e instanceof HoneError) return e;
    if (this.closing) return new HoneError('the browser runtime was closed during the call', 1, { cause: e });
    // Playwright's own errors append the browser's log after the first line; ORT-web's may span lines.
    const msg = cleanWebMessage(e instanceof PageError ? e.message : firstLine(errorMessage(e)));
    if (stage === 'start') return new HoneError(`onnxruntime-web did not start in Chromium: ${msg}`, 1, { cause: e });
    const op = MISSING_OP.map((re) => re.exec(msg)?.[1]).find((o) => o !== undefined);
    if (op) return badInput(`onnxruntime-web (WASM) has no kernel for op ${op} (${msg}); keep this op out of models for the browser`, e);
    return badInput(`onnxruntime-web (WASM) cannot ${stage} the model: ${msg}`, e);
  }
}

/** Calls the page's `hone.<method>`; a page-side error is thrown here with its message. */
async function call<M extends keyof PageApi>(page: Page, method: M, args: Parameters<PageApi[M]>): Promise<PageReplyValue<M>> {
  const reply = (await page.evaluate(
    ([m, a]) => (globalThis as unknown as { hone: Record<string, (...x: unknown[]) => unknown> }).hone[m]!(...a),
    [method, args] as [string, unknown[]],
  )) as PageReply<PageReplyValue<M>>;
  if (!reply.ok) throw new PageError(reply.message);
  return reply.value;
}

/** An error the page's code threw (ORT-web's, mostly), as opposed to one of Playwright's. */
class PageError extends Error {}

type PageReplyValue<M extends keyof PageApi> = Awaited<ReturnType<PageApi[M]>> extends PageReply<infer T> ? T : never;

/** ORT tensors (node or web) carry more than type/data/dims; the page gets only those. */
function plainFeeds(feeds: Record<string, BrowserTensor>): Record<string, BrowserTensor> {
  return Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, { type: t.type, data: t.data, dims: [...t.dims] }]));
}

/**
 * How ORT-web says a model uses an op it has no kernel for: an op of a domain it does not register at all
 * (com.microsoft.nchwc, which ORT on x86 writes into models it optimizes at level 'all'), an op of a known
 * domain without a kernel, or one unknown at the model's opset.
 */
const MISSING_OP = [
  /(\S+?)\(-?\d+\) is not a registered function\/op/,
  /Could not find an implementation for (\S+?)\(\d+\)/,
  /No Op registered for (\S+) with domain_version/,
];

/**
 * ORT-web's messages without its wrapping ("Can't create a session.", "failed to call OrtRun().", "ERROR_CODE:
 * n, ERROR_MESSAGE:", "Fatal error:"), then ORT's own clean-up (session.ts).
 */
export function cleanWebMessage(msg: string): string {
  const m = msg
    .replace(/^Error:\s*/, '')
    .replace(/Can't create a session\.\s*|failed to call OrtRun\(\)\.\s*/g, '')
    .replace(/ERROR_CODE:\s*\d+,\s*ERROR_MESSAGE:\s*/g, '')
    .replace(/^Fatal error:\s*/, '');
  return cleanOrtMessage(m);
}

function firstLine(s: string): string {
  return (
    s
      .split('\n')
      .find((l) => l.trim())
      ?.trim() ?? s
  );
}

/** y = Identity(x): the model a new page's first session runs, which starts ORT-web's WebAssembly module. */
const IDENTITY_MODEL = (() => {
  const b = new GraphBuilder('init');
  b.op('Identity', [b.input('x', DataType.FLOAT, [1])], {}, { output: 'y' });
  b.output('y', DataType.FLOAT, [1]);
  return encodeModel(b.model());
})();

interface LocalServer {
  origin: string;
  /** Serves `bytes` at a new URL until `unserve`. */
  serve(bytes: Uint8Array): string;
  unserve(url: string): void;
  close(): Promise<void>;
}

/** onnxruntime-web's files the page loads: the WASM-only build and its module. */
const ORT_FILES: Record<string, string> = {
  'ort.wasm.min.mjs': 'text/javascript',
  'ort-wasm-simd-threaded.mjs': 'text/javascript',
  'ort-wasm-simd-threaded.wasm': 'application/wasm',
};

/** The page: ORT-web at the thread count in its URL, and the API `call` drives (PageApi). */
const PAGE_HTML = '<!doctype html><meta charset="utf-8"><title>hone</title><script type="module" src="/hone.mjs"></script>';
const PAGE_SCRIPT = `
import * as ort from '/ort/ort.wasm.min.mjs';
ort.env.wasm.numThreads = Number(new URLSearchParams(location.search).get('threads'));
ort.env.wasm.wasmPaths = '/ort/';
ort.env.logLevel = 'error';
const sessions = new Map();
let last = 0;
const tensors = (feeds) => Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, new ort.Tensor(t.type, t.data, t.dims)]));
// Playwright carries typed arrays but not Float16Array: float16 goes back as its bits.
const bits = (d) => (typeof Float16Array !== 'undefined' && d instanceof Float16Array ? new Uint16Array(d.buffer, d.byteOffset, d.length) : d);
const reply = (f) => async (...args) => {
  try {
    return { ok: true, value: await f(...args) };
  } catch (e) {
    return { ok: false, message: String(e && e.message ? e.message : e) };
  }
};
const get = (id) => {
  const s = sessions.get(id);
  if (!s) throw new Error('no session ' + id);
  return s;
};
globalThis.hone = {
  info: reply(async () => ({ ortWeb: ort.env.versions.web, isolated: globalThis.crossOriginIsolated === true, cores: navigator.hardwareConcurrency, threads: ort.env.wasm.numThreads })),
  open: reply(async (url, level, feeds) => {
    const res = await fetch(url);
    if (!res.ok) throw new Error('the model could not be fetched: HTTP ' + res.status);
    const bytes = new Uint8Array(await res.arrayBuffer());
    const t0 = performance.now();
    const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'], graphOptimizationLevel: level });
    const createMs = performance.now() - t0;
    sessions.set(++last, { session, feeds: tensors(feeds) });
    return { id: last, createMs };
  }),
  time: reply(async (id, runs) => {
    const s = get(id);
    const times = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      await s.session.run(s.feeds);
      times.push(performance.now() - t0);
    }
    return times;
  }),
  outputs: reply(async (id) => {
    const s = get(id);
    const out = await s.session.run(s.feeds);
    return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, { type: t.type, data: bits(t.data), dims: [...t.dims] }]));
  }),
  close: reply(async (id) => {
    const s = sessions.get(id);
    sessions.delete(id);
    if (s) await s.session.release();
    return null;
  }),
};
`;

/**
 * The HTTP server on 127.0.0.1 (a free port) the page is loaded from. Every answer carries COOP/COEP, so
 * the page is cross-origin isolated (threads); models are served under one-time random URLs.
 */
async function startServer(): Promise<LocalServer> {
  const dist = dirname(fileURLToPath(import.meta.resolve('onnxruntime-web/wasm')));
  const files = new Map<string, Promise<Buffer>>();
  const blobs = new Map<string, Uint8Array>();
  const send = (res: ServerResponse, status: number, type: string, body: Uint8Array | string) => {
    res.writeHead(status, {
      'Content-Type': type,
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
      'Cache-Control': 'no-store',
    });
    res.end(body);
  };
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    if (path === '/') return send(res, 200, 'text/html; charset=utf-8', PAGE_HTML);
    if (path === '/hone.mjs') return send(res, 200, 'text/javascript', PAGE_SCRIPT);
    const name = path.startsWith('/ort/') ? path.slice(5) : '';
    const type = Object.hasOwn(ORT_FILES, name) ? ORT_FILES[name] : undefined;
    if (type) {
      if (!files.has(name)) files.set(name, readFile(join(dist, name)));
      return send(res, 200, type, await files.get(name)!);
    }
    const blob = blobs.get(path);
    if (blob) return send(res, 200, 'application/octet-stream', blob);
    send(res, 404, 'text/plain', 'not found');
  };
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => send(res, 500, 'text/plain', errorMessage(e)));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    serve(bytes) {
      const path = `/model/${randomUUID()}`;
      blobs.set(path, bytes);
      return `${origin}${path}`;
    },
    unserve(url) {
      blobs.delete(new URL(url).pathname);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
