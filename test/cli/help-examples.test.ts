// Every example in every command's --help and in README.md's usage blocks runs and exits 0. The examples
// run as shown, in one temporary folder, with the files they name created first (zoo exports and small
// models with the documented inputs); settings that only make them long are shortened by appending the
// commands' own documented flags (a later flag wins), e.g. `--runs 2`. An example that needs a GPU is
// listed with the reason and still run to the point where its flags are parsed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import { commands } from '../../src/cli/registry.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { saveModel } from '../../src/ir/model.js';
import type { ModelProto } from '../../src/ir/proto.js';
import { writeNpy, writeNpz } from '../helpers/npz.js';

const ROOT = join(import.meta.dirname, '..', '..');
// `hone demo` trains on 256 digits here (its documented HONE_DEMO_SAMPLES), not on all of MNIST.
process.env.HONE_DEMO_SAMPLES = '256';

/**
 * Documented flags appended to keep each command short (the last of a repeated flag wins); the example
 * itself runs as written. Quantize times one batch size unless the example names one: each timed batch
 * size costs six worker starts.
 */
function shorten(argv: readonly string[]): string[] {
  switch (argv[1]) {
    case 'profile':
      return ['--runs', '2', '--warmup', '1', '--quiet'];
    case 'quantize':
      return [
        '--runs',
        '2',
        '--warmup',
        '1',
        '--samples',
        '16',
        '--quiet',
        ...(argv.some((a) => a.startsWith('--batch-size')) ? [] : ['--batch-size', '1']),
        ...(argv.includes('--adaround') ? ['--adaround-iters', '50'] : []),
      ];
    case 'optimize':
      // The search runs until its budget: a few seconds here (the examples' budgets are for real models).
      return ['--runs', '3', '--warmup', '1', '--budget', '5s', '--quiet'];
    case 'demo':
      return ['--budget', '0', '--quiet'];
    case 'train':
      return ['--limit', '512', '--epochs', '1', '--quiet'];
    case 'distill':
      return ['--limit', '512', '--epochs', '1', '--quiet'];
    case 'prune':
      return [
        ...(argv.includes('--finetune') ? ['--limit', '512', '--epochs', '1'] : []),
        ...(argv.includes('--structured') ? ['--runs', '2', '--warmup', '1'] : []),
        '--quiet',
      ];
    case 'lr-find':
      return ['--steps', '20', '--limit', '2048', '--quiet'];
    case 'nas':
      // Each trial trains an architecture: two of them, one epoch on 400 digits, here.
      return ['--trials', '2', '--epochs', '1', '--limit', '400', '--quiet'];
    case 'dashboard':
      // A server runs until Ctrl-C: here on any free port, for half a second.
      return ['--port', '0', '--stop-after', '0.5s'];
    case 'tune':
      // A train objective trains LeNet-5 in every trial: on 512 digits for one epoch here.
      return ['--trials', '6', ...(argv.some((a) => a.startsWith('train:')) ? ['--limit', '512', '--epochs', '1'] : [])];
    default:
      return [];
  }
}

/** Examples that cannot run here, with the reason, and what they must print instead (their flags were parsed). */
const CANNOT_RUN: { example: RegExp; reason: string; expect: RegExp }[] = [
  { example: /--provider cuda/, reason: 'needs an NVIDIA GPU with CUDA', expect: /^hone: .*cuda/i },
  { example: /postgresql:\/\/tuner@db:5432/, reason: "needs the example's PostgreSQL server (host db)", expect: /^hone: .*db/ },
  {
    example: /nats:\/\/10\.0\.0\.5:4222/,
    reason: "needs the example's NATS server (10.0.0.5) and a second machine",
    expect: /^hone: cannot reach the NATS server at nats:\/\/10\.0\.0\.5:4222/,
  },
];

/** The example lines of a help text: the indented `hone …` lines under "Examples:". */
function helpExamples(help: string): string[] {
  const at = help.search(/^Examples?:$/m);
  assert.ok(at >= 0, 'every --help has an Examples section');
  return help
    .slice(at)
    .split('\n')
    .filter((l) => /^\s+hone /.test(l))
    .map((l) => l.trim().replace(/\s+#.*$/, ''));
}

/** The `npx hone …` lines of README.md's sh blocks, comments dropped. */
function readmeExamples(): string[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/^```sh\n([\s\S]*?)^```/gm)].map((m) => m[1]!);
  return blocks
    .flatMap((b) => b.split('\n'))
    .filter((l) => l.startsWith('npx hone '))
    .map((l) => l.replace(/\s+#.*$/, '').replace(/^npx /, ''));
}

/** Shell words of a simple command line (single quotes only; the examples need no more). */
function words(line: string): string[] {
  return [...line.matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2]!);
}

/** Silero-VAD-like signature: float audio [batch, samples] (unnamed dims with `unnamed`), optional state, int64 scalar sr. */
function vadModel(opts: { audio: string; unnamed?: boolean; state?: boolean }): ModelProto {
  const b = new GraphBuilder('vad');
  const dims = opts.unnamed ? [{}, {}] : [{ dimParam: 'batch' }, { dimParam: 'samples' }];
  b.graph.input.push({ name: opts.audio, type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: dims } } }, metadataProps: [] });
  const frames = b.op('Reshape', [opts.audio, b.int64Init('frame', [-1, 64])]);
  const w = b.floatInit(
    'w',
    [64, 8],
    Float32Array.from({ length: 512 }, (_, i) => ((i % 13) - 6) / 20),
  );
  let score = b.op('ReduceMean', [b.op('MatMul', [frames, w])], { keepdims: 0 });
  if (opts.state) {
    b.graph.input.push({
      name: 'state',
      type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: [{ dimValue: 2 }, {}, { dimValue: 128 }] } } },
      metadataProps: [],
    });
    score = b.op('Add', [score, b.op('ReduceMean', ['state'], { keepdims: 0 })]);
  }
  b.input('sr', DataType.INT64, []);
  const rate = b.op('Div', [b.op('Cast', ['sr'], { to: DataType.FLOAT }), b.floatInit('k16000', [], [16000])]);
  b.op('Mul', [score, rate], {}, { output: 'prob' });
  b.output('prob', DataType.FLOAT, []);
  return b.model({ opset: 17 });
}

/** A small conv net on images of any size: `input` [batch?, 3, height, width]. */
function convModel(input: string, batch: number | string, opset: number): ModelProto {
  const b = new GraphBuilder('conv');
  b.input(input, DataType.FLOAT, [batch, 3, 'height', 'width']);
  const w = b.floatInit(
    'w',
    [8, 3, 3, 3],
    Float32Array.from({ length: 216 }, (_, i) => ((i % 11) - 5) / 10),
  );
  b.op('Relu', [b.op('Conv', [input, w], { strides: [2, 2], pads: [1, 1, 1, 1] })], {}, { output: 'features' });
  b.output('features', DataType.FLOAT, [batch, 8, 'out_h', 'out_w']);
  return b.model({ opset });
}

let dir = '';
const cwd = process.cwd();
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hone-examples-'));
  process.chdir(dir);
  cpSync(join(ROOT, 'examples'), 'examples', { recursive: true });
  // The README exports model.onnx with the same options.
  const small = 'transformer:layers=2,dModel=128,heads=2,ffn=512';
  for (const [spec, file] of [
    [small, 'model.onnx'],
    [small, 'llm.onnx'],
    ['lenet5', 'lenet5.onnx'],
  ]) {
    assert.equal(await main(['zoo', 'export', spec!, '-o', file!], { stdout: () => {}, stderr: () => {}, isTTY: false }), 0);
  }
  writeNpz('calib.npz', { input: { data: Float32Array.from({ length: 8 * 16 * 128 }, (_, i) => Math.sin(i)), dims: [8, 16, 128] } });
  saveModel(vadModel({ audio: 'audio' }), 'vad.onnx');
  saveModel(vadModel({ audio: 'input', unnamed: true, state: true }), 'silero_vad.onnx');
  saveModel(convModel('images', 1, 17), 'yolo.onnx');
  saveModel(convModel('x', 'batch', 11), 'detector.onnx');
  mkdirSync('pages');
  writeNpy('pages/x.npy', { data: Float32Array.from({ length: 2 * 3 * 640 * 640 }, (_, i) => (i % 255) / 255), dims: [2, 3, 640, 640] });
  // `tune --resume --study lr-search --storage sqlite:lr.db` continues a study that an earlier run made.
  assert.equal(
    await main(['tune', 'examples/tune.yaml', '--storage', 'sqlite:lr.db', '--trials', '3'], {
      stdout: () => {},
      stderr: () => {},
      isTTY: false,
    }),
    0,
  );
});
after(() => {
  process.chdir(cwd);
  rmSync(dir, { recursive: true, force: true });
});

// In order (README's study example reads what its tune example wrote); a line in both places runs once.
const examples = [
  ...commands.flatMap((c) => helpExamples(c.help).map((line) => ({ where: `hone ${c.name} --help`, line }))),
  ...readmeExamples().map((line) => ({ where: 'README.md', line })),
].filter((e, i, all) => all.findIndex((o) => o.line === e.line) === i);

test('every command documents examples, and README.md has a usage block', () => {
  for (const c of commands) assert.ok(helpExamples(c.help).length > 0, c.name);
  assert.ok(readmeExamples().length >= 10);
});

for (const { where, line } of examples) {
  test(`${where}: ${line}`, async () => {
    const argv = words(line);
    assert.equal(argv[0], 'hone');
    let stdout = '';
    let stderr = '';
    const io = {
      stdout: (t: string) => {
        stdout += t;
      },
      stderr: (t: string) => {
        stderr += t;
      },
      isTTY: false,
    };
    const code = await main([...argv.slice(1), ...shorten(argv)], io);
    const cannot = CANNOT_RUN.find((c) => c.example.test(line));
    if (cannot) {
      assert.equal(code, 2, `${cannot.reason}: ${stderr}`);
      assert.match(stderr, cannot.expect, `${cannot.reason}: the flags must parse, and the reason must be named`);
      return;
    }
    assert.equal(code, 0, `exit ${code}: ${stderr}`);
    if (argv.includes('--json')) JSON.parse(stdout);
  });
}
