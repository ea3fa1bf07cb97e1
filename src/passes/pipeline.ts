/**
 * A pipeline applies passes in order, each to the previous one's model, skipping (and saying why) those
 * whose `applies` refuses the model as it is by then. With a cache folder, each step's result is kept on
 * disk under a key of what determines it, so a search that tries the same prefix of passes again, or a
 * second run, reads the model instead of computing it:
 *
 *   sha256(format, Hone version, ORT version, CPU, sha256(encoded input model), pass id, pass version,
 *          canonical JSON of the options with defaults filled in, data key)
 *
 * Hone's version (its package.json, read once) and the pass's own `version` (default 1, bumped when its
 * results change: pass.ts) keep results of older pass code from being reused after an upgrade or an edit.
 * The options are keyed after defaults are filled in, so `{}` and the defaults written out share a result.
 * ORT's version and the CPU are in the key because results depend on them: `ort.offline-optimize` writes
 * what this ORT does on this CPU, and 7-bit weights (`reduceRange: null`) follow the CPU's int8 kernels.
 * A pass whose result depends on data (`needs` or `optionalNeeds` calibration data, with data given) is
 * cached only under a data key the caller gives, naming the data; without one it runs every time.
 * Files: `<key>.json` (the step's report, written last) and `<key>.onnx` (the model, when it changed), both
 * written atomically, so a reader sees a whole entry or none; an entry whose model does not match the
 * sha256 its report records is a miss.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { cpuIdentity } from '../runtime/cpu.js';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import * as ort from 'onnxruntime-node';
import { decodeModel, encodeMessageChunks } from '../ir/codec.js';
import type { ModelProto } from '../ir/proto.js';
import { ensureDir, writeFileAtomic } from '../util/fs.js';
import { canonicalJson, withDefaults } from './options.js';
import type { Pass, PassContext, PassOptions, PassReport } from './pass.js';
import { modelFacts, passById } from './registry.js';

export interface PipelineStep {
  /** A pass id (`PASSES`). */
  pass: string;
  options?: PassOptions;
}

export interface StepResult {
  pass: string;
  /** The options in force: the step's over the pass's defaults. */
  options: PassOptions;
  /** 'skipped': `applies` refused the model (`reason`); 'unchanged': the pass found nothing to do. */
  status: 'applied' | 'unchanged' | 'skipped';
  reason?: string;
  report?: PassReport;
  /** 'hit': read from the cache, the pass did not run; 'miss': ran and stored; 'off': ran, not cached (`uncached` says why when there was a cache). */
  cache: 'hit' | 'miss' | 'off';
  uncached?: string;
  seconds: number;
}

export interface PipelineResult {
  model: ModelProto;
  steps: StepResult[];
}

export interface PipelineOptions {
  /** Folder for cached step results (created when missing); no caching without it. */
  cacheDir?: string;
  /** Names the data in `ctx.data` (e.g. a hash of the file), so steps that read data can be cached. */
  dataKey?: string;
  /** Where pass ids are looked up (default `PASSES`). */
  passes?: readonly Pass[];
}

/** Bumped when the entry layout or the meaning of a key changes, so old entries are never read as new ones. */
const CACHE_FORMAT = 'hone-pass-cache/1';

export async function runPipeline(
  model: ModelProto,
  steps: readonly PipelineStep[],
  ctx: PassContext = {},
  opts: PipelineOptions = {},
): Promise<PipelineResult> {
  // Every id and option is checked before anything runs: a typo in the last step fails at once.
  const planned = steps.map((s) => {
    const pass = passById(s.pass, opts.passes);
    return { pass, options: withDefaults(pass, s.options ?? {}) };
  });
  if (opts.cacheDir) ensureDir(opts.cacheDir);
  const results: StepResult[] = [];
  let current = model;
  /** Encoded `current`, when known (read from the cache, or encoded to store it). */
  let bytes: Uint8Array[] | undefined;
  for (const { pass, options } of planned) {
    ctx.signal?.throwIfAborted();
    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1000;
    const reason = pass.applies(current, modelFacts(current));
    if (reason !== undefined) {
      results.push({ pass: pass.id, options, status: 'skipped', reason, cache: 'off', seconds: seconds() });
      continue;
    }
    const readsData = ctx.data !== undefined && [...pass.needs, ...(pass.optionalNeeds ?? [])].includes('calibration-data');
    const uncached = !opts.cacheDir
      ? undefined
      : readsData && opts.dataKey === undefined
        ? 'the pass reads data and no data key names it'
        : undefined;
    const cacheable = opts.cacheDir !== undefined && uncached === undefined;
    let key: string | undefined;
    if (cacheable) {
      bytes ??= encodeMessageChunks(current, 'ModelProto');
      key = cacheKey(sha256(bytes), pass, options, readsData ? opts.dataKey : undefined);
      const hit = readEntry(opts.cacheDir!, key, current);
      if (hit) {
        ctx.onProgress?.(`${pass.id}: from the cache`);
        results.push({
          pass: pass.id,
          options,
          status: hit.changed ? 'applied' : 'unchanged',
          report: hit.report,
          cache: 'hit',
          seconds: seconds(),
        });
        if (hit.changed) [current, bytes] = [hit.model, hit.bytes];
        continue;
      }
    }
    ctx.onProgress?.(`${pass.id}: running`);
    const r = await pass.run(current, options, ctx);
    if (cacheable) {
      const outBytes = r.changed ? encodeMessageChunks(r.model, 'ModelProto') : undefined;
      writeEntry(opts.cacheDir!, key!, pass.id, options, r.changed, r.report, outBytes);
      if (r.changed) bytes = outBytes;
    } else if (r.changed) bytes = undefined;
    results.push({
      pass: pass.id,
      options,
      status: r.changed ? 'applied' : 'unchanged',
      report: r.report,
      cache: cacheable ? 'miss' : 'off',
      ...(uncached ? { uncached } : {}),
      seconds: seconds(),
    });
    if (r.changed) current = r.model;
  }
  return { model: current, steps: results };
}

interface Entry {
  format: string;
  pass: string;
  options: PassOptions;
  changed: boolean;
  report: PassReport;
  /** sha256 of `<key>.onnx` when the model changed. */
  modelSha256?: string;
}

function readEntry(
  dir: string,
  key: string,
  input: ModelProto,
): { changed: boolean; report: PassReport; model: ModelProto; bytes: Uint8Array[] | undefined } | undefined {
  const jsonPath = join(dir, `${key}.json`);
  if (!existsSync(jsonPath)) return undefined;
  try {
    const entry = JSON.parse(readFileSync(jsonPath, 'utf8')) as Entry;
    if (entry.format !== CACHE_FORMAT) return undefined;
    if (!entry.changed) return { changed: false, report: entry.report, model: input, bytes: undefined };
    const data = readFileSync(join(dir, `${key}.onnx`));
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    if (sha256([bytes]) !== entry.modelSha256) return undefined;
    return { changed: true, report: entry.report, model: decodeModel(bytes), bytes: [bytes] };
  } catch {
    return undefined; // unreadable or torn by hand: computed again and rewritten
  }
}

function writeEntry(
  dir: string,
  key: string,
  pass: string,
  options: PassOptions,
  changed: boolean,
  report: PassReport,
  bytes: Uint8Array[] | undefined,
): void {
  const entry: Entry = { format: CACHE_FORMAT, pass, options, changed, report };
  if (bytes) {
    writeFileAtomic(join(dir, `${key}.onnx`), bytes);
    entry.modelSha256 = sha256(bytes);
  }
  writeFileAtomic(join(dir, `${key}.json`), `${JSON.stringify(entry)}\n`);
}

function cacheKey(modelSha: string, pass: Pass, options: PassOptions, dataKey: string | undefined): string {
  const parts = [CACHE_FORMAT, environment(), modelSha, pass.id, pass.version ?? 1, options, dataKey ?? null];
  return sha256([Buffer.from(canonicalJson(parts))]);
}

let env: string[] | undefined;

/**
 * What results depend on besides the model, the pass and the options: Hone's and ORT's versions, the CPU
 * (its name, family, model and kernel-relevant flags: runtime/cpu.ts cpuIdentity).
 * package.json is two folders up from both src/passes/ (run through tsx) and dist/passes/.
 */
function environment(): string[] {
  env ??= [
    (createRequire(import.meta.url)('../../package.json') as { version: string }).version,
    ort.env.versions.common,
    process.arch,
    cpuIdentity(),
  ];
  return env;
}

function sha256(chunks: readonly Uint8Array[]): string {
  const h = createHash('sha256');
  for (const c of chunks) h.update(c);
  return h.digest('hex');
}
