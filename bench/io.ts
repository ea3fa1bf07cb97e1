/**
 * IR read/write: how close `loadModel` and `saveModel` come to the speed of the disk (here: the page
 * cache, since the files were just written), and whether they copy tensor data (peak memory ≈ 2× the
 * model instead of 1×).
 *
 * Two zoo models: a ~100 MB transformer (one .onnx, many tensors) and a >2 GB MLP that `saveModel`
 * writes with external data. Every step runs in a fresh child process, so its peak RSS
 * (`process.resourceUsage().maxRSS`) is its own; times are medians of `--runs` (default 3).
 *
 *   npx tsx bench/io.ts                 # both models, prints a markdown table
 *   npx tsx bench/io.ts --small-only    # skip the >2 GB model
 *   npx tsx bench/io.ts --write-docs    # also put the table into docs/benchmarks.md
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, fstatSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadModel, parseModel, saveModel } from '../src/ir/model.js';
import { encodeMessageChunks } from '../src/ir/codec.js';
import { zooModel } from '../src/zoo/index.js';
import { writeFileAtomic } from '../src/util/fs.js';
import { cpuDescription } from '../src/runtime/cpu.js';

const MB = 1024 * 1024;

interface Case {
  label: string;
  spec: string;
  /** Also time decode and encode in memory (no file I/O): only for a model that is one protobuf. */
  inMemory: boolean;
}

const CASES: Case[] = [
  // 2 layers × (4·1024² + 2·1024·4096) weights ≈ 25.2 M floats ≈ 101 MB.
  { label: '~100 MB transformer', spec: 'transformer:layers=2,dModel=1024,heads=16,ffn=4096', inMemory: true },
  // 784·16384 + 2·16384² + 16384·10 ≈ 550 M floats ≈ 2.2 GB: over protobuf's limit, so external data.
  { label: '>2 GB MLP (external data)', spec: 'mlp:hidden=16384-16384-16384', inMemory: false },
];

type Step = 'build' | 'read' | 'load' | 'decode' | 'write' | 'save' | 'encode';

interface StepResult {
  ms: number;
  /** Peak RSS of the child before the timed part, and after it (MiB). */
  rssBeforeMB: number;
  peakMB: number;
  /** Only for 'load': whether all inline tensors are views into one buffer (no per-tensor copy). */
  zeroCopy?: boolean;
}

// ------------------------------------------------------------------------------------------- child

function maxRssMB(): number {
  return process.resourceUsage().maxRSS / 1024; // KiB → MiB
}

function filesOf(path: string): string[] {
  return [path, `${path}.data`].filter(existsSync);
}

/** The whole file into one buffer: readFileSync stops at 2 GiB, so read in 1 GiB slices. */
function readWhole(path: string): Buffer {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const buf = Buffer.allocUnsafe(size);
    for (let done = 0; done < size; ) done += readSync(fd, buf, done, Math.min(size - done, 1 << 30), done);
    return buf;
  } finally {
    closeSync(fd);
  }
}

function runStep(step: Step, path: string, spec: string): StepResult {
  const rssBeforeMB = maxRssMB();
  const timed = <T>(fn: () => T): [T, number] => {
    const t0 = process.hrtime.bigint();
    const r = fn();
    return [r, Number(process.hrtime.bigint() - t0) / 1e6];
  };
  switch (step) {
    case 'build': {
      const [, ms] = timed(() => saveModel(zooModel(spec), path));
      return { ms, rssBeforeMB, peakMB: maxRssMB() };
    }
    case 'read': {
      const [, ms] = timed(() => filesOf(path).map(readWhole));
      return { ms, rssBeforeMB, peakMB: maxRssMB() };
    }
    case 'load': {
      const [model, ms] = timed(() => loadModel(path));
      // Inline tensors should all view the one buffer the file was read into (external ones have their own).
      const buffers = new Set(model.graph!.initializer.map((t) => t.rawData?.buffer));
      const external = existsSync(`${path}.data`);
      return { ms, rssBeforeMB, peakMB: maxRssMB(), zeroCopy: external ? undefined : buffers.size === 1 };
    }
    case 'decode': {
      const bytes = readFileSync(path);
      const before = maxRssMB();
      const [, ms] = timed(() => parseModel(bytes));
      return { ms, rssBeforeMB: before, peakMB: maxRssMB() };
    }
    case 'write': {
      const data = filesOf(path).map(readWhole);
      const before = maxRssMB();
      const copy = `${path}.raw`;
      const [, ms] = timed(() => data.forEach((d, i) => writeFileAtomic(`${copy}${i}`, d)));
      data.forEach((_, i) => rmSync(`${copy}${i}`, { force: true }));
      return { ms, rssBeforeMB: before, peakMB: maxRssMB() };
    }
    case 'save': {
      const model = loadModel(path);
      const before = maxRssMB();
      const copy = join(dirname(path), 'copy.onnx');
      const [, ms] = timed(() => saveModel(model, copy));
      filesOf(copy).forEach((f) => rmSync(f, { force: true }));
      return { ms, rssBeforeMB: before, peakMB: maxRssMB() };
    }
    case 'encode': {
      const model = loadModel(path);
      const before = maxRssMB();
      const [, ms] = timed(() => encodeMessageChunks(model, 'ModelProto'));
      return { ms, rssBeforeMB: before, peakMB: maxRssMB() };
    }
  }
}

// ------------------------------------------------------------------------------------------ parent

function child(step: Step, path: string, spec: string): StepResult {
  const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', step, path, spec], {
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  if (r.status !== 0 || !line.startsWith('{')) throw new Error(`step ${step} failed (${r.status}): ${r.stderr.slice(-2000)}`);
  return JSON.parse(line) as StepResult;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface Row {
  step: string;
  ms: number;
  range: [number, number];
  gbps: number;
  ratio: number;
  extraMB: number;
  extraRatio: number;
  note: string;
}

function measure(c: Case, dir: string, runs: number): { rows: Row[]; sizeMB: number; files: string } {
  const path = join(dir, 'model.onnx');
  const build = child('build', path, c.spec);
  const files = filesOf(path);
  const bytes = files.reduce((s, f) => s + statSync(f).size, 0);
  const sizeMB = bytes / MB;
  process.stderr.write(`${c.label}: built and saved ${sizeMB.toFixed(0)} MiB in ${(build.ms / 1000).toFixed(1)} s\n`);

  const steps: [Step, string][] = [
    ['read', 'the same files read whole with fs.readSync (page cache)'],
    ['load', 'loadModel: read + decode (+ external data)'],
    ...(c.inMemory ? [['decode', 'decode only, bytes already in memory'] as [Step, string]] : []),
    ['write', 'writeFileAtomic of the same bytes (write + fsync)'],
    ['save', 'saveModel: encode + write + fsync'],
    ...(c.inMemory ? [['encode', 'encode only, to chunks in memory'] as [Step, string]] : []),
  ];
  const results = new Map<Step, StepResult[]>();
  for (let r = 0; r < runs; r++) {
    // Steps interleave run by run, in a rotated order, so that a slow moment on the shared machine or
    // the disk's writeback of the previous step does not always land on the same step.
    for (const [step] of [...steps.slice(r % steps.length), ...steps.slice(0, r % steps.length)]) {
      const res = child(step, path, c.spec);
      results.set(step, [...(results.get(step) ?? []), res]);
    }
  }
  const readMs = median(results.get('read')!.map((r) => r.ms));
  const writeMs = median(results.get('write')!.map((r) => r.ms));
  const rows = steps.map(([step, note]) => {
    const rs = results.get(step)!;
    const ms = median(rs.map((r) => r.ms));
    const extraMB = median(rs.map((r) => r.peakMB - r.rssBeforeMB));
    const base = step === 'write' || step === 'save' || step === 'encode' ? writeMs : readMs;
    const zero = rs[0]!.zeroCopy;
    return {
      step,
      ms,
      range: [Math.min(...rs.map((r) => r.ms)), Math.max(...rs.map((r) => r.ms))] as [number, number],
      gbps: bytes / 1e9 / (ms / 1000),
      ratio: ms / base,
      extraMB,
      extraRatio: extraMB / sizeMB,
      note: zero === undefined ? note : `${note}${zero ? '; tensors are views into one buffer' : ''}`,
    };
  });
  return { rows, sizeMB, files: files.map((f) => f.slice(dir.length + 1)).join(' + ') };
}

const time = (ms: number) => (ms < 1000 ? `${ms.toFixed(0)} ms` : `${(ms / 1000).toFixed(2)} s`);

function machine(): string {
  return `${cpuDescription()}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Node ${process.version}`;
}

function main(): void {
  const args = process.argv.slice(2);
  if (args[0] === '--child') {
    const [, step, path, spec] = args as [string, Step, string, string];
    process.stdout.write(`${JSON.stringify(runStep(step, path, spec))}\n`);
    return;
  }
  const runsIdx = args.indexOf('--runs');
  const runs = runsIdx >= 0 ? Number(args[runsIdx + 1]) : 3;
  const cases = args.includes('--small-only') ? CASES.slice(0, 1) : CASES;
  const out: string[] = [
    '## IR read/write',
    '',
    `Machine: ${machine()}. Run: \`npx tsx bench/io.ts\` (${new Date().toISOString().slice(0, 10)}).`,
    `Each step runs in a fresh child process; times are medians of ${runs} runs. The files were just written, so`,
    '"disk" here is the page cache: reading is compared with `fs.readSync` of the same files into one buffer each, writing',
    'with `writeFileAtomic` (write + fsync + rename) of the same bytes. "Peak +" is how much the step',
    "raised the child's peak RSS (`process.resourceUsage().maxRSS`) over what it held before the timed part:",
    'about 1× the file for a read that keeps the data, about 2× if tensor data were copied. × baseline:',
    'read, load and decode against read; write, save and encode against write. Both writes end in fsync on a',
    'virtual disk shared with other jobs, so their times vary widely run to run (see the range column).',
    '',
  ];
  for (const c of cases) {
    const dir = mkdtempSync(join(tmpdir(), 'hone-io-'));
    try {
      const { rows, sizeMB, files } = measure(c, dir, runs);
      out.push(
        `### ${c.label}: \`zoo:${c.spec}\`, ${sizeMB.toFixed(0)} MiB (${files})`,
        '',
        '| step | median | range | GB/s | × baseline | peak + (MiB) | peak + / size | what |',
        '|---|---:|---:|---:|---:|---:|---:|---|',
      );
      for (const r of rows) {
        out.push(
          `| ${r.step} | ${time(r.ms)} | ${time(r.range[0])}–${time(r.range[1])} | ${r.gbps.toFixed(2)} | ${r.ratio.toFixed(2)} | ${r.extraMB.toFixed(0)} | ${r.extraRatio.toFixed(2)} | ${r.note} |`,
        );
      }
      const row = (step: string) => rows.find((r) => r.step === step)!;
      // Ranges that overlap mean the medians' ratio is within run-to-run noise; say so rather than rank.
      const spread = (a: Row, b: Row) => (a.range[0] <= b.range[1] && b.range[0] <= a.range[1] ? ', within the run-to-run spread' : '');
      const load = row('load'),
        save = row('save');
      out.push(
        '',
        `loadModel took ${load.ratio.toFixed(2)}× the raw read${spread(load, row('read'))}; it raised peak memory by ` +
          `${load.extraRatio.toFixed(2)}× the file (${load.extraRatio < 1.2 ? 'no tensor data copied' : 'tensor data copied'}); ` +
          `saveModel took ${save.ratio.toFixed(2)}× the raw write${spread(save, row('write'))}, with ${save.extraMB.toFixed(0)} MiB extra peak memory.`,
        '',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const section = out.join('\n');
  process.stdout.write(`${section}\n`);
  if (args.includes('--write-docs')) writeDocs(section);
}

/** Replaces (or appends) the "## IR read/write" section of docs/benchmarks.md, leaving the rest alone. */
function writeDocs(section: string): void {
  const file = join(dirname(fileURLToPath(import.meta.url)), '..', 'docs', 'benchmarks.md');
  const old = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n';
  const start = old.indexOf('## IR read/write');
  let text: string;
  if (start < 0) {
    text = `${old.trimEnd()}\n\n${section}\n`;
  } else {
    const next = old.indexOf('\n## ', start + 1);
    text = `${old.slice(0, start)}${section}\n${next < 0 ? '' : old.slice(next)}`;
  }
  writeFileSync(file, text);
}

main();
